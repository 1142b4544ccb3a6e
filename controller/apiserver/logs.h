#pragma once

// The `log` subresource of an MLSpaceJob:
//   GET /apis/mlspace.io/v1alpha1/namespaces/{ns}/mlspacejobs/{name}/log
//       ?follow=true&tailLines=N&attempt=K&previous=true
// proxied to JobGateway::Logs (Gateway v2 GET /jobs/{name}/logs,
// LocalGateway's output file, the emulator). The gateway has no follow, so a
// follow polls the whole output and sends what is new, until the job ends
// (as the store shows it) or the client goes away.

#include <functional>
#include <string>

#include "controller/core/clock.h"
#include "controller/core/object_key.h"
#include "controller/gateway/job_gateway.h"
#include "controller/store/state_store.h"

namespace mlspace::apiserver {

struct ApiRequest;   // handler.h
struct ApiResponse;  // handler.h

// JobGateway::Logs: (remote job, region, tail lines; 0 = all).
using JobLogsFn = std::function<gateway::Outcome<std::string>(const std::string& job,
                                                              const std::string& region, int tail)>;

struct LogOptions {
  // How often a follow re-reads the output.
  Duration follow_poll = std::chrono::seconds(1);
  // A follow never lasts longer than this (kubectl reconnects; nothing
  // holds an HTTP thread forever).
  Duration follow_max = std::chrono::hours(24);
  // Follows open at once in this process; more answer 429 (each holds one
  // of the server's HTTP threads for as long as it lasts).
  int max_follows = 4;
  // Sleeps between polls; tests pass a short one.
  std::function<void(Duration)> sleep = nullptr;
};

// Answers one log request for `key`. Errors are metav1.Status: 404 for an
// unknown object or attempt, 400 for a bad query or a job with no remote
// job yet, 404 when the gateway no longer has the job's output, 503 when
// the gateway cannot be reached, 429 when max_follows follows are open. Thread-safe if `logs` and `store` are.
ApiResponse ServeJobLog(const ApiRequest& req, const ObjectKey& key, store::StateStore& store,
                        const JobLogsFn& logs, const LogOptions& options);

// The last `lines` lines of `text` (all when lines <= 0); a final line
// without '\n' counts as a line.
std::string LastLines(const std::string& text, int lines);

}  // namespace mlspace::apiserver
