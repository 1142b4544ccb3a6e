// The controller with --gateway=slurm on a real single-node Slurm cluster
// (e2e/slurm/slurm_cluster.sh): run to completion, a failing job's exit
// code and output in status, suspend and removal cancel, two workers as two
// tasks, logs through the API, and SIGKILLs during a burst of submits
// leaving exactly one Slurm job per manifest generation; spec.files and
// spec.ssh.ephemeralKeys written by the launcher on the nodes (HOME a temp
// dir of the test, never the real ~/.ssh); and the same controller over
// slurmrestd (restd mode, the Slurm tools replaced by /bin/false), the
// crash test included.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/harness/harness.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr char kRegion[] = "SR006";

// One cluster for the whole suite (starting it takes about a second, but
// slurmctld keeps job ids increasing, which the tests rely on).
class SlurmCluster {
 public:
  static SlurmCluster& Get() {
    static SlurmCluster c;
    return c;
  }
  bool ok() const { return ok_; }
  const std::string& conf() const { return conf_; }
  const std::string& error() const { return error_; }
  // Every job slurmctld knows (MinJobAge is 300 s: finished ones too).
  json Jobs() const {
    std::string out;
    if (Sh("SLURM_CONF=" + conf_ + " squeue --json 2>/dev/null", &out) != 0) return nullptr;
    auto j = json::parse(out, nullptr, false);
    if (j.is_discarded() || !j.contains("jobs")) return nullptr;
    return j["jobs"];
  }
  json Job(const std::string& id) const {
    json jobs = Jobs();
    if (!jobs.is_array()) return nullptr;
    for (const auto& j : jobs) {
      if (std::to_string(j.value("job_id", 0)) == id) return j;
    }
    return nullptr;
  }
  // slurmrestd on 127.0.0.1 (started on first use): its URL and the token
  // file; empty URL and `error` on failure.
  struct Restd {
    std::string url, socket, token_file, error;
  };
  const Restd& StartRestd() {
    if (!restd_.url.empty() || !restd_.error.empty()) return restd_;
    std::string out;
    const int rc =
        Sh(SourcePath("e2e/slurm/slurm_cluster.sh") + " restd " + dir_path_ + " 2>&1", &out);
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("RESTD_URL=")) restd_.url = line.substr(10);
      if (line.starts_with("RESTD_TOKEN_FILE=")) restd_.token_file = line.substr(17);
      if (line.starts_with("RESTD_SOCKET=")) restd_.socket = line.substr(13);
    }
    if (rc != 0 || restd_.url.empty()) {
      restd_.url.clear();
      restd_.error = "slurm_cluster.sh restd failed:\n" + out;
    }
    return restd_;
  }
  std::string RestdLog() const { return ReadFile(dir_path_ + "/log/slurmrestd.log"); }
  void Stop() {
    if (started_) Sh(SourcePath("e2e/slurm/slurm_cluster.sh") + " stop " + dir_path_);
    started_ = false;
    ok_ = false;
  }

 private:
  SlurmCluster() {
    std::string out;
    const int rc =
        Sh(SourcePath("e2e/slurm/slurm_cluster.sh") + " start " + dir_.path() + "/cluster 300 2>&1",
           &out);
    ok_ = rc == 0;
    conf_ = dir_.path() + "/cluster/slurm.conf";
    error_ = out;
  }
  ~SlurmCluster() { Stop(); }
  TempDir dir_;
  const std::string dir_path_ = dir_.path() + "/cluster";
  // Even a failed start may have left daemons running: always stopped.
  bool started_ = true;
  bool ok_ = false;
  std::string conf_;
  std::string error_;
  Restd restd_;
};

class ClusterEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SlurmCluster::Get().Stop(); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ClusterEnvironment);

std::string Manifest(const std::string& name, const std::string& cmd, int workers = 1,
                     const std::string& run_policy = "") {
  std::string m = "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
                  "\nspec:\n  region: " + kRegion +
                  "\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
                  "  instanceType: cpu.small\n  workers: " +
                  std::to_string(workers) + "\n  command: [/bin/sh, -c, \"" + cmd + "\"]\n";
  if (!run_policy.empty()) m += "  runPolicy:\n" + run_policy;
  return m;
}

class SlurmE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(SlurmCluster::Get().ok())
        << "the Slurm cluster did not start (needs root and scripts/deps.sh):\n"
        << SlurmCluster::Get().error();
    out_dir_ = tmp_ / "slurm-out";
    WriteFile(tmp_ / "slurm.yaml",
              "partitions: {" + std::string(kRegion) +
                  ": debug}\n"
                  "defaultRegion: " +
                  kRegion +
                  "\n"
                  "instanceTypes:\n  cpu.small: {cpusPerTask: 1}\n"
                  "  mem.huge: {mem: 900000000M}\n"
                  "workerLayout: task\n"
                  "outputDir: " +
                  out_dir_ + "\nlauncherPath: " + BinaryPath("launcher/mlspace-launch") +
                  "\nslurmConf: " + SlurmCluster::Get().conf() + "\n" + ExtraConfig());
  }
  // Appended to slurm.yaml.
  virtual std::string ExtraConfig() { return ""; }
  void TearDown() override {
    if (proc_ && HasFailure()) {
      std::fprintf(stderr, "---- controller.log ----\n%s\n",
                   ReadFile(tmp_ / "controller.log").c_str());
    }
    StopController();
  }

  void StartController(std::map<std::string, std::string> env = {}) {
    ports_file_ = tmp_ / ("ports-" + std::to_string(++starts_) + ".json");
    api_port_ = 0;
    std::vector<std::string> argv = {BinaryPath("controller/cmd/mlspace-controller"),
                                     "--manifests",
                                     repo_.path(),
                                     "--state-dir",
                                     tmp_ / "state",
                                     "--gateway=slurm",
                                     "--slurm-config",
                                     tmp_ / "slurm.yaml",
                                     "--instance",
                                     "slurm-e2e",
                                     "--api-bind-address",
                                     "127.0.0.1:0",
                                     "--metrics-bind-address",
                                     "127.0.0.1:0",
                                     "--ports-file",
                                     ports_file_,
                                     "--poll-interval",
                                     "300ms",
                                     "--source-poll-interval",
                                     "1s",
                                     "--resync-interval",
                                     "5s",
                                     "--workers",
                                     "4",
                                     "--shutdown-grace",
                                     "5s"};
    proc_ = std::make_unique<Process>(argv, tmp_ / "controller.log", std::move(env));
    const auto bound = WaitForControllerPorts(ports_file_, 30s, [&] { return !proc_->Running(); });
    if (bound) api_port_ = bound->api;
    ASSERT_GT(api_port_, 0) << ReadFile(tmp_ / "controller.log");
  }
  void StopController() {
    if (!proc_) return;
    proc_->Signal(SIGTERM);
    proc_->Wait(15s);
    proc_.reset();
  }

  json Object(const std::string& name) const {
    json o = GetJson(api_port_, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/" + name);
    if (!o.is_object() || o.value("kind", "") != "MLSpaceJob" || !o["status"].is_object()) {
      return nullptr;
    }
    return o;
  }
  std::string Phase(const std::string& name) const {
    json o = Object(name);
    if (!o.is_null()) return o["status"].value("phase", "");
    json ev = GetJson(
        api_port_, "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D" + name);
    if (ev.is_object() && ev["items"].is_array()) {
      for (const auto& e : ev["items"]) {
        if (e.value("reason", "") == "Removed") return "Removed";
      }
    }
    return "";
  }
  bool WaitPhase(const std::string& name, const std::string& phase,
                 std::chrono::milliseconds limit = 60s) {
    return WaitFor([&] { return Phase(name) == phase; }, limit);
  }
  std::string RemoteJob(const std::string& name) const {
    json o = Object(name);
    return o.is_object() ? o["status"].value("remoteJobName", "") : "";
  }
  std::string SlurmState(const std::string& id) const {
    json j = SlurmCluster::Get().Job(id);
    return j.is_object() ? j.value("job_state", "") : "absent";
  }
  std::string Describe(const std::string& name) const { return Object(name).dump(); }

  // SIGKILLs of the controller while a burst of manifests named
  // `prefix`-0.. is being submitted (mid-burst: submits in flight, their
  // answers lost, or answered but not yet in the store): afterwards every
  // manifest generation has exactly one Slurm job, counted by marker
  // through squeue run by the test itself.
  void CrashDuringABurst(const std::string& prefix) {
    constexpr int kJobs = 40;
    // Markers of this test's jobs only ("/" ends the namespace, so one
    // prefix never matches another's).
    const std::string marker = "mlsj:slurm-e2e:default/" + prefix + "-";
    for (int i = 0; i < kJobs; ++i) {
      repo_.Write("jobs/" + prefix + "-" + std::to_string(i) + ".yaml",
                  Manifest(prefix + "-" + std::to_string(i), "sleep 1"));
    }
    repo_.Commit(prefix);
    // Each round: start, wait until this run has submitted at least one more
    // job, SIGKILL at once (mid-burst: submits are in flight).
    auto burst_jobs = [&] {
      int n = 0;
      json jobs = SlurmCluster::Get().Jobs();
      if (!jobs.is_array()) return -1;
      for (const auto& j : jobs) {
        n += j.value("comment", "").find(marker) != std::string::npos;
      }
      return n;
    };
    int mid_burst_kills = 0;
    for (int round = 0; round < 3; ++round) {
      const int before = burst_jobs();
      if (before >= kJobs) break;
      StartController();
      WaitFor([&] { return burst_jobs() > before; }, 30s);
      proc_->Signal(SIGKILL);
      proc_->Wait(10s);
      proc_.reset();
      const int after = burst_jobs();
      if (after > before && after < kJobs) ++mid_burst_kills;
    }
    EXPECT_GE(mid_burst_kills, 1) << "no SIGKILL landed while submits were still due";
    StartController();
    for (int i = 0; i < kJobs; ++i) {
      const std::string name = prefix + "-" + std::to_string(i);
      ASSERT_TRUE(WaitPhase(name, "Succeeded", 120s)) << name << ": " << Describe(name);
    }
    // Submits the kills cut off (intent written, POST sent or about to be,
    // its answer or the store write lost) show up as adoptions by marker.
    int adopted = 0;
    json ev = GetJson(api_port_, "/api/v1/namespaces/default/events");
    if (ev.is_object() && ev["items"].is_array()) {
      for (const auto& e : ev["items"]) {
        adopted += e.value("reason", "") == "Adopted";
      }
    }
    std::fprintf(stderr, "%s: %d mid-burst kills, %d submits adopted by marker\n", prefix.c_str(),
                 mid_burst_kills, adopted);
    EXPECT_GE(adopted, 1) << "no SIGKILL cut a submit off between its POST and the store write";
    json jobs = SlurmCluster::Get().Jobs();
    ASSERT_TRUE(jobs.is_array());
    std::map<std::string, int> per_marker;
    for (const auto& j : jobs) {
      const std::string c = j.value("comment", "");
      const auto p = c.find(marker);
      if (p == std::string::npos) continue;
      ++per_marker[c.substr(p, c.find(' ', p) - p)];
    }
    // Jobs of this test only: the state dir is fresh, markers are per
    // generation; other tests in this suite use other prefixes.
    int total = 0;
    for (const auto& [m, n] : per_marker) {
      EXPECT_EQ(n, 1) << m;
      total += n;
    }
    EXPECT_EQ(static_cast<int>(per_marker.size()), kJobs);
    EXPECT_EQ(total, kJobs);
  }

  TempDir tmp_;
  GitRepo repo_{tmp_ / "repo"};
  std::string out_dir_;
  std::string ports_file_;
  int api_port_ = 0;
  int starts_ = 0;
  std::unique_ptr<Process> proc_;
};

TEST_F(SlurmE2eTest, RunsToCompletionAndServesLogsThroughTheApi) {
  repo_.Write("jobs/ok.yaml", Manifest("ok", "echo hello from slurm; echo second line"));
  repo_.Commit("ok");
  StartController();
  ASSERT_TRUE(WaitPhase("ok", "Succeeded")) << Describe("ok");
  const std::string id = RemoteJob("ok");
  json sj = SlurmCluster::Get().Job(id);
  ASSERT_TRUE(sj.is_object()) << "job " << id << " not in squeue";
  EXPECT_EQ(sj.value("job_state", ""), "COMPLETED");
  EXPECT_NE(sj.value("comment", "").find("mlsj:slurm-e2e:default/ok/"), std::string::npos);
  EXPECT_EQ(sj.value("partition", ""), "debug");

  HttpReply logs =
      HttpCall("GET", api_port_, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/ok/log");
  EXPECT_EQ(logs.status, 200) << logs.body;
  EXPECT_NE(logs.body.find("hello from slurm\nsecond line\n"), std::string::npos) << logs.body;
  HttpReply tail =
      HttpCall("GET", api_port_,
               "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/ok/log?tailLines=1");
  EXPECT_EQ(tail.body, "second line\n");
  EXPECT_EQ(ReadFile(out_dir_ + "/slurm-" + id + ".exit"), "exit 0\n");
}

TEST_F(SlurmE2eTest, FailingJobReportsExitCodeAndOutput) {
  repo_.Write("jobs/bad.yaml",
              Manifest("bad", "echo about to fail: disk full; exit 3", 1, "    backoffLimit: 0\n"));
  repo_.Commit("bad");
  StartController();
  ASSERT_TRUE(WaitPhase("bad", "Failed")) << Describe("bad");
  json o = Object("bad");
  EXPECT_EQ(o["status"].value("exitCode", -1), 3) << o.dump();
  EXPECT_NE(o.dump().find("about to fail: disk full"), std::string::npos) << o.dump();
  EXPECT_EQ(SlurmState(RemoteJob("bad")), "FAILED");
}

TEST_F(SlurmE2eTest, SuspendAndRemovalCancelTheSlurmJob) {
  repo_.Write("jobs/s.yaml", Manifest("s", "sleep 300"));
  repo_.Write("jobs/r.yaml", Manifest("r", "sleep 300"));
  repo_.Commit("two sleepers");
  StartController();
  ASSERT_TRUE(WaitPhase("s", "Running")) << Describe("s");
  ASSERT_TRUE(WaitPhase("r", "Running")) << Describe("r");
  const std::string s_id = RemoteJob("s");
  const std::string r_id = RemoteJob("r");
  EXPECT_EQ(SlurmState(s_id), "RUNNING");

  repo_.Write("jobs/s.yaml", Manifest("s", "sleep 300", 1, "    suspend: true\n"));
  repo_.Remove("jobs/r.yaml");
  repo_.Commit("suspend s, remove r");
  ASSERT_TRUE(WaitPhase("s", "Suspended")) << Describe("s");
  ASSERT_TRUE(WaitPhase("r", "Removed")) << Describe("r");
  EXPECT_TRUE(WaitFor([&] { return SlurmState(s_id) == "CANCELLED"; }, 20s)) << SlurmState(s_id);
  EXPECT_TRUE(WaitFor([&] { return SlurmState(r_id) == "CANCELLED"; }, 20s)) << SlurmState(r_id);
}

// Slurm's own words reach the status: a submit sbatch refuses (memory no
// node has) fails the object with sbatch's error, and a job held because its
// partition is down says so in the Submitted condition until it runs.
TEST_F(SlurmE2eTest, SlurmRefusalsAndPendingReasonsReachTheStatus) {
  std::string huge = Manifest("huge", "echo never", 1, "    backoffLimit: 0\n");
  huge.replace(huge.find("cpu.small"), 9, "mem.huge");
  repo_.Write("jobs/huge.yaml", huge);
  repo_.Commit("huge");
  ASSERT_EQ(Sh("SLURM_CONF=" + SlurmCluster::Get().conf() +
               " scontrol update PartitionName=debug State=DOWN"),
            0);
  repo_.Write("jobs/held.yaml", Manifest("held", "echo finally"));
  repo_.Commit("held");
  StartController();
  EXPECT_TRUE(WaitFor(
      [&] {
        json o = Object("huge");
        return o.is_object() && o["status"].value("phase", "") == "Failed";
      },
      60s))
      << Describe("huge");
  EXPECT_NE(Describe("huge").find("Memory specification can not be satisfied"), std::string::npos)
      << Describe("huge");
  const bool held_seen = WaitFor(
      [&] { return Describe("held").find("pending: PartitionDown") != std::string::npos; }, 30s);
  Sh("SLURM_CONF=" + SlurmCluster::Get().conf() + " scontrol update PartitionName=debug State=UP");
  EXPECT_TRUE(held_seen) << Describe("held");
  EXPECT_TRUE(WaitPhase("held", "Succeeded")) << Describe("held");
}

TEST_F(SlurmE2eTest, TwoWorkersRunAsTwoTasks) {
  repo_.Write("jobs/w2.yaml", Manifest("w2", "echo worker $SLURM_PROCID of $SLURM_NTASKS", 2));
  repo_.Commit("w2");
  StartController();
  ASSERT_TRUE(WaitPhase("w2", "Succeeded")) << Describe("w2");
  const std::string id = RemoteJob("w2");
  const std::string out = ReadFile(out_dir_ + "/slurm-" + id + ".out");
  EXPECT_NE(out.find("worker 0 of 2"), std::string::npos) << out;
  EXPECT_NE(out.find("worker 1 of 2"), std::string::npos) << out;
  json sj = SlurmCluster::Get().Job(id);
  ASSERT_TRUE(sj.is_object());
  EXPECT_EQ(sj.value("tasks", 0), 2) << sj.dump();
}

// SIGKILL of the controller while a burst of manifests is being submitted:
// every manifest generation ends up with exactly one Slurm job.
TEST_F(SlurmE2eTest, CrashDuringABurstLeavesOneSlurmJobPerGeneration) {
  CrashDuringABurst("burst");
}

// A job's HOME for the launcher's "~": a directory of this test, set both in
// the manifest's env (what the launcher resolves "~" with) and in the
// controller's environment (what sbatch exports to the job), so nothing is
// ever written to the real ~/.ssh of the root user running the suite.
std::string FilesManifest(const std::string& name, const std::string& home,
                          const std::string& work_dir, const std::string& cmd, int workers,
                          const std::string& extra) {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
         "\nspec:\n  region: " + kRegion +
         "\n  image: cr.ai.cloud.ru/base/py3.11:1\n  instanceType: cpu.small\n  workers: " +
         std::to_string(workers) + "\n  workingDir: " + work_dir +
         "\n  env:\n  - {name: HOME, value: '" + home + "'}\n  command: [/bin/sh, -c, '" + cmd +
         "']\n  runPolicy:\n    backoffLimit: 0\n" + extra;
}

TEST_F(SlurmE2eTest, SpecFilesAreWrittenBeforeTheCommand) {
  const std::string home = tmp_ / "home";
  const std::string work = tmp_ / "work";
  ASSERT_EQ(Sh("mkdir -p " + home + " " + work), 0);
  // The job checks the files itself: content, mode, location; a mismatch
  // fails it (exit 7/8/9).
  const std::string cmd =
      "test \"$(cat ~/cfg/run.json)\" = \"{\\\"lr\\\": 0.5}\" || exit 7; "
      "test \"$(stat -c %a ~/cfg/run.json)\" = 640 || exit 8; "
      "test \"$(cat data/input.txt)\" = payload-42 || exit 9; "
      "echo files ok in $(pwd) home $HOME";
  repo_.Write("jobs/f.yaml",
              FilesManifest("f", home, work, cmd, 1,
                            "  files:\n"
                            "  - {path: '~/cfg/run.json', content: '{\"lr\": 0.5}', mode: '0640'}\n"
                            "  - {path: data/input.txt, content: payload-42}\n"));
  repo_.Commit("files");
  StartController({{"HOME", home}});
  ASSERT_TRUE(WaitPhase("f", "Succeeded"))
      << Describe("f") << "\n"
      << ReadFile(out_dir_ + "/slurm-" + RemoteJob("f") + ".out");
  const std::string out = ReadFile(out_dir_ + "/slurm-" + RemoteJob("f") + ".out");
  EXPECT_NE(out.find("files ok in " + work + " home " + home), std::string::npos) << out;
  EXPECT_EQ(ReadFile(home + "/cfg/run.json"), "{\"lr\": 0.5}");
  EXPECT_EQ(ReadFile(work + "/data/input.txt"), "payload-42");
}

// Two workers (two tasks on the one node, each its own mlspace-launch) both
// find the attempt's key pair: the public key each reads in the job's own
// ~/.ssh/mlspace/default.k/ and the one ssh-keygen derives from the private
// key each reads at ~/.ssh/id_ed25519 (a fresh home: nothing of the user's
// there) are the same, authorized_keys holds it once although both workers
// append it, and the private key is in neither the controller's log nor the
// object.
TEST_F(SlurmE2eTest, EphemeralSshKeysReachBothWorkers) {
  const std::string home = tmp_ / "home";
  const std::string work = tmp_ / "work";
  ASSERT_EQ(Sh("mkdir -p " + home + " " + work), 0);
  const std::string cmd =
      "echo worker $SLURM_PROCID pub $(cut -d\" \" -f2 ~/.ssh/mlspace/default.k/id_ed25519.pub) "
      "derived $(ssh-keygen -y -f ~/.ssh/id_ed25519 | cut -d\" \" -f2) "
      "authorized $(cut -d\" \" -f2 ~/.ssh/authorized_keys)";
  repo_.Write("jobs/k.yaml",
              FilesManifest("k", home, work, cmd, 2, "  ssh: {ephemeralKeys: true}\n"));
  repo_.Commit("keys");
  StartController({{"HOME", home}});
  ASSERT_TRUE(WaitPhase("k", "Succeeded")) << Describe("k");
  const std::string out = ReadFile(out_dir_ + "/slurm-" + RemoteJob("k") + ".out");
  const std::string pub_line = ReadFile(home + "/.ssh/mlspace/default.k/id_ed25519.pub");
  EXPECT_EQ(ReadFile(home + "/.ssh/authorized_keys"), pub_line);
  std::istringstream pl(pub_line);
  std::string type, pub;
  pl >> type >> pub;
  ASSERT_EQ(type, "ssh-ed25519") << pub_line;
  ASSERT_FALSE(pub.empty());
  for (const char* w : {"0", "1"}) {
    const std::string want =
        std::string("worker ") + w + " pub " + pub + " derived " + pub + " authorized " + pub;
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  }
  const std::string priv = ReadFile(home + "/.ssh/id_ed25519");
  ASSERT_NE(priv.find("PRIVATE KEY"), std::string::npos);
  std::string body = priv.substr(priv.find('\n') + 1, 40);  // a piece of the key material
  EXPECT_EQ(ReadFile(tmp_ / "controller.log").find(body), std::string::npos);
  EXPECT_EQ(Describe("k").find(body), std::string::npos);
  // Not installed anywhere else: the real ~/.ssh never got this key.
  std::string real;
  Sh("cat /root/.ssh/authorized_keys /root/.ssh/id_ed25519.pub 2>/dev/null", &real);
  EXPECT_EQ(real.find(pub), std::string::npos);
}

// The same controller with slurmrestd configured: the Slurm tools are
// replaced by /bin/false, so anything that works went through slurmrestd
// (its log shows the requests).
class SlurmRestdE2eTest : public SlurmE2eTest {
 protected:
  void SetUp() override {
    const auto& restd = SlurmCluster::Get().StartRestd();
    ASSERT_FALSE(restd.url.empty()) << restd.error;
    url_ = unix_socket_ ? "unix:" + restd.socket : restd.url;
    token_file_ = restd.token_file;
    SlurmE2eTest::SetUp();
  }
  std::string ExtraConfig() override {
    return "sbatch: /bin/false\nsqueue: /bin/false\nscancel: /bin/false\nsacct: /bin/false\n"
           "restd:\n  url: " +
           url_ + "\n  apiVersion: v0.0.38\n  tokenFile: " + token_file_ + "\n  userName: root\n";
  }
  std::string url_, token_file_;
  bool unix_socket_ = false;
};

// slurmrestd's unix socket (the same JWT auth): the transport's AF_UNIX path.
class SlurmRestdUnixE2eTest : public SlurmRestdE2eTest {
 protected:
  SlurmRestdUnixE2eTest() { unix_socket_ = true; }
};

TEST_F(SlurmRestdUnixE2eTest, RunsToCompletionOverTheUnixSocket) {
  repo_.Write("jobs/rux.yaml", Manifest("rux", "echo hello via the restd socket; exit 2", 1,
                                        "    backoffLimit: 0\n"));
  repo_.Commit("rux");
  StartController();
  ASSERT_TRUE(WaitPhase("rux", "Failed")) << Describe("rux");
  EXPECT_EQ(Object("rux")["status"].value("exitCode", -1), 2) << Describe("rux");
  EXPECT_NE(Describe("rux").find("hello via the restd socket"), std::string::npos);
  EXPECT_EQ(SlurmState(RemoteJob("rux")), "FAILED");
}

TEST_F(SlurmRestdE2eTest, RunsToCompletionThroughSlurmrestd) {
  repo_.Write("jobs/rok.yaml", Manifest("rok", "echo hello via restd"));
  repo_.Commit("rok");
  StartController();
  ASSERT_TRUE(WaitPhase("rok", "Succeeded")) << Describe("rok");
  const std::string id = RemoteJob("rok");
  json sj = SlurmCluster::Get().Job(id);
  ASSERT_TRUE(sj.is_object()) << "job " << id << " not in squeue";
  EXPECT_EQ(sj.value("job_state", ""), "COMPLETED");
  EXPECT_NE(sj.value("comment", "").find("mlsj:slurm-e2e:default/rok/"), std::string::npos);
  EXPECT_EQ(sj.value("name", "").rfind("mlsj:slurm-e2e:default/rok/", 0), 0u) << sj.dump();
  HttpReply logs = HttpCall("GET", api_port_,
                            "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/rok/log");
  EXPECT_NE(logs.body.find("hello via restd\n"), std::string::npos) << logs.body;
  const std::string log = SlurmCluster::Get().RestdLog();
  EXPECT_NE(log.find("POST /slurm/v0.0.38/job/submit"), std::string::npos);
  EXPECT_NE(log.find("GET /slurm/v0.0.38/jobs"), std::string::npos);
}

TEST_F(SlurmRestdE2eTest, FailingJobAndSlurmRefusalsReachTheStatus) {
  repo_.Write("jobs/rbad.yaml", Manifest("rbad", "echo restd job failing: quota; exit 4", 1,
                                         "    backoffLimit: 0\n"));
  std::string huge = Manifest("rhuge", "echo never", 1, "    backoffLimit: 0\n");
  huge.replace(huge.find("cpu.small"), 9, "mem.huge");
  repo_.Write("jobs/rhuge.yaml", huge);
  repo_.Commit("rbad, rhuge");
  StartController();
  ASSERT_TRUE(WaitPhase("rbad", "Failed")) << Describe("rbad");
  json o = Object("rbad");
  EXPECT_EQ(o["status"].value("exitCode", -1), 4) << o.dump();
  EXPECT_NE(o.dump().find("restd job failing: quota"), std::string::npos) << o.dump();
  EXPECT_EQ(SlurmState(RemoteJob("rbad")), "FAILED");
  ASSERT_TRUE(WaitPhase("rhuge", "Failed")) << Describe("rhuge");
  // slurmctld's words (sbatch adds its own client-side line before them).
  EXPECT_NE(
      Describe("rhuge").find("refused by Slurm: Requested node configuration is not available"),
      std::string::npos)
      << Describe("rhuge");
}

// The crash test in restd mode: a SIGKILL lands between a POST
// /job/submit and the store write, or while its HTTP answer is on the wire;
// the restarted controller must adopt that job by marker (GET /jobs), never
// POST it again. The submits went through slurmrestd (sbatch is /bin/false).
TEST_F(SlurmRestdE2eTest, CrashDuringABurstLeavesOneSlurmJobPerGeneration) {
  auto posts = [] {
    const std::string log = SlurmCluster::Get().RestdLog();
    int n = 0;
    for (auto p = log.find("POST /slurm/v0.0.38/job/submit"); p != std::string::npos;
         p = log.find("POST /slurm/v0.0.38/job/submit", p + 1)) {
      ++n;
    }
    return n;
  };
  const int posts_before = posts();
  CrashDuringABurst("rburst");
  EXPECT_GE(posts() - posts_before, 40);
}

TEST_F(SlurmRestdE2eTest, RemovalCancelsThroughSlurmrestd) {
  repo_.Write("jobs/rr.yaml", Manifest("rr", "sleep 300"));
  // A second manifest: removing the only one is an empty revision, which
  // the prune guard refuses.
  repo_.Write("jobs/rkeep.yaml", Manifest("rkeep", "echo kept"));
  repo_.Commit("rr, rkeep");
  StartController();
  ASSERT_TRUE(WaitPhase("rr", "Running")) << Describe("rr");
  const std::string id = RemoteJob("rr");
  EXPECT_EQ(SlurmState(id), "RUNNING");
  repo_.Remove("jobs/rr.yaml");
  repo_.Commit("remove rr");
  ASSERT_TRUE(WaitPhase("rr", "Removed")) << Describe("rr");
  EXPECT_TRUE(WaitFor([&] { return SlurmState(id) == "CANCELLED"; }, 20s)) << SlurmState(id);
  EXPECT_NE(SlurmCluster::Get().RestdLog().find("DELETE /slurm/v0.0.38/job/" + id),
            std::string::npos);
}

}  // namespace
}  // namespace mlspace::e2e
