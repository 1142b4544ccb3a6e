#pragma once

// EmulatorServer: the Gateway v2 jobs API on loopback (Poco HTTPServer),
// backed by any JobGateway (LocalGateway or SimulatedGateway). Embeddable:
// tests and benchmarks start one in-process on port 0. See docs/emulator.md.
//
// Served: POST /public/v2/service_auth, GET /public/v2/ping (and /ping),
// POST/GET /public/v2/jobs, GET/DELETE /public/v2/jobs/{name},
// POST /public/v2/jobs/restart, GET /public/v2/jobs/{name}/logs; control:
// GET/POST/DELETE /_emulator/faults, GET /_emulator/stats.

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/core/clock.h"
#include "controller/core/status.h"
#include "controller/gateway/job_gateway.h"
#include "controller/gateway/local/faults.h"

namespace mlspace::gateway::emulator {

struct EmulatorOptions {
  std::string listen = "127.0.0.1:0";
  // service_auth accepts exactly this pair; empty id: service_auth always
  // answers 401.
  std::string client_id;
  std::string client_secret;
  // Accepted as `x-api-key` instead of a bearer token; empty: not accepted.
  std::string api_key;
  // When set, x-workspace-id must equal it; otherwise any non-empty value.
  std::string workspace_id;
  Duration token_ttl = std::chrono::hours(1);
  // Requests per minute over all /public/v2 calls; 0 disables.
  int rate_limit_per_minute = 1000;
  FaultConfig faults;
  // JSON lines of every request and answer; empty: off.
  std::string record_path;
  int max_threads = 32;
};

class EmulatorServer {
 public:
  // `backend` must outlive the server.
  EmulatorServer(EmulatorOptions opts, JobGateway& backend,
                 const Clock& clock = SystemClock::Get());
  ~EmulatorServer();  // Stop()s

  EmulatorServer(const EmulatorServer&) = delete;
  EmulatorServer& operator=(const EmulatorServer&) = delete;

  // Binds and starts serving. Fails on a bad listen address, a port in use
  // or an unwritable record file, with a one-line error.
  Status Start();
  // The bound port (after Start).
  uint16_t port() const;
  // Closes the listener and open connections, waits for handlers. Idempotent.
  void Stop();

  // Replaces the fault set (as POST /_emulator/faults does). Thread-safe.
  void SetFaults(const FaultConfig& faults);
  // What GET /_emulator/stats answers. Thread-safe.
  nlohmann::json Stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlspace::gateway::emulator
