#include "controller/gateway/local/local_gateway.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <system_error>

#include "tests/gateway/local/remove_tree.h"

namespace mlspace::gateway {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

using testing::RemoveTree;

class LocalGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lgw-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { RemoveTree(dir_); }

  // A shell script file run as the job's program.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }

  std::unique_ptr<LocalGateway> Make(int max_running = 4, milliseconds grace = milliseconds(300)) {
    LocalGatewayOptions opts;
    opts.state_dir = (dir_ / "state").string();
    opts.max_running = max_running;
    opts.kill_grace = grace;
    opts.poll_interval = milliseconds(10);
    auto gw = LocalGateway::Create(opts);
    EXPECT_TRUE(gw.ok()) << gw.status().ToString();
    return std::move(gw).value();
  }

  static SubmitRequest Req(const std::string& script) {
    SubmitRequest r;
    r.script = script;
    r.base_image = "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40";
    r.instance_type = "cpu.2C.8G";
    r.region = "SR006";
    return r;
  }

  static RemoteStatus StatusOf(LocalGateway& gw, const std::string& name) {
    auto j = gw.Get(name);
    return j.ok() ? j->status : RemoteStatus::kUnknown;
  }

  static bool Finished(LocalGateway& gw, const std::string& name) {
    return IsFinished(StatusOf(gw, name));
  }

  fs::path dir_;
};

TEST_F(LocalGatewayTest, SuccessfulJobPassesFlagsAndEnvAndIsCompleted) {
  auto gw = Make();
  SubmitRequest req = Req(Script("ok.sh", "echo \"args:$*\"; echo \"foo:$FOO\"; exit 0"));
  req.flags = {{"spec-version", "1"}, {"alpha", "x y"}};
  req.env_variables = {{"FOO", "bar"}};
  req.job_desc = "marker-123";
  auto name = gw->Submit(req);
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_EQ(name->rfind("lj-", 0), 0u);
  EXPECT_EQ(name->size(), 3u + 16u);
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *name); }));
  auto job = gw->Get(*name);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->status, RemoteStatus::kCompleted);
  EXPECT_EQ(job->region, "SR006");
  EXPECT_EQ(job->job_desc, "marker-123");
  EXPECT_TRUE(job->started.has_value());
  EXPECT_TRUE(job->completed.has_value());
  EXPECT_EQ(gw->ExitCode(*name), 0);
  auto logs = gw->Logs(*name, "SR006", 0);
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(*logs, "args:--alpha=x y --spec-version=1\nfoo:bar\n");
}

TEST_F(LocalGatewayTest, NonZeroExitIsFailedWithCode) {
  auto gw = Make();
  auto name = gw->Submit(Req(Script("fail.sh", "echo oops >&2; exit 3")));
  ASSERT_TRUE(name.ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *name); }));
  EXPECT_EQ(StatusOf(*gw, *name), RemoteStatus::kFailed);
  EXPECT_EQ(gw->ExitCode(*name), 3);
  EXPECT_EQ(*gw->Logs(*name, "", 0), "oops\n");
}

TEST_F(LocalGatewayTest, MissingProgramFailsWith127) {
  auto gw = Make();
  auto name = gw->Submit(Req((dir_ / "does-not-exist").string()));
  ASSERT_TRUE(name.ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *name); }));
  EXPECT_EQ(StatusOf(*gw, *name), RemoteStatus::kFailed);
  EXPECT_EQ(gw->ExitCode(*name), 127);
  EXPECT_NE(gw->Logs(*name, "", 0)->find("cannot execute"), std::string::npos);
}

TEST_F(LocalGatewayTest, CancelTerminatesTheWholeProcessGroup) {
  auto gw = Make();
  const std::string pidfile = (dir_ / "grandchild.pid").string();
  auto name = gw->Submit(Req(Script("long.sh", "sleep 30 & echo $! > " + pidfile + "; wait")));
  ASSERT_TRUE(name.ok());
  ASSERT_TRUE(WaitFor([&] { return fs::exists(pidfile) && fs::file_size(pidfile) > 0; }));
  int grandchild = 0;
  std::ifstream(pidfile) >> grandchild;
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(StatusOf(*gw, *name), RemoteStatus::kRunning);
  auto res = gw->Cancel(*name, "SR006");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(*res, CancelResult::kDeleted);
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *name); }));
  EXPECT_EQ(StatusOf(*gw, *name), RemoteStatus::kStopped);
  EXPECT_TRUE(WaitFor([&] { return ::kill(grandchild, 0) != 0; }));
}

TEST_F(LocalGatewayTest, CancelEscalatesToSigkillAfterGrace) {
  auto gw = Make(4, milliseconds(200));
  const std::string ready = (dir_ / "ready").string();
  auto name = gw->Submit(Req(
      Script("stubborn.sh", "trap '' TERM; touch " + ready + "; while true; do sleep 0.05; done")));
  ASSERT_TRUE(name.ok());
  ASSERT_TRUE(WaitFor([&] { return fs::exists(ready); }));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(gw->Cancel(*name, "").ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *name); }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(200));
  EXPECT_EQ(StatusOf(*gw, *name), RemoteStatus::kStopped);
  EXPECT_EQ(gw->ExitCode(*name), 128 + SIGKILL);
}

TEST_F(LocalGatewayTest, CancelUnknownOrOtherRegionIsNotFound) {
  auto gw = Make();
  EXPECT_EQ(*gw->Cancel("lj-nope", "SR006"), CancelResult::kNotFound);
  auto name = gw->Submit(Req(Script("q.sh", "exit 0")));
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*gw->Cancel(*name, "SR004"), CancelResult::kNotFound);
  EXPECT_TRUE(gw->Get("lj-nope").Is(ErrorKind::kNotFound));
  EXPECT_TRUE(gw->Logs("lj-nope", "", 0).Is(ErrorKind::kNotFound));
  EXPECT_TRUE(gw->Restart("lj-nope").Is(ErrorKind::kNotFound));
}

TEST_F(LocalGatewayTest, ConcurrencyLimitKeepsExtraJobsPending) {
  auto gw = Make(1);
  const std::string script = Script("sleep.sh", "sleep 30");
  auto first = gw->Submit(Req(script));
  auto second = gw->Submit(Req(script));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(StatusOf(*gw, *first), RemoteStatus::kRunning);
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(StatusOf(*gw, *second), RemoteStatus::kPending);
  ASSERT_TRUE(gw->Cancel(*first, "").ok());
  ASSERT_TRUE(WaitFor([&] { return StatusOf(*gw, *second) == RemoteStatus::kRunning; }));
  EXPECT_EQ(StatusOf(*gw, *first), RemoteStatus::kStopped);
  // A pending job is stopped at once, without a process.
  auto third = gw->Submit(Req(script));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(StatusOf(*gw, *third), RemoteStatus::kPending);
  ASSERT_TRUE(gw->Cancel(*third, "").ok());
  EXPECT_EQ(StatusOf(*gw, *third), RemoteStatus::kStopped);
  ASSERT_TRUE(gw->Cancel(*second, "").ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *second); }));
}

TEST_F(LocalGatewayTest, ListFiltersByRegionAndStatusInSubmitOrder) {
  auto gw = Make(1);
  const std::string quick = Script("quick.sh", "exit 0");
  SubmitRequest a = Req(quick);
  a.job_desc = "a";
  SubmitRequest b = Req(Script("slow.sh", "sleep 30"));
  b.job_desc = "b";
  SubmitRequest c = Req(quick);
  c.region = "SR004";
  auto na = gw->Submit(a);
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *na); }));
  auto nb = gw->Submit(b);
  auto nc = gw->Submit(c);
  ASSERT_TRUE(nb.ok() && nc.ok());
  ListOptions opts;
  opts.region = "SR006";
  auto all = gw->List(opts);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, *na);
  EXPECT_EQ((*all)[0].job_desc, "a");
  EXPECT_EQ((*all)[1].name, *nb);
  opts.statuses = {RemoteStatus::kCompleted};
  auto done = gw->List(opts);
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ((*done)[0].name, *na);
  opts.region = "SR004";
  opts.statuses = {RemoteStatus::kPending};
  auto pend = gw->List(opts);
  ASSERT_EQ(pend->size(), 1u);
  EXPECT_EQ((*pend)[0].name, *nc);
  ASSERT_TRUE(gw->Cancel(*nb, "").ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *nb) && Finished(*gw, *nc); }));
}

TEST_F(LocalGatewayTest, LogsTail) {
  auto gw = Make();
  auto name =
      gw->Submit(Req(Script("count.sh", "i=1; while [ $i -le 10 ]; do echo $i; i=$((i+1)); done")));
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *name); }));
  EXPECT_EQ(*gw->Logs(*name, "", 3), "8\n9\n10\n");
  EXPECT_EQ(*gw->Logs(*name, "", 1), "10\n");
  EXPECT_EQ(*gw->Logs(*name, "", 100), "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
}

TEST_F(LocalGatewayTest, RestartRunsTheSameRequestAsANewJob) {
  auto gw = Make();
  SubmitRequest req = Req(Script("r.sh", "echo run"));
  req.job_desc = "again";
  auto first = gw->Submit(req);
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *first); }));
  auto second = gw->Restart(*first);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, *first);
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *second); }));
  EXPECT_EQ(gw->Get(*second)->job_desc, "again");
  EXPECT_EQ(StatusOf(*gw, *second), RemoteStatus::kCompleted);
}

TEST_F(LocalGatewayTest, OutcomeOfJobsThatEndedWhileDownSurvivesRestart) {
  const std::string go = (dir_ / "go").string();
  // The jobs wait for a file, so they are certainly running when the
  // gateway goes away and end only while no gateway exists.
  const std::string wait = "while [ ! -e " + go + " ]; do sleep 0.02; done; ";
  std::string ok_name, fail_name, pending_name, running_name;
  {
    auto gw = Make(3);
    ok_name = *gw->Submit(Req(Script("w0.sh", wait + "echo fine; exit 0")));
    fail_name = *gw->Submit(Req(Script("w4.sh", wait + "exit 4")));
    running_name = *gw->Submit(Req(Script("w-long.sh", wait + "sleep 0.5; exit 0")));
    pending_name = *gw->Submit(Req(Script("later.sh", "exit 0")));
    EXPECT_EQ(StatusOf(*gw, ok_name), RemoteStatus::kRunning);
    EXPECT_EQ(StatusOf(*gw, pending_name), RemoteStatus::kPending);
  }
  std::ofstream(go) << "go";
  const auto job_dir = [&](const std::string& n) { return dir_ / "state" / "jobs" / n; };
  ASSERT_TRUE(WaitFor([&] {
    return fs::exists(job_dir(ok_name) / "exit") && fs::exists(job_dir(fail_name) / "exit");
  }));
  auto gw = Make(3);
  EXPECT_EQ(StatusOf(*gw, ok_name), RemoteStatus::kCompleted);
  EXPECT_EQ(StatusOf(*gw, fail_name), RemoteStatus::kFailed);
  EXPECT_EQ(gw->ExitCode(fail_name), 4);
  EXPECT_EQ(*gw->Logs(ok_name, "", 0), "fine\n");
  // Still running when the new gateway came up; it finishes under it.
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, running_name); }));
  EXPECT_EQ(StatusOf(*gw, running_name), RemoteStatus::kCompleted);
  // A job still pending at shutdown starts under the new gateway.
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, pending_name); }));
  EXPECT_EQ(StatusOf(*gw, pending_name), RemoteStatus::kCompleted);
  ListOptions opts;
  opts.region = "SR006";
  EXPECT_EQ(gw->List(opts)->size(), 4u);
}

// Sets a variable in the gateway's own process for one test, as the
// controller has MLSPACE_CLIENT_SECRET and the API key in its environment.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

TEST_F(LocalGatewayTest, JobsGetACleanEnvironmentNotTheGateways) {
  ScopedEnv secret("MLSPACE_CLIENT_SECRET", "client-secret-4711");
  ScopedEnv key("MLSPACE_API_KEY", "api-key-4712");
  ScopedEnv other("SOME_CONTROLLER_SETTING", "controller-only");
  auto gw = Make();
  SubmitRequest req = Req(Script("env.sh", "env | LC_ALL=C sort"));
  req.env_variables = {{"WANDB_API_KEY", "wandb-4713"}};
  auto name = gw->Submit(req);
  ASSERT_TRUE(name.ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *name); }));
  EXPECT_EQ(StatusOf(*gw, *name), RemoteStatus::kCompleted);
  const std::string out = *gw->Logs(*name, "", 0);
  EXPECT_EQ(out.find("client-secret-4711"), std::string::npos) << out;
  EXPECT_EQ(out.find("api-key-4712"), std::string::npos) << out;
  EXPECT_EQ(out.find("SOME_CONTROLLER_SETTING"), std::string::npos) << out;
  EXPECT_NE(out.find("WANDB_API_KEY=wandb-4713\n"), std::string::npos) << out;
  EXPECT_NE(out.find("MLSPACE_JOB_NAME=" + *name + "\n"), std::string::npos) << out;
  // The minimal base: PATH, HOME, LANG, USER (and what the shell adds).
  for (const char* base : {"PATH=", "HOME=", "LANG=", "USER="}) {
    EXPECT_NE(("\n" + out).find(std::string("\n") + base), std::string::npos) << base;
  }
  std::set<std::string> names;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) names.insert(line.substr(0, line.find('=')));
  for (const auto& n : names) {
    // dash itself adds PWD (and OLDPWD, SHLVL in other shells).
    const std::set<std::string> allowed = {
        "PATH",   "HOME",  "LANG", "USER",          "PWD",
        "OLDPWD", "SHLVL", "_",    "WANDB_API_KEY", "MLSPACE_JOB_NAME"};
    EXPECT_TRUE(allowed.contains(n)) << "unexpected variable " << n;
  }
}

TEST_F(LocalGatewayTest, RecordOnDiskMasksEnvVariableValues) {
  auto gw = Make();
  SubmitRequest req = Req(Script("secret.sh", "echo \"len:${#WANDB_API_KEY}\""));
  req.env_variables = {{"WANDB_API_KEY", "wandb-secret-4714"}};
  auto name = gw->Submit(req);
  ASSERT_TRUE(name.ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *name); }));
  // The value reached the process...
  EXPECT_EQ(*gw->Logs(*name, "", 0), "len:17\n");
  // ...but not the record, nor any other file of the state directory.
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "state")) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text.find("wandb-secret-4714"), std::string::npos) << entry.path();
  }
  std::ifstream rec(dir_ / "state" / "jobs" / *name / "job.json");
  const std::string record((std::istreambuf_iterator<char>(rec)), std::istreambuf_iterator<char>());
  EXPECT_NE(record.find("\"WANDB_API_KEY\": \"***\""), std::string::npos) << record;
  // Restarting a job of this gateway reuses the values it holds in memory.
  auto again = gw->Restart(*name);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, *again); }));
  EXPECT_EQ(*gw->Logs(*again, "", 0), "len:17\n");
}

TEST_F(LocalGatewayTest, PendingJobWithMaskedEnvFailsAfterGatewayRestart) {
  std::string blocker, pending;
  const std::string go = (dir_ / "go").string();
  {
    auto gw = Make(1);
    blocker =
        *gw->Submit(Req(Script("block.sh", "while [ ! -e " + go + " ]; do sleep 0.02; done")));
    SubmitRequest req = Req(Script("p.sh", "echo \"v:$WANDB_API_KEY\""));
    req.env_variables = {{"WANDB_API_KEY", "wandb-4715"}};
    pending = *gw->Submit(req);
    EXPECT_EQ(StatusOf(*gw, pending), RemoteStatus::kPending);
  }
  std::ofstream(go) << "go";
  auto gw = Make(1);
  // Never started with "***" in place of the secret.
  EXPECT_EQ(StatusOf(*gw, pending), RemoteStatus::kFailed);
  EXPECT_NE(gw->Logs(pending, "", 0)->find("not kept on disk"), std::string::npos);
  auto restart = gw->Restart(pending);
  ASSERT_FALSE(restart.ok());
  EXPECT_EQ(restart.error().kind, ErrorKind::kInvalid);
  ASSERT_TRUE(WaitFor([&] { return Finished(*gw, blocker); }));
}

TEST_F(LocalGatewayTest, ConcurrentCallersSeeConsistentJobs) {
  auto gw = Make(2);
  const std::string quick = Script("c.sh", "exit 0");
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> names(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto n = gw->Submit(Req(quick));
        if (n.ok()) names[static_cast<size_t>(t)].push_back(*n);
        ListOptions lo;
        lo.region = "SR006";
        (void)gw->List(lo);
        if (i % 2 == 0 && n.ok()) (void)gw->Cancel(*n, "");
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : names) all.insert(v.begin(), v.end());
  ASSERT_EQ(all.size(), 20u);
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& n : all) {
      if (!Finished(*gw, n)) return false;
    }
    return true;
  }));
  int stopped = 0;
  for (const auto& n : all) {
    const RemoteStatus s = StatusOf(*gw, n);
    EXPECT_TRUE(s == RemoteStatus::kCompleted || s == RemoteStatus::kStopped) << n;
    stopped += s == RemoteStatus::kStopped;
  }
  EXPECT_LE(stopped, 12);
  ListOptions lo;
  lo.region = "SR006";
  EXPECT_EQ(gw->List(lo)->size(), 20u);
}

TEST_F(LocalGatewayTest, CorruptRecordIsReportedWithItsFile) {
  fs::create_directories(dir_ / "state" / "jobs" / "lj-bad");
  std::ofstream(dir_ / "state" / "jobs" / "lj-bad" / "job.json") << "{not json";
  LocalGatewayOptions opts;
  opts.state_dir = (dir_ / "state").string();
  auto gw = LocalGateway::Create(opts);
  ASSERT_FALSE(gw.ok());
  EXPECT_NE(gw.status().message().find("lj-bad/job.json"), std::string::npos)
      << gw.status().message();
}

}  // namespace
}  // namespace mlspace::gateway
