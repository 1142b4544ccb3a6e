// Fuzzes the client's list-answer reader (http::ParseListAnswer, RapidJSON
// SAX) against the reference (ParseListJobsResponse, nlohmann DOM): on every
// input both must succeed with the same page or fail with the same one-line
// message. The input is tried as it is and, so mutations of a job reach the
// item logic, as the only element of a valid answer's jobs array.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "controller/gateway/gateway_json.h"
#include "controller/gateway/http/list_parser.h"

namespace gw = mlspace::gateway;

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool SameJob(const gw::RemoteJob& a, const gw::RemoteJob& b) {
  return a.name == b.name && a.status == b.status && a.region == b.region &&
         a.job_desc == b.job_desc && a.instance_type == b.instance_type && a.created == b.created &&
         a.started == b.started && a.completed == b.completed;
}

void CheckSame(std::string_view body) {
  const auto fast = gw::http::ParseListAnswer(body);
  const auto ref = gw::ParseListJobsResponse(body);
  Check(fast.ok() == ref.ok());
  if (!fast.ok()) {
    Check(fast.status().message() == ref.status().message());
    Check(fast.status().message().find('\n') == std::string::npos);
    return;
  }
  Check(fast->count == ref->count);
  Check(fast->jobs.size() == ref->jobs.size());
  for (std::size_t i = 0; i < fast->jobs.size(); ++i) Check(SameJob(fast->jobs[i], ref->jobs[i]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckSame(input);
  CheckSame(R"({"count":1,"jobs":[)" + std::string(input) + "]}");
  return 0;
}
