// State is never silently lost (issue 11), end to end: the real controller
// binary against the real emulator binary.
//  * A controller with many running jobs loses its state directory and is
//    started again with the same --instance: it adopts every job by its
//    marker, and the emulator sees no POST.
//  * A 0-byte state.db is refused at start with one line naming the file.
//  * Deleting STATE/lock under a running controller does not let a second
//    controller open the same store.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> Flags() {
  return {"--poll-interval",
          "300ms",
          "--source-poll-interval",
          "1s",
          "--resync-interval",
          "5s",
          "--workers",
          "2",
          "--shutdown-grace",
          "5s",
          "--instance",
          "lost-state"};
}

int Count(const std::vector<json>& record, const std::string& op) {
  int n = 0;
  for (const auto& r : record) n += r.value("op", "") == op;
  return n;
}

int CountPhase(const ControllerProcess& c, const std::string& phase) {
  json list = c.List();
  if (!list.is_object() || !list["items"].is_array()) return 0;
  int n = 0;
  for (const auto& o : list["items"]) {
    if (o["status"].is_object() && o["status"].value("phase", "") == phase) ++n;
  }
  return n;
}

TEST(ControllerStateE2eTest, LostStateDirectoryCostsNoDuplicatePost) {
  constexpr int kJobs = 60;
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  for (int i = 0; i < kJobs; ++i) {
    std::string n = "job-" + std::to_string(i);
    repo.Write("jobs/" + n + ".yaml", JobManifest(n));
  }
  repo.Commit("jobs");
  Emulator emu(tmp, {"--pending-duration", "200ms", "--run-duration", "600s"});
  ASSERT_GT(emu.port(), 0) << ReadFile(tmp / "emulator.log");
  const std::string state = tmp / "state";
  {
    ControllerProcess c(tmp, repo.path(), state, emu, Flags(), "first.log");
    ASSERT_TRUE(c.WaitReady()) << ReadFile(tmp / "first.log");
    ASSERT_TRUE(WaitFor([&] { return CountPhase(c, "Running") == kJobs; }, 90s))
        << c.List().dump() << ReadFile(tmp / "first.log");
    c.process().Signal(SIGTERM);
    ASSERT_EQ(c.process().Wait(15s), 0);
  }
  ASSERT_EQ(Count(emu.Record(), "submit"), kJobs);
  fs::remove_all(state);  // the volume is lost

  ControllerProcess c(tmp, repo.path(), state, emu, Flags(), "second.log");
  ASSERT_TRUE(c.WaitReady()) << ReadFile(tmp / "second.log");
  ASSERT_TRUE(WaitFor([&] { return CountPhase(c, "Running") == kJobs; }, 90s))
      << c.List().dump() << ReadFile(tmp / "second.log");
  std::this_thread::sleep_for(2s);  // more polls in which a duplicate would show
  auto record = emu.Record();
  EXPECT_EQ(Count(record, "submit"), kJobs) << "POSTs after the state directory was lost";
  EXPECT_EQ(Count(record, "delete"), 0) << "no duplicate to cancel";
  json jobs = emu.Jobs();
  ASSERT_TRUE(jobs.is_array());
  EXPECT_EQ(jobs.size(), static_cast<size_t>(kJobs));
  // The learned list lag is exported per region once a list succeeded.
  std::string metrics = HttpCall("GET", c.metrics_port(), "/metrics", "").body;
  EXPECT_NE(metrics.find(std::string("mlspace_gateway_list_visibility_lag_seconds{region=\"") +
                         kRegion + "\"}"),
            std::string::npos)
      << metrics.substr(0, 2000);
}

TEST(ControllerStateE2eTest, ZeroByteStateDbIsRefusedWithOneLine) {
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  repo.Write("jobs/a.yaml", JobManifest("a"));
  repo.Commit("a");
  Emulator emu(tmp, {"--pending-duration", "200ms", "--run-duration", "60s"});
  ASSERT_GT(emu.port(), 0) << ReadFile(tmp / "emulator.log");
  const std::string state = tmp / "state";
  fs::create_directories(state);
  { std::ofstream(state + "/state.db", std::ios::binary); }
  ControllerProcess c(tmp, repo.path(), state, emu, Flags(), "refused.log");
  auto code = c.process().Wait(15s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  std::string log = ReadFile(tmp / "refused.log");
  EXPECT_NE(log.find(state + "/state.db: is empty (0 bytes"), std::string::npos) << log;
  EXPECT_EQ(fs::file_size(state + "/state.db"), 0u);
  EXPECT_EQ(Count(emu.Record(), "submit"), 0);
}

TEST(ControllerStateE2eTest, DeletedLockFileDoesNotAdmitASecondController) {
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  repo.Write("jobs/a.yaml", JobManifest("a"));
  repo.Commit("a");
  Emulator emu(tmp, {"--pending-duration", "200ms", "--run-duration", "60s"});
  ASSERT_GT(emu.port(), 0) << ReadFile(tmp / "emulator.log");
  const std::string state = tmp / "state";
  ControllerProcess first(tmp, repo.path(), state, emu, Flags(), "first.log");
  ASSERT_TRUE(first.WaitReady()) << ReadFile(tmp / "first.log");
  ASSERT_TRUE(WaitFor([&] { return first.Phase("a") == "Running"; }, 30s)) << first.List().dump();
  ASSERT_TRUE(fs::remove(state + "/lock"));
  ControllerProcess second(tmp, repo.path(), state, emu, Flags(), "second.log");
  auto code = second.process().Wait(15s);
  ASSERT_TRUE(code.has_value()) << "the second controller kept running";
  EXPECT_NE(*code, 0);
  std::string log = ReadFile(tmp / "second.log");
  EXPECT_NE(log.find("another controller holds the lock on " + state), std::string::npos) << log;
  EXPECT_TRUE(first.process().Running());
  EXPECT_EQ(Count(emu.Record(), "submit"), 1);
}

}  // namespace
}  // namespace mlspace::e2e
