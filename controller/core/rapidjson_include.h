#pragma once

// Includes RapidJSON (rapidjson-dev, header-only) the way the project uses
// it. Only for targets that add its include directory (find_path
// MLSPACE_RAPIDJSON_INCLUDE_DIR): the launch spec decoder and the gateway
// list reader.

// SSE2 is part of x86-64; RapidJSON uses it to skip whitespace and unescaped
// string runs 16 bytes at a time.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
// RapidJSON 1.1.0's internal Stack offsets its initial null pointer (fixed
// upstream after 1.1.0): harmless, but clang's UBSan (fuzz builds) reports it.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("pointer-overflow"))), apply_to = function)
#endif
#include <rapidjson/document.h>
#include <rapidjson/reader.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif
