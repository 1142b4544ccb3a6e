#pragma once

// Helpers shared by the launchspec sources; not part of the public API.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "controller/core/result.h"

#include "controller/core/status.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::launchspec {

// A Status of the given kind: "<prefix>: <detail>".
Status KindError(ErrorKind kind, std::string_view detail);

// "'x'" or "0x1f" for one byte.
std::string DescribeByte(char c);

struct Base64Problem {
  std::size_t offset;  // of the offending character in the text
  std::string reason;
};
std::optional<Base64Problem> FindBase64Problem(std::string_view text);

// The same check over the parts of a text, without joining them. `part` is
// the index of the part holding the offending character and `offset` its
// position in that part; for a length problem part == parts.size().
struct PartsBase64Problem {
  std::size_t part;
  std::size_t offset;
  std::string reason;
};
std::optional<PartsBase64Problem> FindBase64ProblemInParts(std::span<const std::string_view> parts);

// Decodes the concatenation of parts that FindBase64ProblemInParts accepted,
// straight into one buffer (with room for 16 more bytes, as below).
Result<std::string> DecodeCheckedBase64Parts(std::span<const std::string_view> parts);

// Lowercase hex SHA-256 of the concatenation of the parts.
std::string Sha256HexOfParts(std::span<const std::string_view> parts);

// Decodes text that FindBase64Problem accepted. The result has room for 16
// more bytes (FastFromJson's SIMD reads may pass the end of the string).
Result<std::string> DecodeCheckedBase64(std::string_view text);

// The fast JSON reader (RapidJSON, in launch_spec.cc), parsing `json` in place: the buffer is
// modified whatever the outcome. nullopt: the document must be read by
// ReferenceFromJson from an unmodified copy; the answer is otherwise the same
// as ReferenceFromJson's, error messages included.
// Version 2 documents with "env_from" or "files" go to nlohmann too.
std::optional<Result<LaunchSpec>> FastFromJson(std::string& json, int version = kSpecVersion);

// nlohmann's reading of the document, which defines FromJson's behaviour.
Result<LaunchSpec> ReferenceFromJson(std::string_view json, int version = kSpecVersion);

// ToJson through nlohmann's document model, which defines ToJson's output
// (ToJson itself copies plain strings without per-character escaping).
std::string ReferenceToJson(const LaunchSpec& spec);

}  // namespace mlspace::launchspec
