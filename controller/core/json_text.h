#pragma once

// Byte-level facts about a JSON text that decide how the project's two
// RapidJSON 1.1 readers (the launch spec decoder and the gateway list reader)
// may read it so that they agree with nlohmann, the reference reader.

#include <string_view>

namespace mlspace {

struct JsonTextBytes {
  // Some byte is >= 0x80: the text needs UTF-8 validation, which turns
  // RapidJSON's SIMD string scan off.
  bool non_ascii = false;
  // Some byte is in 0x1a..0x1f: Debian's RapidJSON 1.1.0 SSE2 string scan
  // compares against 0x19 instead of 0x1f and lets these raw control
  // characters into strings, which JSON (and nlohmann) reject. Exact when
  // non_ascii is false; otherwise the validating (non-SIMD) path, which
  // checks them, is taken anyway.
  bool missed_control = false;
};

// One pass, 8 bytes at a time.
JsonTextBytes ClassifyJsonBytes(std::string_view text);

// Whether the text may hold an escape \uDC00..\uDFFF (a low surrogate):
// RapidJSON 1.1 turns a lone one into bytes nlohmann rejects. Paired or not;
// an escaped backslash before a 'u' may match too (that only costs speed).
bool MayHaveLowSurrogateEscape(std::string_view text);

}  // namespace mlspace
