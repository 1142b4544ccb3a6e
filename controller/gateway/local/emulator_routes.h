#pragma once

// The emulator's routes and its error wording, apart from the HTTP plumbing
// (emulator_server.cc): which Gateway v2 operation a method and path name,
// and the exact texts the real service answers with.

#include <optional>
#include <string>
#include <string_view>

namespace mlspace::gateway::emulator {

// One per Gateway v2 operation the emulator serves.
enum class Route { kPing, kAuth, kSubmit, kList, kRestart, kGet, kDelete, kLogs };

// The operation's short name: the `op` of --record lines, the stats' by_op
// keys and the fault rules' operation names ("ping", "auth", "submit",
// "list", "restart", "get", "delete", "logs").
std::string_view RouteName(Route route);

struct RouteMatch {
  std::optional<Route> route;   // unset: no such path (404)
  bool method_allowed = false;  // false with a route: 405
  std::string job_name;         // for kGet, kDelete, kLogs
};

// Matches a request path (without query) and method against the served
// routes: /ping and /public/v2/ping, /public/v2/service_auth,
// /public/v2/jobs (POST submit, GET list), /public/v2/jobs/restart,
// /public/v2/jobs/{name} (GET, DELETE), /public/v2/jobs/{name}/logs.
RouteMatch MatchRoute(std::string_view method, std::string_view path);

// Error wording, as the service writes it.
inline constexpr char kNotFoundDetail[] = "Not Found";
inline constexpr char kMethodNotAllowedDetail[] = "Method Not Allowed";
inline constexpr char kInternalErrorMessage[] = "Oops, something went wrong";
std::string RateLimitMessage(int per_minute);  // "Rate limit exceeded: N per 1 minute"

}  // namespace mlspace::gateway::emulator
