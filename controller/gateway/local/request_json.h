#pragma once

// SubmitRequest <-> RunJobRequest JSON, used by LocalGateway to persist the
// request of a job and by the emulator to read a validated request body.

#include <nlohmann/json.hpp>

#include "controller/core/result.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::gateway::local {

// Only set fields are written.
nlohmann::json SubmitRequestToJson(const SubmitRequest& req);

// Reads the fields SubmitRequest knows; other RunJobRequest keys are ignored
// (the body was validated against the schema before). Fails with the field
// name when a known field has the wrong type.
Result<SubmitRequest> SubmitRequestFromJson(const nlohmann::json& body);

}  // namespace mlspace::gateway::local
