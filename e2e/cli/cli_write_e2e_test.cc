// The write side through the real mlspacectl: the real controller
// (--api-write=commit, the default for a local --manifests) against the
// real emulator. Each write is checked as a git commit in the watched
// repository and as the controller acting on it: apply → remote job
// submitted, re-apply → unchanged and no commit, diff → exit 1 then 0,
// suspend → remote job stopped, resume → a new one, an invalid manifest →
// kubectl's "is invalid" line naming the field and no commit, delete and
// delete -l → the remote jobs cancelled and the manifests gone from git.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;

std::string Q(const std::string& s) { return "'" + s + "'"; }

class CliWriteE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emulator_ = std::make_unique<Emulator>(
        tmp_, std::vector<std::string>{"--pending-duration", "200ms", "--run-duration", "10m"});
    ASSERT_GT(emulator_->port(), 0) << ReadFile(tmp_ / "emulator.log");
    // One job committed by hand, so the API's deletes below are not the
    // last manifest (that case is kubectl_write_e2e_test's).
    repo_.Write("jobs/keep.yaml", JobManifest("keep"));
    repo_.Commit("init");
    controller_ = std::make_unique<ControllerProcess>(
        tmp_, repo_.path(), tmp_ / "state", *emulator_,
        std::vector<std::string>{"--poll-interval", "200ms", "--source-poll-interval", "500ms",
                                 "--resync-interval", "5s", "--prune-max-fraction", "1"});
    ASSERT_TRUE(controller_->WaitReady()) << ReadFile(tmp_ / "controller.log");
  }
  void TearDown() override {
    if (HasFailure() && controller_) {
      std::fprintf(stderr, "---- controller.log ----\n%s\n",
                   ReadFile(controller_->process().log_path()).c_str());
    }
  }

  int Ctl(const std::string& args, std::string* out) {
    return Sh("env -i PATH=/usr/bin:/bin HOME=" + Q(tmp_ / "home") +
                  " MLSPACE_SERVER=http://127.0.0.1:" + std::to_string(controller_->api_port()) +
                  " " + Q(BinaryPath("controller/cli/mlspacectl")) + " " + args,
              out);
  }
  std::string Ok(const std::string& args) {
    std::string out;
    EXPECT_EQ(Ctl(args, &out), 0) << "mlspacectl " << args << "\n" << out;
    return out;
  }
  int Commits() {
    std::string out;
    Sh("git -C " + Q(repo_.path()) + " rev-list --count HEAD", &out);
    return std::atoi(out.c_str());
  }
  std::string LastCommit() {
    std::string out;
    Sh("git -C " + Q(repo_.path()) + " log -1 --format=%s", &out);
    return out;
  }
  bool WaitPhase(const std::string& name, const std::string& phase,
                 std::chrono::milliseconds limit = 30s) {
    return WaitFor([&] { return controller_->Phase(name) == phase; }, limit);
  }
  std::string RemoteJob(const std::string& name) {
    nlohmann::json o = controller_->Object(name);
    return o.is_object() ? o["status"].value("remoteJobName", "") : "";
  }
  std::string EmulatorStatus(const std::string& job) {
    nlohmann::json jobs = emulator_->Jobs();
    if (!jobs.is_array()) return "";
    for (const auto& j : jobs) {
      if (j.value("job_name", "") == job) return j.value("status", "");
    }
    return "absent";
  }
  std::string Job(const std::string& name, const std::string& labels = "") {
    std::string m = JobManifest(name);
    if (!labels.empty()) {
      m.replace(m.find("\nspec:"), 0, "\n  labels: {" + labels + "}");
    }
    return m;
  }

  TempDir tmp_;
  GitRepo repo_{tmp_ / "repo"};
  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<ControllerProcess> controller_;
};

TEST_F(CliWriteE2eTest, ApplySuspendResumeDeleteEachACommit) {
  WriteFile(tmp_ / "in/train.yaml", Job("train"));
  int base = Commits();

  // apply → created, one commit, the job submitted.
  EXPECT_EQ(Ok("apply -f " + Q(tmp_ / "in/train.yaml")), "mlspacejob.mlspace.io/train created\n");
  EXPECT_EQ(Commits(), base + 1);
  EXPECT_NE(LastCommit().find("default/train"), std::string::npos) << LastCommit();
  EXPECT_TRUE(std::filesystem::exists(repo_.path() + "/default/train.yaml"));
  ASSERT_TRUE(WaitPhase("train", "Running")) << controller_->Phase("train");
  std::string first = RemoteJob("train");
  ASSERT_FALSE(first.empty());

  // The same manifest again: unchanged, no commit; diff agrees.
  EXPECT_EQ(Ok("apply -f " + Q(tmp_ / "in")), "mlspacejob.mlspace.io/train unchanged\n");
  EXPECT_EQ(Commits(), base + 1);
  EXPECT_EQ(Ok("diff -f " + Q(tmp_ / "in")), "");

  // A changed manifest: diff shows it (exit 1) without writing anything.
  std::string changed = Job("train");
  changed.replace(changed.find("py3.11:1"), 8, "py3.11:2");
  WriteFile(tmp_ / "in/train.yaml", changed);
  std::string out;
  EXPECT_EQ(Ctl("diff -f " + Q(tmp_ / "in/train.yaml"), &out), 1) << out;
  EXPECT_NE(out.find("+  image: cr.ai.cloud.ru/base/py3.11:2"), std::string::npos) << out;
  EXPECT_EQ(Commits(), base + 1);

  // suspend → a commit, the remote job stopped; resume → a new remote job.
  EXPECT_EQ(Ok("suspend train"), "mlspacejob.mlspace.io/train suspended\n");
  EXPECT_EQ(Commits(), base + 2);
  ASSERT_TRUE(WaitPhase("train", "Suspended")) << controller_->Phase("train");
  EXPECT_TRUE(WaitFor([&] { return EmulatorStatus(first) == "Stopped"; }, 20s))
      << EmulatorStatus(first);
  EXPECT_EQ(Ok("resume train"), "mlspacejob.mlspace.io/train resumed\n");
  EXPECT_EQ(Commits(), base + 3);
  EXPECT_TRUE(WaitFor(
      [&] {
        std::string rj = RemoteJob("train");
        return !rj.empty() && rj != first && EmulatorStatus(rj) == "Running";
      },
      30s))
      << RemoteJob("train");

  // An invalid manifest: the field named, nothing committed.
  WriteFile(tmp_ / "bad.yaml", Job("bad") + "  workers: 0\n");
  EXPECT_EQ(Ctl("apply -f " + Q(tmp_ / "bad.yaml"), &out), 1);
  EXPECT_NE(out.find("The MLSpaceJob \"bad\" is invalid"), std::string::npos) << out;
  EXPECT_NE(out.find("spec.workers"), std::string::npos) << out;
  EXPECT_EQ(Commits(), base + 3);

  // delete → a commit removing the file, the remote job cancelled.
  std::string second = RemoteJob("train");
  EXPECT_EQ(Ok("delete train"), "mlspacejob.mlspace.io \"train\" deleted\n");
  EXPECT_EQ(Commits(), base + 4);
  EXPECT_FALSE(std::filesystem::exists(repo_.path() + "/default/train.yaml"));
  EXPECT_TRUE(WaitFor(
      [&] { return EmulatorStatus(second) == "Stopped" || EmulatorStatus(second) == "Deleted"; },
      30s))
      << EmulatorStatus(second);
  EXPECT_TRUE(WaitPhase("train", "Removed"));
}

TEST_F(CliWriteE2eTest, DirectoryServerSideAndDeleteBySelector) {
  WriteFile(tmp_ / "dir/a.yaml", Job("a", "team: x"));
  WriteFile(tmp_ / "dir/sub/b.yaml", Job("b", "team: x") + "---\n" + Job("c", "team: y"));
  int base = Commits();
  EXPECT_EQ(Ok("apply -f " + Q(tmp_ / "dir")),
            "mlspacejob.mlspace.io/a created\nmlspacejob.mlspace.io/b created\n"
            "mlspacejob.mlspace.io/c created\n");
  EXPECT_EQ(Commits(), base + 3);
  // Server-side apply of the same objects: the server owns the merge.
  EXPECT_NE(Ok("apply --server-side -f " + Q(tmp_ / "dir/a.yaml")).find("serverside-applied"),
            std::string::npos);
  // A server dry run writes nothing.
  WriteFile(tmp_ / "d.yaml", Job("d"));
  EXPECT_EQ(Ok("apply --dry-run=server -f " + Q(tmp_ / "d.yaml")),
            "mlspacejob.mlspace.io/d created (server dry run)\n");
  int after = Commits();
  EXPECT_FALSE(std::filesystem::exists(repo_.path() + "/default/d.yaml"));
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(WaitPhase(n, "Running")) << n;

  std::string out = Ok("delete -l team=x");
  EXPECT_NE(out.find("\"a\" deleted"), std::string::npos) << out;
  EXPECT_NE(out.find("\"b\" deleted"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"c\""), std::string::npos) << out;
  EXPECT_EQ(Commits(), after + 2);
  EXPECT_TRUE(WaitPhase("a", "Removed"));
  EXPECT_TRUE(WaitPhase("b", "Removed"));
  EXPECT_EQ(controller_->Phase("c"), "Running");
  EXPECT_EQ(Ok("get -o name"), "mlspacejob.mlspace.io/c\nmlspacejob.mlspace.io/keep\n");
}

}  // namespace
}  // namespace mlspace::e2e
