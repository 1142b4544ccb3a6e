#pragma once

// OpenAPI v3 documents generated from the embedded CRD, as kubectl 1.32
// reads them: the /openapi/v3 root (paths keyed without a leading slash)
// and the mlspace.io/v1alpha1 group-version document, whose schema carries
// the GVK extension as a list (for `kubectl explain`) and whose patch
// operation carries it as a single object with a `fieldValidation` query
// parameter (so kubectl leaves validation to the server).

#include <string>

#include "controller/core/result.h"

namespace mlspace::apiserver {

// GET /openapi/v3. Built once (thread-safe).
const std::string& OpenApiRoot();

// GET /openapi/v3/apis/mlspace.io/v1alpha1. Built once; an error only if
// the embedded CRD is broken (the unit tests rule that out).
Result<const std::string*> OpenApiGroupVersion();

}  // namespace mlspace::apiserver
