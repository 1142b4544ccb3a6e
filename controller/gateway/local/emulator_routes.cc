#include "controller/gateway/local/emulator_routes.h"

namespace mlspace::gateway::emulator {

std::string_view RouteName(Route route) {
  switch (route) {
    case Route::kPing:
      return "ping";
    case Route::kAuth:
      return "auth";
    case Route::kSubmit:
      return "submit";
    case Route::kList:
      return "list";
    case Route::kRestart:
      return "restart";
    case Route::kGet:
      return "get";
    case Route::kDelete:
      return "delete";
    case Route::kLogs:
      return "logs";
  }
  return "unknown";
}

RouteMatch MatchRoute(std::string_view m, std::string_view p) {
  constexpr std::string_view kJobs = "/public/v2/jobs";
  RouteMatch r;
  auto set = [&r](Route route, bool allowed) {
    r.route = route;
    r.method_allowed = allowed;
  };
  if (p == "/ping" || p == "/public/v2/ping") {
    set(Route::kPing, m == "GET");
  } else if (p == "/public/v2/service_auth") {
    set(Route::kAuth, m == "POST");
  } else if (p == kJobs) {
    set(m == "POST" ? Route::kSubmit : Route::kList, m == "POST" || m == "GET");
  } else if (p == "/public/v2/jobs/restart") {
    set(Route::kRestart, m == "POST");
  } else if (p.size() > kJobs.size() + 1 && p.substr(0, kJobs.size() + 1) == "/public/v2/jobs/") {
    const std::string_view rest = p.substr(kJobs.size() + 1);
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      set(m == "DELETE" ? Route::kDelete : Route::kGet, m == "GET" || m == "DELETE");
      r.job_name = std::string(rest);
    } else if (slash > 0 && rest.substr(slash) == "/logs") {
      set(Route::kLogs, m == "GET");
      r.job_name = std::string(rest.substr(0, slash));
    }
  }
  return r;
}

std::string RateLimitMessage(int per_minute) {
  return "Rate limit exceeded: " + std::to_string(per_minute) + " per 1 minute";
}

}  // namespace mlspace::gateway::emulator
