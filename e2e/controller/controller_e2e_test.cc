// The real mlspace-controller binary against the real emulator binary over
// loopback, with a real git repository: what users do (commit, remove,
// suspend, change a spec) and what operators rely on (flag errors, the
// state-dir lock, SIGTERM).

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Flags that make the loops fast enough for a test.
std::vector<std::string> FastFlags() {
  return {"--poll-interval", "200ms", "--source-poll-interval", "1s", "--resync-interval",    "5s",
          "--workers",       "2",     "--shutdown-grace",       "5s", "--prune-max-fraction", "1"};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

class ControllerE2eTest : public ::testing::Test {
 protected:
  // `run_duration`: how long each emulated job runs.
  void StartAll(const std::string& run_duration) {
    emulator_ = std::make_unique<Emulator>(
        tmp_,
        std::vector<std::string>{"--pending-duration", "200ms", "--run-duration", run_duration});
    ASSERT_GT(emulator_->port(), 0) << ReadFile(tmp_ / "emulator.log");
    controller_ = std::make_unique<ControllerProcess>(tmp_, repo_.path(), tmp_ / "state",
                                                      *emulator_, FastFlags());
    ASSERT_TRUE(controller_->WaitReady()) << ReadFile(tmp_ / "controller.log");
    ASSERT_TRUE(controller_->process().Running()) << ReadFile(tmp_ / "controller.log");
  }
  void TearDown() override {
    if (controller_ && HasFailure()) {
      std::fprintf(stderr, "---- controller.log ----\n%s\n",
                   ReadFile(controller_->process().log_path()).c_str());
    }
  }

  bool WaitPhase(const std::string& name, const std::string& phase,
                 std::chrono::milliseconds limit = 20s) {
    return WaitFor([&] { return controller_->Phase(name) == phase; }, limit);
  }
  bool WaitPhaseIn(const std::string& name, std::initializer_list<std::string> phases,
                   std::chrono::milliseconds limit = 20s) {
    return WaitFor(
        [&] {
          std::string p = controller_->Phase(name);
          for (const auto& want : phases) {
            if (p == want) return true;
          }
          return false;
        },
        limit);
  }
  std::string RemoteJob(const std::string& name) {
    json o = controller_->Object(name);
    if (!o.is_object()) return "";
    return o["status"].value("remoteJobName", "");
  }
  std::string EmulatorStatus(const std::string& job) {
    json jobs = emulator_->Jobs();
    if (!jobs.is_array()) return "";
    for (const auto& j : jobs) {
      if (j.value("job_name", "") == job) return j.value("status", "");
    }
    return "absent";
  }
  // DELETE requests the emulator recorded for `job`.
  int Deletes(const std::string& job) {
    int n = 0;
    for (const auto& r : emulator_->Record()) {
      if (r.value("op", "") == "delete" && r.value("path", "").find(job) != std::string::npos &&
          r.value("status", 0) == 200) {
        ++n;
      }
    }
    return n;
  }
  std::string Describe(const std::string& name) { return controller_->Object(name).dump(); }

  TempDir tmp_;
  GitRepo repo_{tmp_ / "repo"};
  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<ControllerProcess> controller_;
};

TEST_F(ControllerE2eTest, CommitIsSubmittedOnceThenCompletes) {
  repo_.Write("jobs/hello.yaml", JobManifest("hello"));
  std::string rev = repo_.Commit("hello");
  StartAll("1s");
  ASSERT_TRUE(WaitPhaseIn("hello", {"Submitted", "Running", "Succeeded"})) << Describe("hello");
  std::string job = RemoteJob("hello");
  ASSERT_FALSE(job.empty());
  ASSERT_TRUE(WaitPhase("hello", "Succeeded")) << Describe("hello");
  json o = controller_->Object("hello");
  ASSERT_TRUE(o.is_object());
  EXPECT_EQ(o["status"].value("syncedRevision", ""), rev);
  EXPECT_EQ(o["status"].value("attempt", 0), 1);
  EXPECT_TRUE(o["status"].contains("completionTime"));
  auto jobs = emulator_->JobsOf("hello");
  ASSERT_EQ(jobs.size(), 1u) << "exactly one remote job";
  EXPECT_EQ(jobs[0].value("job_name", ""), job);
  EXPECT_EQ(jobs[0].value("status", ""), "Completed");
  EXPECT_NE(jobs[0].value("job_desc", "").find(":default/hello/"), std::string::npos);

  // A commit that adds a second job submits only that one.
  repo_.Write("jobs/second.yaml", JobManifest("second"));
  repo_.Commit("second");
  ASSERT_TRUE(WaitPhase("second", "Succeeded")) << Describe("second");
  EXPECT_EQ(emulator_->JobsOf("hello").size(), 1u);
  EXPECT_EQ(emulator_->JobsOf("second").size(), 1u);
}

TEST_F(ControllerE2eTest, RemovedManifestIsCancelled) {
  repo_.Write("jobs/keep.yaml", JobManifest("keep"));
  repo_.Write("jobs/gone.yaml", JobManifest("gone"));
  repo_.Commit("two");
  StartAll("10m");
  ASSERT_TRUE(WaitPhase("gone", "Running")) << Describe("gone");
  std::string job = RemoteJob("gone");
  repo_.Remove("jobs/gone.yaml");
  repo_.Commit("remove gone");
  ASSERT_TRUE(WaitPhase("gone", "Removed")) << Describe("gone");
  std::string status = EmulatorStatus(job);
  EXPECT_TRUE(status == "Stopped" || status == "Deleted") << status;
  EXPECT_EQ(Deletes(job), 1) << "one DELETE in the emulator's record";
  // keep is submitted a few ms after gone, so its Running may arrive one
  // poll after gone's removal (seen under load): wait for it, then check
  // that nothing cancelled it.
  EXPECT_TRUE(WaitPhase("keep", "Running")) << "the other job is untouched: " << Describe("keep");
  EXPECT_EQ(EmulatorStatus(RemoteJob("keep")), "Running");
  EXPECT_EQ(Deletes(RemoteJob("keep")), 0);
}

TEST_F(ControllerE2eTest, SuspendCancelsAndResumeStartsANewAttempt) {
  repo_.Write("jobs/s.yaml", JobManifest("s"));
  repo_.Commit("s");
  StartAll("10m");
  ASSERT_TRUE(WaitPhase("s", "Running")) << Describe("s");
  std::string first = RemoteJob("s");

  repo_.Write("jobs/s.yaml", JobManifest("s", "echo hi", "    suspend: true\n"));
  repo_.Commit("suspend");
  ASSERT_TRUE(WaitPhase("s", "Suspended")) << Describe("s");
  EXPECT_EQ(EmulatorStatus(first), "Stopped");
  EXPECT_EQ(Deletes(first), 1);
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(emulator_->JobsOf("s").size(), 1u) << "nothing submitted while suspended";

  repo_.Write("jobs/s.yaml", JobManifest("s"));
  repo_.Commit("resume");
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string p = controller_->Phase("s");
        return (p == "Submitted" || p == "Running") && RemoteJob("s") != first;
      },
      20s))
      << Describe("s");
  json o = controller_->Object("s");
  ASSERT_TRUE(o.is_object());
  EXPECT_EQ(o["status"].value("attempt", 0), 2) << "resume is a new attempt";
  auto jobs = emulator_->JobsOf("s");
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_NE(jobs[0].value("job_desc", "").find("/1"), std::string::npos);
  EXPECT_NE(jobs[1].value("job_desc", "").find("/2"), std::string::npos);
}

TEST_F(ControllerE2eTest, SpecChangeReplacesTheRunningJob) {
  repo_.Write("jobs/r.yaml", JobManifest("r", "echo v1"));
  repo_.Commit("v1");
  StartAll("10m");
  ASSERT_TRUE(WaitPhase("r", "Running")) << Describe("r");
  std::string v1 = RemoteJob("r");
  json before = controller_->Object("r");
  ASSERT_TRUE(before.is_object());

  repo_.Write("jobs/r.yaml", JobManifest("r", "echo v2"));
  repo_.Commit("v2");
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string p = controller_->Phase("r");
        return (p == "Submitted" || p == "Running") && RemoteJob("r") != v1 &&
               !RemoteJob("r").empty();
      },
      20s))
      << Describe("r");
  EXPECT_EQ(EmulatorStatus(v1), "Stopped") << "Replace cancels the old generation's job";
  EXPECT_EQ(Deletes(v1), 1);
  json after = controller_->Object("r");
  ASSERT_TRUE(after.is_object());
  EXPECT_GT(after["metadata"].value("generation", 0), before["metadata"].value("generation", 0));
  auto jobs = emulator_->JobsOf("r");
  ASSERT_EQ(jobs.size(), 2u);
  // Different spec hashes in the two markers.
  EXPECT_NE(jobs[0].value("job_desc", ""), jobs[1].value("job_desc", ""));
  ASSERT_TRUE(WaitPhase("r", "Running")) << Describe("r");
  EXPECT_EQ(EmulatorStatus(RemoteJob("r")), "Running");
}

TEST_F(ControllerE2eTest, SigtermShutsDownCleanly) {
  repo_.Write("jobs/a.yaml", JobManifest("a"));
  repo_.Commit("a");
  StartAll("10m");
  ASSERT_TRUE(WaitPhase("a", "Running")) << Describe("a");
  const std::string job = RemoteJob("a");
  controller_->process().Signal(SIGTERM);
  auto code = controller_->process().Wait(20s);
  ASSERT_TRUE(code.has_value()) << "did not exit within 20 s of SIGTERM";
  EXPECT_EQ(*code, 0);
  std::string log = ReadFile(controller_->process().log_path());
  EXPECT_NE(log.find("shutting down"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  EXPECT_EQ(EmulatorStatus(job), "Running") << "stopping the controller leaves jobs running";

  // The lock is released: a new controller starts on the same state dir,
  // finds the job it recorded and submits nothing new.
  controller_ = std::make_unique<ControllerProcess>(tmp_, repo_.path(), tmp_ / "state", *emulator_,
                                                    FastFlags(), "controller-2.log");
  ASSERT_TRUE(controller_->WaitReady()) << ReadFile(tmp_ / "controller-2.log");
  ASSERT_TRUE(controller_->process().Running()) << ReadFile(tmp_ / "controller-2.log");
  ASSERT_TRUE(WaitPhase("a", "Running")) << Describe("a");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(RemoteJob("a"), job);
  EXPECT_EQ(emulator_->JobsOf("a").size(), 1u);
}

TEST_F(ControllerE2eTest, SecondControllerOnTheSameStateDirExitsWithTheLockMessage) {
  repo_.Write("jobs/a.yaml", JobManifest("a"));
  repo_.Commit("a");
  StartAll("10m");
  ControllerProcess second(tmp_, repo_.path(), tmp_ / "state", *emulator_, FastFlags(),
                           "second.log");
  auto code = second.process().Wait(20s);
  ASSERT_TRUE(code.has_value()) << "the second controller kept running";
  EXPECT_NE(*code, 0);
  auto lines = Lines(ReadFile(tmp_ / "second.log"));
  ASSERT_EQ(lines.size(), 1u) << ReadFile(tmp_ / "second.log");
  EXPECT_NE(lines[0].find("another controller holds the lock"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(std::to_string(controller_->process().pid())), std::string::npos)
      << "names the holder's pid: " << lines[0];
  EXPECT_TRUE(controller_->process().Running()) << "the first one is unaffected";
}

TEST(ControllerFlagsE2eTest, BadFlagsExitNonZeroWithOneClearLine) {
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  repo.Write("a.yaml", JobManifest("a"));
  repo.Commit("a");
  struct Case {
    std::vector<std::string> args;
    std::string must_name;
  };
  std::vector<Case> cases = {
      {{"--manifests", repo.path(), "--poll-interval", "soon"}, "--poll-interval"},
      {{"--manifests", repo.path(), "--workers", "0"}, "--workers"},
      {{"--manifests", repo.path(), "--no-such-flag", "1"}, "--no-such-flag"},
      {{"--manifests", tmp / "missing"}, "--manifests"},
      {{"--manifests", repo.path(), "--ambiguous-submit-grace", "x"}, "--ambiguous-submit-grace"},
      {{"--manifests", repo.path(), "--gateway-url", "ftp://127.0.0.1:1"}, "--gateway-url"},
      {{"--manifests", repo.path(), "--api-token-file", tmp / "no-token"},
       "--api-token-file: cannot read " + (tmp / "no-token")},
      {{"--manifests", repo.path(), "--api-token-file", tmp / "blank-token"},
       "--api-token-file \"" + (tmp / "blank-token") + "\": empty"},
      // An unreadable git credential is reported, never silently anonymous.
      {{"--git-url", "file://" + repo.path(), "--secrets-dir", tmp / "secrets"},
       "--secrets-dir: git credentials: cannot read " + (tmp / "secrets/git/password")},
  };
  WriteFile(tmp / "blank-token", " \n");
  std::filesystem::create_directories(tmp / "secrets/git/password");  // not a file
  int i = 0;
  for (const auto& c : cases) {
    std::vector<std::string> argv = {BinaryPath("controller/cmd/mlspace-controller"), "--state-dir",
                                     tmp / ("state" + std::to_string(i))};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string log = tmp / ("bad-" + std::to_string(i++) + ".log");
    Process p(argv, log, {{"MLSPACE_API_KEY", kApiKey}, {"MLSPACE_WORKSPACE_ID", kWorkspace}});
    auto code = p.Wait(20s);
    ASSERT_TRUE(code.has_value()) << c.must_name;
    EXPECT_NE(*code, 0) << c.must_name;
    auto lines = Lines(ReadFile(log));
    ASSERT_EQ(lines.size(), 1u) << c.must_name << ":\n" << ReadFile(log);
    EXPECT_EQ(lines[0].rfind("mlspace-controller: ", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(c.must_name), std::string::npos) << lines[0];
  }
}

}  // namespace
}  // namespace mlspace::e2e
