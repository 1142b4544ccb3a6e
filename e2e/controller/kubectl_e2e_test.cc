// The real kubectl (1.2x-1.3x: $MLSPACE_KUBECTL, /usr/bin/kubectl or the
// pinned 1.32 scripts/tools.sh fetches) against the real controller and
// emulator: the read side as a user meets it. Every command must succeed
// without a single stderr line.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;

const std::string& Kubectl() { return KubectlPath(); }

class KubectlE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(Kubectl()))
        << "no kubectl at " << Kubectl() << " (scripts/tools.sh; set MLSPACE_KUBECTL)";
    std::string version;
    Sh(Kubectl() + " version --client", &version);
    if (version.find("v1.2") == std::string::npos && version.find("v1.3") == std::string::npos) {
      GTEST_SKIP() << "kubectl is not 1.2x-1.3x: " << version;
    }
    emulator_ = std::make_unique<Emulator>(
        tmp_, std::vector<std::string>{"--pending-duration", "200ms", "--run-duration", "2s"});
    ASSERT_GT(emulator_->port(), 0) << ReadFile(tmp_ / "emulator.log");
    controller_ = std::make_unique<ControllerProcess>(
        tmp_, repo_.path(), tmp_ / "state", *emulator_,
        std::vector<std::string>{"--poll-interval", "200ms", "--source-poll-interval", "500ms",
                                 "--resync-interval", "5s", "--workers", "2",
                                 "--prune-max-fraction", "1"});
    ASSERT_TRUE(controller_->WaitReady()) << ReadFile(tmp_ / "controller.log");
    // Its own kubeconfig and discovery cache: nothing from the machine.
    WriteFile(tmp_ / "kubeconfig",
              "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: "
              "http://127.0.0.1:" +
                  std::to_string(controller_->api_port()) +
                  "\ncontexts:\n- name: c\n  context: {cluster: c, user: u, namespace: "
                  "default}\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n");
  }
  void TearDown() override {
    if (controller_ && HasFailure()) {
      std::fprintf(stderr, "---- controller.log ----\n%s\n",
                   ReadFile(controller_->process().log_path()).c_str());
    }
  }

  std::string Prefix() const {
    return "env KUBECONFIG=" + (tmp_ / "kubeconfig") + " " + Kubectl() + " --cache-dir " +
           (tmp_ / "kcache") + " ";
  }
  // Runs kubectl; stdout in *out, stderr checked empty by the caller via err().
  int Run(const std::string& args, std::string* out) {
    std::string err_file = tmp_ / "kubectl.err";
    int rc = Sh("{ " + Prefix() + args + " 2>" + err_file + "; }", out);
    last_err_ = ReadFile(err_file);
    return rc;
  }
  // Runs kubectl and expects success with no stderr; returns stdout.
  std::string Ok(const std::string& args) {
    std::string out;
    int rc = Run(args, &out);
    EXPECT_EQ(rc, 0) << "kubectl " << args << "\n" << out << last_err_;
    EXPECT_EQ(last_err_, "") << "kubectl " << args;
    return out;
  }
  // kubectl in the background, output to `log`.
  std::unique_ptr<Process> Background(const std::string& args, const std::string& log) {
    return std::make_unique<Process>(
        std::vector<std::string>{"/bin/sh", "-c", "exec " + Prefix() + args}, tmp_ / log);
  }
  bool WaitPhase(const std::string& name, const std::string& phase,
                 std::chrono::milliseconds limit = 30s) {
    return WaitFor([&] { return controller_->Phase(name) == phase; }, limit);
  }

  TempDir tmp_;
  GitRepo repo_{tmp_ / "repo"};
  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<ControllerProcess> controller_;
  std::string last_err_;
};

TEST_F(KubectlE2eTest, GetDescribeExplainEventsWaitAndWatch) {
  repo_.Write("jobs/train.yaml", JobManifest("train"));
  repo_.Write("jobs/bad.yaml", JobManifest("bad", "echo hi", "") + "  workers: 0\n");
  repo_.Commit("train and bad");
  ASSERT_TRUE(WaitPhase("bad", "Invalid"));
  ASSERT_TRUE(WaitFor([&] { return controller_->Phase("train") != ""; }, 20s));

  // Table with the columns a user needs, across namespaces and via `all`.
  std::string table = Ok("get msj -A");
  for (const char* col : {"NAMESPACE", "NAME", "REGION", "PHASE", "REASON", "ATTEMPTS", "AGE"}) {
    EXPECT_NE(table.find(col), std::string::npos) << col << "\n" << table;
  }
  EXPECT_NE(table.find("train"), std::string::npos);
  std::string wide = Ok("get msj -o wide");
  for (const char* col : {"REMOTE JOB", "IMAGE", "MESSAGE"}) {
    EXPECT_NE(wide.find(col), std::string::npos) << col << "\n" << wide;
    EXPECT_EQ(table.find(col), std::string::npos) << col << " only with -o wide\n" << table;
  }
  EXPECT_NE(wide.find("cr.ai.cloud.ru/base/py3.11:1"), std::string::npos) << wide;
  // `all` is a category: MLSpaceJobs are in it (the only kind, so kubectl
  // prints bare names).
  std::string all = Ok("get all -A");
  EXPECT_NE(all.find("train"), std::string::npos) << all;
  EXPECT_NE(all.find("PHASE"), std::string::npos) << all;

  // Full objects: the spec, custom columns on spec fields, an Invalid
  // object's readable region and why it is invalid.
  std::string yaml = Ok("get msj train -o yaml");
  EXPECT_NE(yaml.find("image: cr.ai.cloud.ru/base/py3.11:1"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("instanceType: cpu.2C.8G"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("uid:"), std::string::npos) << yaml;
  std::string cols = Ok("get msj -o custom-columns=NAME:.metadata.name,IMAGE:.spec.image");
  EXPECT_NE(cols.find("cr.ai.cloud.ru/base/py3.11:1"), std::string::npos) << cols;
  EXPECT_EQ(Ok("get msj bad -o jsonpath={.spec.region}"), "SR006");
  EXPECT_EQ(Ok("get msj bad -o jsonpath={.spec.image}"), "cr.ai.cloud.ru/base/py3.11:1");
  EXPECT_NE(Ok("get msj bad -o jsonpath={.status.conditions}").find("workers"), std::string::npos);

  // explain from /openapi/v3, nested fields included.
  std::string explain = Ok("explain mlspacejob.spec.runPolicy");
  EXPECT_NE(explain.find("backoffLimit"), std::string::npos) << explain;
  EXPECT_NE(Ok("explain mlspacejob").find("spec"), std::string::npos);

  // wait, sort-by on a status field, field selectors.
  Ok("wait --for=condition=Complete msj/train --timeout=40s");
  std::string sorted = Ok("get msj --sort-by=.status.startTime");
  EXPECT_NE(sorted.find("train"), std::string::npos) << sorted;
  std::string succeeded = Ok("get msj --field-selector status.phase=Succeeded -o name");
  EXPECT_EQ(succeeded, "mlspacejob.mlspace.io/train\n");

  // Events: core v1, all namespaces, describe, kubectl events --for.
  std::string events = Ok("get events -A");
  EXPECT_NE(events.find("Submitted"), std::string::npos) << events;
  EXPECT_NE(events.find("mlspacejob/train"), std::string::npos) << events;
  std::string describe = Ok("describe msj train");
  EXPECT_NE(describe.find("Events:"), std::string::npos) << describe;
  EXPECT_NE(describe.find("Submitted"), std::string::npos) << describe;
  // describe shows the spec too (it was `Spec: {}` before).
  EXPECT_NE(describe.find("cr.ai.cloud.ru/base/py3.11:1"), std::string::npos) << describe;
  EXPECT_NE(describe.find("cpu.2C.8G"), std::string::npos) << describe;
  EXPECT_NE(Ok("events --for mlspacejob/train").find("Submitted"), std::string::npos);
  EXPECT_NE(Ok("get events --field-selector type=Warning").find("Invalid"), std::string::npos);

  // get -w and --watch-only see a commit's change, bounded in time.
  auto watch = Background("get msj -w", "watch.log");
  auto watch_only = Background("get msj --watch-only -o name", "watch-only.log");
  std::this_thread::sleep_for(1s);  // both have listed and started watching
  repo_.Write("jobs/late.yaml", JobManifest("late"));
  repo_.Commit("late");
  EXPECT_TRUE(
      WaitFor([&] { return ReadFile(tmp_ / "watch.log").find("late") != std::string::npos; }, 15s))
      << ReadFile(tmp_ / "watch.log");
  EXPECT_TRUE(WaitFor(
      [&] {
        return ReadFile(tmp_ / "watch-only.log").find("mlspacejob.mlspace.io/late") !=
               std::string::npos;
      },
      15s))
      << ReadFile(tmp_ / "watch-only.log");
  ASSERT_TRUE(WaitFor([&] { return controller_->Phase("late") != ""; }, 20s));

  // A removed manifest: its job is cancelled, the object goes away and
  // wait --for=delete returns; the watchers saw it go.
  auto wait_delete = Background("wait --for=delete msj/late --timeout=40s", "wait-delete.log");
  std::this_thread::sleep_for(500ms);
  repo_.Remove("jobs/late.yaml");
  repo_.Commit("remove late");
  auto rc = wait_delete->Wait(45s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << ReadFile(tmp_ / "wait-delete.log");
  EXPECT_NE(ReadFile(tmp_ / "wait-delete.log").find("condition met"), std::string::npos)
      << ReadFile(tmp_ / "wait-delete.log");
  std::string out;
  EXPECT_NE(Run("get msj late", &out), 0);
  EXPECT_NE(last_err_.find("NotFound"), std::string::npos) << last_err_;
  // The removed object's history stays reachable through events.
  EXPECT_NE(Ok("get events --field-selector involvedObject.name=late").find("Removed"),
            std::string::npos);

  watch->Signal(SIGTERM);
  watch_only->Signal(SIGTERM);
  watch->Wait(5s);
  watch_only->Wait(5s);
  for (const char* log : {"watch.log", "watch-only.log", "wait-delete.log"}) {
    std::string text = ReadFile(tmp_ / log);
    EXPECT_EQ(text.find("rror"), std::string::npos) << log << ":\n" << text;
    EXPECT_EQ(text.find("not supported"), std::string::npos) << log << ":\n" << text;
  }
}

// Repeats of one warning are one aggregated event: describe prints its
// count, and an event watch sees it arrive (the emulator answers every
// submit 429, so SubmitRetrying repeats at the 1s, 2s, ... backoff).
TEST_F(KubectlE2eTest, DescribeShowsAnAggregatedCountAndEventWatchSeesNewEvents) {
  // An event from before the watch, which --watch-only must not print.
  repo_.Write("jobs/early.yaml", JobManifest("early"));
  repo_.Commit("early");
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string p = controller_->Phase("early");
        return p == "Running" || p == "Succeeded";
      },
      20s));
  ASSERT_NE(Ok("get events -A").find("Submitted"), std::string::npos);
  auto watch = Background("get events -A -w --watch-only", "events-watch.log");
  std::this_thread::sleep_for(1s);  // listed and watching
  ASSERT_TRUE(emulator_->SetFaults({{"429", "1@submit"}}));
  repo_.Write("jobs/throttled.yaml", JobManifest("throttled"));
  repo_.Commit("throttled");
  EXPECT_TRUE(WaitFor(
      [&] {
        return ReadFile(tmp_ / "events-watch.log").find("SubmitRetrying") != std::string::npos;
      },
      15s))
      << ReadFile(tmp_ / "events-watch.log");
  std::string describe;
  EXPECT_TRUE(WaitFor(
      [&] {
        describe = Ok("describe msj throttled");
        return describe.find("(x3 over") != std::string::npos;
      },
      30s))
      << describe;
  EXPECT_NE(describe.find("SubmitRetrying"), std::string::npos) << describe;
  ASSERT_TRUE(emulator_->SetFaults(nlohmann::json::object()));
  watch->Signal(SIGTERM);
  watch->Wait(5s);
  std::string text = ReadFile(tmp_ / "events-watch.log");
  EXPECT_EQ(text.find("rror"), std::string::npos) << text;
  // --watch-only: nothing from before the watch (early's submission).
  EXPECT_EQ(text.find("Submitted"), std::string::npos) << text;
}

}  // namespace
}  // namespace mlspace::e2e
