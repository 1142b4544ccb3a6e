#include "controller/gateway/slurm/slurm_gateway.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/fakes/fake_slurm_runner.h"

namespace mlspace::gateway::slurm {
namespace {

using ::mlspace::testing::FakeSlurmRunner;

std::string Sample() {
  std::ifstream in(std::string(MLSPACE_SLURM_TESTDATA) + "/squeue-22.05.8.json");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SlurmOptions Options(const std::string& out_dir = "/shared/out") {
  SlurmOptions o;
  o.partitions = {{"DGX2-MT", "gpu"}, {"A100-MT", "a100"}};
  o.default_region = "DGX2-MT";
  o.instance_types["a100.2gpu"] = SlurmResources{16, "128G", "gpu:2"};
  o.instance_types["cpu.small"] = SlurmResources{};
  o.output_dir = out_dir;
  return o;
}

SubmitRequest Request() {
  SubmitRequest r;
  r.script = "/opt/mlspace/mlspace-launch";
  r.base_image = "cr.example/pytorch:2";
  r.instance_type = "a100.2gpu";
  r.region = "A100-MT";
  r.n_workers = 2;
  r.job_desc = "mlsj:inst:ns/train/abcd1234/1";
  r.flags = {{"spec-version", "1"}, {"spec-num-parts", "1"}, {"spec-part-0", "eyJ4Ijo'x"}};
  r.label = "ns/train";
  return r;
}

TEST(SqueueJsonTest, ParsesTheVendoredSlurm2205Sample) {
  auto jobs = ParseSqueueJson(Sample());
  ASSERT_TRUE(jobs.ok()) << jobs.error().message;
  ASSERT_EQ(jobs->size(), 5u);
  std::map<std::string, SlurmJob> by_id;
  for (const auto& j : *jobs) by_id[j.id] = j;

  EXPECT_EQ(by_id["4"].state, "FAILED");
  EXPECT_EQ(by_id["4"].exit_code, 137);  // wait status 9 = SIGKILL
  EXPECT_EQ(by_id["5"].state, "RUNNING");
  EXPECT_FALSE(by_id["5"].exit_code.has_value());
  EXPECT_FALSE(by_id["5"].ended.has_value());  // end_time is a projection
  EXPECT_TRUE(by_id["5"].started.has_value());
  EXPECT_EQ(by_id["6"].exit_code, 3);  // wait status 768
  EXPECT_EQ(by_id["6"].reason, "NonZeroExitCode");
  EXPECT_EQ(by_id["7"].state, "COMPLETED");
  EXPECT_EQ(by_id["7"].exit_code, 0);
  EXPECT_EQ(by_id["7"].ended, TimePoint(std::chrono::seconds(1796411829)));
  EXPECT_EQ(by_id["8"].state, "PENDING");
  EXPECT_FALSE(by_id["8"].started.has_value());
  EXPECT_EQ(by_id["8"].comment, "not ours");
}

TEST(SqueueJsonTest, ToRemoteJobReadsTheCommentTags) {
  auto jobs = ParseSqueueJson(Sample());
  ASSERT_TRUE(jobs.ok());
  for (const auto& j : *jobs) {
    if (j.id != "6") continue;
    RemoteJob r = ToRemoteJob(j);
    EXPECT_EQ(r.name, "6");
    EXPECT_EQ(r.status, RemoteStatus::kFailed);
    EXPECT_EQ(r.region, "A100-MT");
    EXPECT_EQ(r.instance_type, "cpu.small");
    EXPECT_EQ(r.job_desc, "mlsj:bench:default/fails/9c0d1e2f/2");
    EXPECT_EQ(r.exit_code, 3);
    return;
  }
  FAIL() << "job 6 not in the sample";
}

TEST(SqueueJsonTest, PendingReasonIsSlurmsStateReason) {
  auto jobs = ParseSqueueJson(Sample());
  ASSERT_TRUE(jobs.ok());
  std::map<std::string, RemoteJob> by_id;
  for (const auto& j : *jobs) by_id[j.id] = ToRemoteJob(j);
  EXPECT_EQ(by_id["8"].status, RemoteStatus::kPending);
  EXPECT_EQ(by_id["8"].pending_reason, "JobHeldUser");
  EXPECT_EQ(by_id["5"].pending_reason, "");  // running
  SlurmJob none;
  none.state = "PENDING";
  none.reason = "None";
  EXPECT_EQ(ToRemoteJob(none).pending_reason, "");
}

TEST(SqueueJsonTest, LaterVersionsNumbersAndStateListsAreAccepted) {
  auto jobs = ParseSqueueJson(R"({"jobs": [{"job_id": 12, "job_state": ["FAILED"],
      "comment": "c", "end_time": {"set": true, "infinite": false, "number": 100},
      "exit_code": {"status": ["SIGNALED"], "return_code": {"set": true, "number": 0},
                    "signal": {"id": {"set": true, "number": 15}, "name": "TERM"}}}],
      "errors": []})");
  ASSERT_TRUE(jobs.ok()) << jobs.error().message;
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state, "FAILED");
  EXPECT_EQ((*jobs)[0].exit_code, 143);
  EXPECT_EQ((*jobs)[0].ended, TimePoint(std::chrono::seconds(100)));
}

TEST(SqueueJsonTest, BadAnswersAreErrors) {
  EXPECT_TRUE(ParseSqueueJson("squeue: error: ...").Is(ErrorKind::kInternal));
  EXPECT_TRUE(ParseSqueueJson(R"({"meta": {}})").Is(ErrorKind::kInternal));
  EXPECT_TRUE(ParseSqueueJson(R"({"jobs": [{"name": "x"}]})").Is(ErrorKind::kInternal));
  auto e = ParseSqueueJson(R"({"errors": [{"error": "Unable to contact slurm controller"}],
                               "jobs": []})");
  ASSERT_TRUE(e.Is(ErrorKind::kUnavailable));
  EXPECT_NE(e.error().message.find("Unable to contact slurm controller"), std::string::npos);
}

TEST(SlurmStateTest, MapsSlurmStates) {
  EXPECT_EQ(MapJobState("PENDING"), RemoteStatus::kPending);
  EXPECT_EQ(MapJobState("RUNNING"), RemoteStatus::kRunning);
  EXPECT_EQ(MapJobState("COMPLETING"), RemoteStatus::kCompleting);
  EXPECT_EQ(MapJobState("COMPLETED"), RemoteStatus::kCompleted);
  EXPECT_EQ(MapJobState("CANCELLED"), RemoteStatus::kStopped);
  EXPECT_EQ(MapJobState("TIMEOUT"), RemoteStatus::kFailed);
  EXPECT_EQ(MapJobState("NODE_FAIL"), RemoteStatus::kFailed);
  EXPECT_EQ(MapJobState("OUT_OF_MEMORY"), RemoteStatus::kFailed);
  EXPECT_EQ(MapJobState("WHATEVER"), RemoteStatus::kUnknown);
  EXPECT_EQ(DecodeWaitStatus(0), 0);
  EXPECT_EQ(DecodeWaitStatus(768), 3);
  EXPECT_EQ(DecodeWaitStatus(9), 137);
}

TEST(SbatchCommandTest, NodeLayoutArgv) {
  auto cmd = BuildSbatch(Options(), Request());
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  EXPECT_EQ(cmd->argv,
            (std::vector<std::string>{
                "sbatch", "--parsable", "--job-name=mlsj:inst:ns/train/abcd1234/1",
                "--comment=mlsj:inst:ns/train/abcd1234/1 mlspace-region=A100-MT "
                "mlspace-instance-type=a100.2gpu",
                "--partition=a100", "--output=/shared/out/slurm-%j.out", "--nodes=2",
                "--ntasks-per-node=1", "--cpus-per-task=16", "--mem=128G", "--gres=gpu:2"}));
  // One launcher per worker through srun, every word single-quoted (the
  // quote inside the flag value is escaped), the exit file written after.
  EXPECT_NE(cmd->script.find("'srun' \\\n  '--kill-on-bad-exit=1' \\\n  "
                             "'/opt/mlspace/mlspace-launch' \\\n  '--spec-num-parts=1' \\\n  "
                             "'--spec-part-0=eyJ4Ijo'\\''x' \\\n  '--spec-version=1'\n"),
            std::string::npos)
      << cmd->script;
  EXPECT_NE(cmd->script.find("rc=$?\nprintf 'exit %d\\n' \"$rc\" > '/shared/out/slurm-'"
                             "\"$SLURM_JOB_ID\"'.exit.tmp' && mv -f"),
            std::string::npos)
      << cmd->script;
  EXPECT_TRUE(cmd->script.ends_with("exit \"$rc\"\n"));
  EXPECT_EQ(cmd->script.find("cr.example"), std::string::npos);  // runtime none
}

TEST(SbatchCommandTest, TaskLayoutDefaultRegionAndExtraArgs) {
  SlurmOptions o = Options();
  o.worker_layout = WorkerLayout::kTask;
  o.extra_sbatch_args = {"--qos=high"};
  o.sbatch = "/usr/bin/sbatch";
  SubmitRequest r = Request();
  r.region.reset();
  r.instance_type = "cpu.small";
  r.job_desc.reset();
  r.env_variables = {{"HF_HOME", "/data/it's"}};
  auto cmd = BuildSbatch(o, r);
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  EXPECT_EQ(cmd->argv, (std::vector<std::string>{
                           "/usr/bin/sbatch", "--parsable", "--job-name=mlspace-job",
                           "--comment=mlspace-region=DGX2-MT mlspace-instance-type=cpu.small",
                           "--partition=gpu", "--output=/shared/out/slurm-%j.out", "--ntasks=2",
                           "--qos=high"}));
  EXPECT_NE(cmd->script.find("export HF_HOME='/data/it'\\''s'\n"), std::string::npos);
}

TEST(SbatchCommandTest, ContainerRuntimes) {
  SlurmOptions o = Options();
  o.container_runtime = ContainerRuntime::kApptainer;
  o.image_prefix = "docker://";
  auto a = BuildSbatch(o, Request());
  ASSERT_TRUE(a.ok());
  EXPECT_NE(a->script.find("'srun' \\\n  '--kill-on-bad-exit=1' \\\n  'apptainer' \\\n  'exec' "
                           "\\\n  'docker://cr.example/pytorch:2' \\\n  "
                           "'/opt/mlspace/mlspace-launch'"),
            std::string::npos)
      << a->script;
  o.container_runtime = ContainerRuntime::kPyxis;
  o.image_prefix = "";
  auto p = BuildSbatch(o, Request());
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->script.find("'srun' \\\n  '--kill-on-bad-exit=1' \\\n  "
                           "'--container-image=cr.example/pytorch:2' \\\n  "
                           "'/opt/mlspace/mlspace-launch'"),
            std::string::npos)
      << p->script;
  SubmitRequest no_image = Request();
  no_image.base_image.clear();
  EXPECT_TRUE(BuildSbatch(o, no_image).Is(ErrorKind::kInvalid));
}

TEST(SbatchCommandTest, UnconfiguredRegionOrTypeIsInvalidNamingIt) {
  SubmitRequest r = Request();
  r.region = "SR-006";
  auto e = BuildSbatch(Options(), r);
  ASSERT_TRUE(e.Is(ErrorKind::kInvalid));
  EXPECT_NE(e.error().message.find("region: \"SR-006\" has no Slurm partition configured"),
            std::string::npos)
      << e.error().message;
  r = Request();
  r.instance_type = "h100.8gpu";
  e = BuildSbatch(Options(), r);
  ASSERT_TRUE(e.Is(ErrorKind::kInvalid));
  EXPECT_NE(e.error().message.find("instance_type: \"h100.8gpu\""), std::string::npos);
  r = Request();
  r.env_variables = {{"BAD NAME", "x"}};
  EXPECT_TRUE(BuildSbatch(Options(), r).Is(ErrorKind::kInvalid));
}

class SlurmGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("slurm_gw_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    auto runner = std::make_unique<FakeSlurmRunner>();
    runner_ = runner.get();
    gw_ = std::make_unique<SlurmGateway>(Options(dir_.string()), std::move(runner));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  std::filesystem::path dir_;
  FakeSlurmRunner* runner_ = nullptr;
  std::unique_ptr<SlurmGateway> gw_;
};

TEST_F(SlurmGatewayTest, SubmitSendsTheScriptOnStdinAndReturnsTheJobId) {
  runner_->AnswerOk("sbatch", "4242;cluster1\n");
  auto name = gw_->Submit(Request());
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_EQ(*name, "4242");
  auto calls = runner_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].input.starts_with("#!/bin/sh\n"));
  EXPECT_NE(calls[0].input.find("mlspace-launch"), std::string::npos);
}

TEST_F(SlurmGatewayTest, RefusedSubmitIsInvalidInSlurmsWords) {
  runner_->AnswerError("sbatch", 1,
                       "sbatch: error: invalid partition specified: nope\n"
                       "sbatch: error: Batch job submission failed: Invalid partition name "
                       "specified\n");
  auto r = gw_->Submit(Request());
  ASSERT_TRUE(r.Is(ErrorKind::kInvalid));
  EXPECT_NE(r.error().message.find("refused by Slurm: invalid partition specified: nope; Batch "
                                   "job submission failed: Invalid partition name specified"),
            std::string::npos)
      << r.error().message;
  runner_->AnswerError("sbatch", 1,
                       "sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job "
                       "submission failed: Job violates accounting/QOS policy (job submit limit, "
                       "user's size and/or time limits)\n");
  r = gw_->Submit(Request());
  ASSERT_TRUE(r.Is(ErrorKind::kInvalid));
  EXPECT_NE(r.error().message.find("QOSMaxSubmitJobPerUserLimit"), std::string::npos);
}

TEST_F(SlurmGatewayTest, LostSubmitAnswersAreAmbiguous) {
  CommandResult timed_out;
  timed_out.started = true;
  timed_out.timed_out = true;
  timed_out.exit_code = 137;
  runner_->Answer("sbatch", timed_out);
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kAmbiguous));

  runner_->AnswerError("sbatch", 1,
                       "sbatch: error: Batch job submission failed: Socket timed out on "
                       "send/recv operation\n");
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kAmbiguous));

  runner_->AnswerError("sbatch", 137, "");  // killed
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kAmbiguous));

  runner_->AnswerOk("sbatch", "Submitted batch job\n");  // exit 0, no id
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kAmbiguous));
}

TEST_F(SlurmGatewayTest, UnreachableSlurmOrMissingSbatchIsUnavailable) {
  runner_->AnswerError("sbatch", 1,
                       "sbatch: error: Batch job submission failed: Unable to contact slurm "
                       "controller (connect failure)\n");
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kUnavailable));
  // Nothing queued: the fake reports "not started", like a missing binary.
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kUnavailable));
}

TEST_F(SlurmGatewayTest, ListIsOneSqueueFilteredToThisGatewaysJobsInTheRegion) {
  runner_->AnswerOk("squeue", Sample());
  auto jobs = gw_->List(ListOptions{"DGX2-MT", {}, 6000});
  ASSERT_TRUE(jobs.ok()) << jobs.error().message;
  std::vector<std::string> names;
  for (const auto& j : *jobs) names.push_back(j.name);
  EXPECT_EQ(names, (std::vector<std::string>{"4", "5", "7"}));  // 6: A100-MT, 8: not ours
  EXPECT_EQ(runner_->CountOf("squeue"), 1);
  EXPECT_EQ(runner_->calls()[0].argv, (std::vector<std::string>{"squeue", "--json"}));

  runner_->AnswerOk("squeue", Sample());
  jobs = gw_->List(ListOptions{"DGX2-MT", {RemoteStatus::kRunning}, 6000});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].name, "5");
  EXPECT_EQ(runner_->CountOf("squeue"), 2);
}

TEST_F(SlurmGatewayTest, ListFailsWhenSqueueFails) {
  runner_->AnswerError("squeue", 1, "squeue: error: Unable to contact slurm controller\n");
  auto jobs = gw_->List(ListOptions{"DGX2-MT", {}, 6000});
  ASSERT_TRUE(jobs.Is(ErrorKind::kUnavailable));
  EXPECT_NE(jobs.error().message.find("Unable to contact slurm controller"), std::string::npos);
}

TEST_F(SlurmGatewayTest, GetFindsAJobSqueueStillKnows) {
  runner_->AnswerOk("squeue", Sample());
  auto j = gw_->Get("6");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->status, RemoteStatus::kFailed);
  EXPECT_EQ(j->exit_code, 3);
  EXPECT_EQ(runner_->CountOf("sacct"), 0);
}

TEST_F(SlurmGatewayTest, ForgottenJobFromAccounting) {
  runner_->AnswerOk("squeue", Sample());
  runner_->AnswerOk("sacct", "77|FAILED|2:0|mlsj:i:ns/a/12345678/1 mlspace-region=A100-MT\n");
  auto j = gw_->Get("77");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->status, RemoteStatus::kFailed);
  EXPECT_EQ(j->exit_code, 2);
  EXPECT_EQ(j->region, "A100-MT");
  EXPECT_EQ(j->job_desc, "mlsj:i:ns/a/12345678/1");
  auto calls = runner_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].argv[0], "sacct");
  EXPECT_NE(std::find(calls[1].argv.begin(), calls[1].argv.end(), "--jobs=77"),
            calls[1].argv.end());
}

TEST_F(SlurmGatewayTest, ForgottenJobFromTheExitFileWhenAccountingIsOff) {
  Write("slurm-78.out", "training...\n");
  Write("slurm-78.exit", "exit 5\n");
  runner_->AnswerOk("squeue", Sample());
  runner_->AnswerError("sacct", 1, "Slurm accounting storage is disabled\n");
  auto j = gw_->Get("78");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->status, RemoteStatus::kFailed);
  EXPECT_EQ(j->exit_code, 5);
  EXPECT_TRUE(j->completed.has_value());

  Write("slurm-79.exit", "exit 0\n");
  runner_->AnswerOk("squeue", Sample());
  runner_->AnswerError("sacct", 1, "Slurm accounting storage is disabled\n");
  j = gw_->Get("79");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->status, RemoteStatus::kCompleted);
}

TEST_F(SlurmGatewayTest, ForgottenJobWithoutExitFileIsOutcomeUnknownNeverNotFound) {
  Write("slurm-80.out", "step 1\n");
  runner_->AnswerOk("squeue", Sample());
  runner_->AnswerError("sacct", 1, "Slurm accounting storage is disabled\n");
  auto j = gw_->Get("80");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->status, RemoteStatus::kTerminated);
  EXPECT_FALSE(j->exit_code.has_value());
  auto logs = gw_->Logs("80", "DGX2-MT", 0);
  ASSERT_TRUE(logs.ok());
  EXPECT_TRUE(logs->starts_with("step 1\n"));
  EXPECT_NE(logs->find("outcome unknown"), std::string::npos);

  // A job nobody ever heard of.
  runner_->AnswerOk("squeue", Sample());
  runner_->AnswerError("sacct", 1, "Slurm accounting storage is disabled\n");
  EXPECT_TRUE(gw_->Get("81").Is(ErrorKind::kNotFound));
  EXPECT_TRUE(gw_->Get("../etc").Is(ErrorKind::kNotFound));
}

TEST_F(SlurmGatewayTest, AccountingOnMakesSacctFailuresErrors) {
  SlurmOptions o = Options(dir_.string());
  o.accounting = Accounting::kOn;
  auto runner = std::make_unique<FakeSlurmRunner>();
  FakeSlurmRunner* fake = runner.get();
  SlurmGateway gw(o, std::move(runner));
  fake->AnswerOk("squeue", Sample());
  fake->AnswerError("sacct", 1, "sacct: error: Problem talking to the database\n");
  auto j = gw.Get("90");
  ASSERT_TRUE(j.Is(ErrorKind::kUnavailable));
  EXPECT_NE(j.error().message.find("Problem talking to the database"), std::string::npos);
}

TEST_F(SlurmGatewayTest, CancelMapsScancelAnswers) {
  runner_->AnswerOk("scancel", "");
  auto c = gw_->Cancel("5", "DGX2-MT");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, CancelResult::kDeleted);
  EXPECT_EQ(runner_->calls().back().argv, (std::vector<std::string>{"scancel", "5"}));

  runner_->AnswerError("scancel", 1,
                       "scancel: error: Kill job error on job id 99: Invalid job id specified\n");
  c = gw_->Cancel("99", "DGX2-MT");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, CancelResult::kNotFound);

  runner_->AnswerError("scancel", 1, "scancel: error: Unable to contact slurm controller\n");
  EXPECT_TRUE(gw_->Cancel("5", "DGX2-MT").Is(ErrorKind::kUnavailable));
}

TEST_F(SlurmGatewayTest, LogsTailTheOutputFile) {
  Write("slurm-5.out", "a\nb\nc\n");
  auto all = gw_->Logs("5", "DGX2-MT", 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, "a\nb\nc\n");
  auto tail = gw_->Logs("5", "DGX2-MT", 2);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, "b\nc\n");
  EXPECT_EQ(runner_->calls().size(), 0u);  // no Slurm command for logs
}

TEST_F(SlurmGatewayTest, RestartIsRefused) {
  EXPECT_TRUE(gw_->Restart("5").Is(ErrorKind::kInvalid));
}

}  // namespace
}  // namespace mlspace::gateway::slurm
