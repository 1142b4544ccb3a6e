#pragma once

// The CRD (crd/mlspace.io_mlspacejobs.yaml) as compiled into the binary, and
// the validator over its openAPIV3Schema.

#include <string>

#include <nlohmann/json.hpp>

#include "controller/core/result.h"
#include "controller/schema/validator.h"

namespace mlspace::api {

// JSON pointer of the served version's schema inside the CRD document.
inline constexpr char kCrdSchemaPointer[] = "/spec/versions/0/schema/openAPIV3Schema";
inline constexpr char kCrdSpecSchemaPointer[] =
    "/spec/versions/0/schema/openAPIV3Schema/properties/spec";

// The CRD file's bytes, embedded at build time.
const std::string& CrdYaml();

// The CRD as JSON and a validator over it, built once on first use
// (thread-safe). An error only if the embedded file is broken, which the
// unit tests rule out.
Result<const schema::Validator*> CrdValidator();

}  // namespace mlspace::api
