#include "controller/gateway/local/emulator_routes.h"

#include <gtest/gtest.h>

namespace mlspace::gateway::emulator {
namespace {

struct Case {
  const char* method;
  const char* path;
  std::optional<Route> route;
  bool allowed;
  const char* job;
};

TEST(EmulatorRoutesTest, MatchesEveryServedOperationAndNothingElse) {
  const Case cases[] = {
      {"GET", "/ping", Route::kPing, true, ""},
      {"GET", "/public/v2/ping", Route::kPing, true, ""},
      {"POST", "/public/v2/ping", Route::kPing, false, ""},
      {"POST", "/public/v2/service_auth", Route::kAuth, true, ""},
      {"GET", "/public/v2/service_auth", Route::kAuth, false, ""},
      {"POST", "/public/v2/jobs", Route::kSubmit, true, ""},
      {"GET", "/public/v2/jobs", Route::kList, true, ""},
      {"PUT", "/public/v2/jobs", Route::kList, false, ""},
      {"POST", "/public/v2/jobs/restart", Route::kRestart, true, ""},
      {"GET", "/public/v2/jobs/sj-1", Route::kGet, true, "sj-1"},
      {"DELETE", "/public/v2/jobs/sj-1", Route::kDelete, true, "sj-1"},
      {"POST", "/public/v2/jobs/sj-1", Route::kGet, false, "sj-1"},
      {"GET", "/public/v2/jobs/sj-1/logs", Route::kLogs, true, "sj-1"},
      {"DELETE", "/public/v2/jobs/sj-1/logs", Route::kLogs, false, "sj-1"},
      {"GET", "/public/v2/jobs/", std::nullopt, false, ""},
      {"GET", "/public/v2/jobs//logs", std::nullopt, false, ""},
      {"GET", "/public/v2/jobs/sj-1/other", std::nullopt, false, ""},
      {"GET", "/public/v2/jobsx", std::nullopt, false, ""},
      {"GET", "/nope", std::nullopt, false, ""},
  };
  for (const Case& c : cases) {
    const RouteMatch m = MatchRoute(c.method, c.path);
    const std::string what = std::string(c.method) + " " + c.path;
    EXPECT_EQ(m.route, c.route) << what;
    if (!c.route) continue;
    EXPECT_EQ(m.method_allowed, c.allowed) << what;
    EXPECT_EQ(m.job_name, c.job) << what;
  }
}

TEST(EmulatorRoutesTest, NamesAreTheRecordAndFaultOperationNames) {
  EXPECT_EQ(RouteName(Route::kSubmit), "submit");
  EXPECT_EQ(RouteName(Route::kList), "list");
  EXPECT_EQ(RouteName(Route::kGet), "get");
  EXPECT_EQ(RouteName(Route::kDelete), "delete");
  EXPECT_EQ(RouteName(Route::kRestart), "restart");
  EXPECT_EQ(RouteName(Route::kLogs), "logs");
  EXPECT_EQ(RouteName(Route::kAuth), "auth");
  EXPECT_EQ(RouteName(Route::kPing), "ping");
  EXPECT_EQ(RateLimitMessage(1000), "Rate limit exceeded: 1000 per 1 minute");
}

}  // namespace
}  // namespace mlspace::gateway::emulator
