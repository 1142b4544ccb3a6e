// Instance identity end to end (issue 10): the real controller binary
// against the real emulator binary.
//  * Two controllers (different --instance, different state dirs, the same
//    manifests) share one emulator: each submits its own jobs, neither
//    adopts, cancels or reports the other's.
//  * An upgrade: a state directory and emulator records written by the
//    previous version (fixtures/legacy-v2, legacy markers; or, run by
//    upgrade_e2e_test.sh, written moments ago by that version's binaries)
//    are taken over by this version: no duplicate POST, no lost job; a
//    --instance that contradicts the recorded identity is refused.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "controller/reconciler/marker.h"
#include "controller/store/sqlite/sqlite_state_store.h"
#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> FastFlags() {
  return {"--poll-interval", "200ms", "--source-poll-interval", "1s", "--resync-interval",    "5s",
          "--workers",       "2",     "--shutdown-grace",       "5s", "--prune-max-fraction", "1"};
}

std::string RemoteJob(const ControllerProcess& c, const std::string& name) {
  json o = c.Object(name);
  if (!o.is_object()) return "";
  return o["status"].value("remoteJobName", "");
}

// job_name → job_desc of every job the emulator lists.
std::map<std::string, std::string> DescByName(const Emulator& e) {
  std::map<std::string, std::string> out;
  json jobs = e.Jobs();
  if (!jobs.is_array()) return out;
  for (const auto& j : jobs) out[j.value("job_name", "")] = j.value("job_desc", "");
  return out;
}

int Count(const std::vector<json>& record, const std::string& op) {
  int n = 0;
  for (const auto& r : record) n += r.value("op", "") == op;
  return n;
}

TEST(ControllerInstanceE2eTest, TwoControllersOnOneWorkspaceNeverTouchEachOthersJobs) {
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  for (const char* n : {"a", "b", "c"})
    repo.Write(std::string("jobs/") + n + ".yaml", JobManifest(n));
  repo.Commit("three jobs");
  Emulator emu(tmp, {"--pending-duration", "200ms", "--run-duration", "120s"});
  ASSERT_GT(emu.port(), 0) << ReadFile(tmp / "emulator.log");
  auto flags = [](const std::string& instance) {
    auto f = FastFlags();
    f.insert(f.end(), {"--instance", instance});
    return f;
  };
  ControllerProcess staging(tmp, repo.path(), tmp / "state-staging", emu, flags("staging"),
                            "staging.log");
  ControllerProcess production(tmp, repo.path(), tmp / "state-production", emu, flags("production"),
                               "production.log");
  ASSERT_TRUE(staging.WaitReady()) << ReadFile(tmp / "staging.log");
  ASSERT_TRUE(production.WaitReady()) << ReadFile(tmp / "production.log");

  auto all_running = [&] {
    for (const char* n : {"a", "b", "c"}) {
      if (staging.Phase(n) != "Running" || production.Phase(n) != "Running") return false;
    }
    return true;
  };
  ASSERT_TRUE(WaitFor(all_running, 60s)) << staging.List().dump() << production.List().dump();
  // Some more polls in which a mixed-up controller would act.
  std::this_thread::sleep_for(2s);

  auto desc = DescByName(emu);
  EXPECT_EQ(desc.size(), 6u) << "one job per object per controller";
  for (const char* n : {"a", "b", "c"}) {
    for (auto* c : {&staging, &production}) {
      const std::string instance = c == &staging ? "staging" : "production";
      std::string job = RemoteJob(*c, n);
      ASSERT_TRUE(desc.count(job)) << instance << " reports " << job << " for " << n;
      auto m = reconciler::ParseMarker(desc[job]);
      ASSERT_TRUE(m.has_value()) << desc[job];
      EXPECT_EQ(m->instance, instance) << n << ": reports another instance's job";
      EXPECT_EQ(m->key.name, n);
    }
    EXPECT_NE(RemoteJob(staging, n), RemoteJob(production, n));
  }
  EXPECT_EQ(Count(emu.Record(), "submit"), 6);
  EXPECT_EQ(Count(emu.Record(), "delete"), 0) << "nobody cancelled anybody's job";

  // Removing c: each controller cancels its own c, and only that.
  std::string staging_c = RemoteJob(staging, "c");
  std::string production_c = RemoteJob(production, "c");
  repo.Remove("jobs/c.yaml");
  repo.Commit("remove c");
  ASSERT_TRUE(WaitFor(
      [&] { return staging.Phase("c") == "Removed" && production.Phase("c") == "Removed"; }, 30s));
  std::set<std::string> deleted;
  for (const auto& r : emu.Record()) {
    if (r.value("op", "") != "delete") continue;
    std::string path = r.value("path", "");
    deleted.insert(path.substr(path.rfind('/') + 1));
  }
  EXPECT_EQ(deleted, (std::set<std::string>{staging_c, production_c}));
  for (const char* n : {"a", "b"}) {
    EXPECT_EQ(staging.Phase(n), "Running");
    EXPECT_EQ(production.Phase(n), "Running");
  }
}

// A bad name (here from the environment) is one line naming the flag, and
// nothing is created.
TEST(ControllerInstanceE2eTest, InvalidInstanceIsRefusedBeforeAnythingStarts) {
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  repo.Write("jobs/a.yaml", JobManifest("a"));
  repo.Commit("a");
  Process p({BinaryPath("controller/cmd/mlspace-controller"), "--manifests", repo.path(),
             "--state-dir", tmp / "state", "--api-bind-address", "off", "--metrics-bind-address",
             "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0"},
            tmp / "controller.log", {{"MLSPACE_INSTANCE", "Team_A"}});
  auto code = p.Wait(15s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  std::string log = ReadFile(tmp / "controller.log");
  EXPECT_NE(log.find("--instance \"Team_A\": must be a DNS-1123 label"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_FALSE(fs::exists(tmp / "state")) << "refused before the state store is created";
}

// Reads the fixture's emulator records: the legacy marker → job name.
std::map<std::string, std::string> FixtureJobs(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir + "/emulator/jobs")) {
    json j = json::parse(ReadFile((e.path() / "job.json").string()), nullptr, false);
    if (j.is_discarded()) continue;
    out[j["request"].value("job_desc", "")] = j.value("name", "");
  }
  return out;
}

// The committed fixture, or (MLSPACE_LEGACY_FIXTURE) one that
// e2e/controller/upgrade_e2e_test.sh has just produced with the previous
// version's binaries: the same checks either way.
TEST(ControllerInstanceE2eTest, LegacyFixtureIsAdoptedWithoutDuplicates) {
  const char* produced = std::getenv("MLSPACE_LEGACY_FIXTURE");
  const std::string fixture = produced != nullptr && *produced != '\0'
                                  ? std::string(produced)
                                  : SourcePath("e2e/controller/fixtures/legacy-v2");
  TempDir tmp;
  ASSERT_EQ(
      Sh("cp -r '" + fixture + "/state' '" + (tmp / "state") + "' && mkdir -p '" + (tmp / "emu") +
         "' && cp -r '" + fixture + "/emulator/jobs' '" + (tmp / "emu") + "/'"),
      0);
  auto legacy = FixtureJobs(fixture);
  ASSERT_EQ(legacy.size(), 2u);
  std::map<std::string, std::string> job_of;  // object name → fixture job
  for (const auto& [marker, job] : legacy) {
    auto m = reconciler::ParseMarker(marker);
    ASSERT_TRUE(m && m->legacy()) << marker;
    job_of[m->key.name] = job;
  }
  ASSERT_TRUE(job_of.count("hello") && job_of.count("lost-answer"));

  GitRepo repo(tmp / "repo");
  for (const char* n : {"hello", "lost-answer"}) {
    repo.Write(std::string("jobs/") + n + ".yaml", ReadFile(fixture + "/manifests/" + n + ".yaml"));
  }
  repo.Commit("fixture manifests");
  Emulator emu(tmp, {"--execute=local", "--state-dir", tmp / "emu", "--launcher",
                     BinaryPath("launcher/mlspace-launch")});
  ASSERT_GT(emu.port(), 0) << ReadFile(tmp / "emulator.log");
  ASSERT_EQ(DescByName(emu).size(), 2u) << "the emulator reloaded the fixture's jobs";
  const std::string manifests = repo.path() + "/jobs";
  {
    ControllerProcess c(tmp, manifests, tmp / "state", emu, FastFlags());
    ASSERT_TRUE(c.WaitReady()) << ReadFile(tmp / "controller.log");
    ASSERT_TRUE(WaitFor(
        [&] { return c.Phase("hello") == "Succeeded" && c.Phase("lost-answer") == "Succeeded"; },
        30s))
        << c.List().dump() << ReadFile(tmp / "controller.log");
    std::this_thread::sleep_for(1s);  // a few more polls
    EXPECT_EQ(RemoteJob(c, "hello"), job_of["hello"]);
    EXPECT_EQ(RemoteJob(c, "lost-answer"), job_of["lost-answer"]) << "adopted, not resubmitted";
    EXPECT_EQ(Count(emu.Record(), "submit"), 0) << "no duplicate POST";
    EXPECT_EQ(Count(emu.Record(), "delete"), 0);
    EXPECT_EQ(DescByName(emu).size(), 2u);
    c.process().Signal(SIGTERM);
    ASSERT_EQ(c.process().Wait(15s), 0);
  }
  std::string instance;
  {
    auto store = store::SqliteStateStore::Open(tmp / "state");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->schema_version(), store::kCurrentSchemaVersion);
    auto id = (*store)->Identity();
    ASSERT_TRUE(id.ok());
    EXPECT_TRUE(id->legacy_markers);
    EXPECT_TRUE(reconciler::IsValidInstance(id->instance)) << id->instance;
    instance = id->instance;
  }

  // A contradicting --instance is refused with one line, and changes nothing.
  {
    auto f = FastFlags();
    f.insert(f.end(), {"--instance", "someone-else"});
    ControllerProcess c(tmp, manifests, tmp / "state", emu, f, "refused.log");
    auto code = c.process().Wait(15s);
    ASSERT_TRUE(code.has_value());
    EXPECT_NE(*code, 0);
    std::string log = ReadFile(tmp / "refused.log");
    EXPECT_NE(log.find("--instance \"someone-else\" contradicts instance \"" + instance + "\""),
              std::string::npos)
        << log;
  }

  // Going on: the next generation is submitted once, with a marker naming
  // the recorded instance; the finished legacy run stays in history.
  repo.Write("jobs/hello.yaml", JobManifest("hello", "echo again"));
  repo.Commit("hello again");
  ControllerProcess c(tmp, manifests, tmp / "state", emu, FastFlags(), "controller-2.log");
  ASSERT_TRUE(c.WaitReady()) << ReadFile(tmp / "controller-2.log");
  ASSERT_TRUE(WaitFor(
      [&] { return c.Phase("hello") == "Succeeded" && RemoteJob(c, "hello") != job_of["hello"]; },
      30s))
      << c.List().dump() << ReadFile(tmp / "controller-2.log");
  auto record = emu.Record();
  ASSERT_EQ(Count(record, "submit"), 1);
  for (const auto& r : record) {
    if (r.value("op", "") != "submit") continue;
    auto m = reconciler::ParseMarker(r["body"].value("job_desc", ""));
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->instance, instance);
    EXPECT_EQ(m->key.name, "hello");
  }
  EXPECT_EQ(c.Phase("lost-answer"), "Succeeded");
  EXPECT_EQ(RemoteJob(c, "lost-answer"), job_of["lost-answer"]);
}

}  // namespace
}  // namespace mlspace::e2e
