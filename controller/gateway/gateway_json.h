#pragma once

// JSON codec for the Gateway v2 bodies the seam types travel in, shared by
// the HTTP client (controller/gateway/http) and the emulator
// (controller/gateway/local). nlohmann only: no Poco here. Every parser
// catches nlohmann's exceptions and reports a Status naming the field.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/core/result.h"
#include "controller/gateway/job_gateway.h"

namespace mlspace::gateway {

// --- Request bodies ---------------------------------------------------------

// RunJobRequest with only the fields that are set (unset optionals, empty
// maps and an empty sub_actions list are left out; the label never).
nlohmann::json SubmitRequestToJson(const SubmitRequest& req);
// The inverse, for the emulator. Unknown keys are ignored here: the schema
// validator rejects them first. `processes_per_worker: "default"` = unset.
Result<SubmitRequest> SubmitRequestFromJson(const nlohmann::json& body);

// RestartJobRequest {job_name}.
nlohmann::json RestartRequestToJson(const std::string& job_name);
// ServiceAccount {client_id, client_secret}.
nlohmann::json ServiceAccountToJson(const std::string& client_id, const std::string& client_secret);

// --- Response bodies (parsers: client; encoders: emulator) ----------------

// RunJobResponse / RestartJobResponse: the (new) job's name.
Result<std::string> ParseJobNameResponse(std::string_view body);
nlohmann::json JobNameResponseToJson(const std::string& job_name, TimePoint created);

struct ServiceToken {
  std::string access_token;
  Duration expires_in{0};
};
// ServiceAuthResponse {token: {access_token, token_type, expires_in}}.
Result<ServiceToken> ParseServiceAuthResponse(std::string_view body);
nlohmann::json ServiceAuthResponseToJson(const ServiceToken& token);

struct ListPage {
  int64_t count = 0;  // all matching jobs, not just this page
  std::vector<RemoteJob> jobs;
};
// ListJobsResponse {count, jobs: [ListJobsItem]}.
Result<ListPage> ParseListJobsResponse(std::string_view body);
// The one list writer (the emulator's answers, tests' fixtures):
// ListJobsResponse text for jobs[from, to) with `count` as the total. Each
// ListJobsItem's uid is JobUid(job_name), as in GetJobStatusResponseToJson;
// the fields RemoteJob lacks get neutral values, gpu_count comes from the
// instance type ("a100.8gpu" -> 8) and duration runs to `now` while the job
// runs. Written by appending, not as a json tree: a 6,000-job answer is the
// emulator's largest and most frequent body.
std::string ListJobsResponseText(int64_t count, const std::vector<RemoteJob>& jobs, size_t from,
                                 size_t to, TimePoint now);
// The same answer as a json tree (for tests).
nlohmann::json ListJobsResponseToJson(int64_t count, const std::vector<RemoteJob>& jobs,
                                      TimePoint now = TimePoint{});

// The job's uid in every answer that carries one: a stable uuid-shaped id
// derived from the name (the emulator has no other uid).
std::string JobUid(const std::string& job_name);

// GetJobStatusResponse, or nullopt for GetJobStatusNotFoundResponse
// (HTTP 200 with status "job not found").
Result<std::optional<RemoteJob>> ParseGetJobStatusResponse(std::string_view body);
nlohmann::json GetJobStatusResponseToJson(const RemoteJob& job);
nlohmann::json GetJobStatusNotFoundToJson(const std::string& job_name);

// DeleteJobResponse: status "deleted" or "job not found".
Result<CancelResult> ParseDeleteJobResponse(std::string_view body);
nlohmann::json DeleteJobResponseToJson(const std::string& job_name, CancelResult result,
                                       TimePoint when);

// --- Error bodies -----------------------------------------------------------

// One FastAPI validation error: loc like ["body","n_workers"].
struct FieldError {
  std::vector<std::string> loc;
  std::string msg;
  std::string type;
  // "body.n_workers: ensure this value is greater than 0"
  std::string ToString() const;
};

struct ErrorBody {
  std::optional<int> error_code;   // {error_code, error_message}
  std::string message;             // one line; empty when the body said nothing
  std::vector<FieldError> fields;  // 422 {detail: [...]}
};

// Reads any error answer: {error_code, error_message}, FastAPI's
// {detail: [{loc,msg,type}]} (or {detail: "text"}), or plain text (first
// line, trimmed, at most 200 characters). Never fails.
ErrorBody ParseErrorBody(std::string_view body);

// "<op>: <status> from gateway: <detail>", e.g. "submit nlp/llama-sft: 422
// from gateway: body.n_workers: ensure this value is greater than 0". The
// result passes through Redact().
std::string FormatGatewayError(std::string_view op, int http_status, const ErrorBody& body);

nlohmann::json ErrorBodyToJson(int error_code, const std::string& message);
nlohmann::json ValidationErrorToJson(const std::vector<FieldError>& errors);

}  // namespace mlspace::gateway
