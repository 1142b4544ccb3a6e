#pragma once

// Fault injection for the gateway emulator. One FaultConfig is set from
// `--fault-*` flags at start and replaced through POST /_emulator/faults.
//
// A rule says when a fault fires: "0.25" (probability), "every:3" (every
// third matching request), "1" (always), "0" (never), optionally followed by
// "@op+op" to limit it to operations: auth ping submit list get delete
// restart logs (default: every operation except auth and ping).

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controller/core/clock.h"
#include "controller/core/result.h"

namespace mlspace::gateway::emulator {

struct FaultRule {
  double probability = 0;
  int every = 0;
  std::set<std::string> ops;  // empty: every jobs operation

  bool enabled() const { return probability > 0 || every > 0; }
  bool Matches(std::string_view op) const;
  std::string ToString() const;
};

Result<FaultRule> ParseFaultRule(std::string_view text);

struct FaultConfig {
  FaultRule status_429;
  FaultRule status_500;
  FaultRule status_502;
  FaultRule status_503;
  // The job is created, then the answer is this code instead of 200.
  FaultRule after_create;
  int after_create_code = 500;
  // Added before the request is handled.
  Duration latency{0};
  FaultRule latency_rule;  // default "1" once latency is set
  // The connection is closed without an answer.
  FaultRule drop;
  FaultRule drop_after_create;  // submit/restart: created, then dropped
  // New jobs are left out of this many list answers.
  int hide_polls = 0;
  // Retry-After (seconds) sent with injected 429 and 503.
  int retry_after_seconds = 1;
};

// Applies one setting. `key` is a flag name without "--fault-" ("429",
// "after-create", "latency", "hide-polls", ...). Errors name the key.
Status ApplyFaultSetting(FaultConfig& config, std::string_view key, std::string_view value);

// The body of POST /_emulator/faults: an object of settings (strings or
// numbers). Starts from an empty config: the body replaces all faults.
Result<FaultConfig> FaultConfigFromJson(const nlohmann::json& body);
nlohmann::json FaultConfigToJson(const FaultConfig& config);

// The keys ApplyFaultSetting accepts, for --help.
const std::vector<std::string>& FaultKeys();

}  // namespace mlspace::gateway::emulator
