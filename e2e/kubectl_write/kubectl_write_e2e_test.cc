// issue 13 end to end: the real kubectl (1.32) against the real
// mlspace-controller (--manifests = a git repository, --api-write=commit)
// and the real mlspace-gateway-emulator. Every write is asserted twice: as
// a git commit (count, message naming verb/object/caller, the neighbour
// documents of a multi-document file byte-identical) and as the controller
// acting on it (the emulator's job submitted, stopped or cancelled).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;

std::string Q(const std::string& s) { return "'" + s + "'"; }

// $MLSPACE_KUBECTL, /usr/bin/kubectl, or the pinned kubectl 1.32 that
// scripts/tools.sh fetches and caches (e2e::KubectlPath).
const std::string& Kubectl() { return KubectlPath(); }

// A second document with comments, to check that writes to its neighbour
// leave its bytes alone.
constexpr char kSecondDoc[] =
    "# keep2: owned by the platform team, do not reformat\n"
    "apiVersion: mlspace.io/v1alpha1\n"
    "kind: MLSpaceJob\n"
    "metadata:\n"
    "  name: keep2   # trailing comment\n"
    "spec:\n"
    "  region: SR006\n"
    "  image: cr.ai.cloud.ru/base/py3.11:1\n"
    "  instanceType: cpu.2C.8G\n"
    "  command: [/bin/sh, -c, \"echo keep2\"]\n";

struct Run3 {
  int rc = 0;
  std::string out, err;
};

class KubectlWriteE2eTest : public ::testing::Test {
 protected:
  void Begin(const std::map<std::string, std::string>& files, std::vector<std::string> extra = {},
             bool remote = false) {
    ASSERT_TRUE(std::filesystem::exists(Kubectl()))
        << "no kubectl at " << Kubectl() << " (scripts/tools.sh; set MLSPACE_KUBECTL)";
    emulator_ = std::make_unique<Emulator>(
        tmp_, std::vector<std::string>{"--pending-duration", "200ms", "--run-duration", "10m"});
    ASSERT_GT(emulator_->port(), 0) << ReadFile(tmp_ / "emulator.log");
    for (const auto& [path, text] : files) repo_.Write(path, text);
    repo_.Commit("init");
    std::string manifests = repo_.path();
    remote_ = remote;
    if (remote) {
      // repo_ becomes "elsewhere": a clone pushing to the bare remote the
      // controller follows and pushes to. No periodic fetch: the controller
      // learns of foreign pushes only when its own push is rejected.
      ASSERT_EQ(Sh("git init -q --bare -b main " + Q(Bare()) + " && git -C " + Q(repo_.path()) +
                   " remote add origin " + Q(Bare()) + " && git -C " + Q(repo_.path()) +
                   " push -q origin main"),
                0);
      manifests.clear();
      extra.insert(extra.end(), {"--git-url", "file://" + Bare(), "--git-ref", "main",
                                 "--git-interval", "1h", "--api-write", "push"});
    } else {
      extra.insert(extra.end(), {"--api-write", "commit"});
    }
    std::vector<std::string> args = {
        "--poll-interval", "200ms", "--source-poll-interval", "500ms", "--resync-interval", "5s"};
    args.insert(args.end(), extra.begin(), extra.end());
    controller_ =
        std::make_unique<ControllerProcess>(tmp_, manifests, tmp_ / "state", *emulator_, args);
    ASSERT_TRUE(controller_->WaitReady()) << ReadFile(tmp_ / "controller.log");
    WriteFile(tmp_ / "kubeconfig",
              "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: "
              "http://127.0.0.1:" +
                  std::to_string(controller_->api_port()) +
                  "\ncontexts:\n- name: c\n  context: {cluster: c, user: u, namespace: "
                  "default}\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n");
  }
  void TearDown() override {
    if (HasFailure() && controller_) {
      std::fprintf(stderr, "---- controller.log ----\n%s\n",
                   ReadFile(controller_->process().log_path()).c_str());
    }
  }

  Run3 K(const std::string& args) {
    Run3 r;
    // Sh appends 2>&1: the group keeps kubectl's stderr in its own file.
    r.rc = Sh("{ env -i PATH=/usr/bin:/bin HOME=" + Q(tmp_ / "home") +
                  " KUBECONFIG=" + Q(tmp_ / "kubeconfig") + " " + Q(Kubectl()) + " --cache-dir " +
                  Q(tmp_ / "kcache") + " " + args + " 2>" + Q(tmp_ / "kubectl.err") + "; }",
              &r.out);
    r.err = ReadFile(tmp_ / "kubectl.err");
    return r;
  }
  std::string Ok(const std::string& args) {
    Run3 r = K(args);
    EXPECT_EQ(r.rc, 0) << "kubectl " << args << "\n" << r.out << r.err;
    EXPECT_EQ(r.err, "") << "kubectl " << args;
    return r.out;
  }
  std::string Bare() { return tmp_ / "remote.git"; }
  // The repository the controller commits to: the work tree, or the bare
  // remote in push mode.
  std::string Target() { return remote_ ? Bare() : repo_.path(); }
  int Commits() {
    std::string out;
    Sh("git -C " + Q(Target()) + " rev-list --count HEAD", &out);
    return std::atoi(out.c_str());
  }
  std::string LastSubject() {
    std::string out;
    Sh("git -C " + Q(Target()) + " log -1 --format=%s", &out);
    return out;
  }
  // The committed bytes of a file ("" when absent at HEAD).
  std::string AtHead(const std::string& rel) {
    std::string out;
    if (Sh("git -C " + Q(Target()) + " show HEAD:" + Q(rel) + " 2>/dev/null", &out) != 0) {
      return "";
    }
    return out;
  }
  // The last commit is one `verb` of default/`name` by the anonymous caller.
  void ExpectCommit(int count, const std::string& verb, const std::string& name) {
    EXPECT_EQ(Commits(), count) << verb << " " << name;
    std::string s = LastSubject();
    EXPECT_EQ(s.rfind(verb + " default/" + name + " by anonymous", 0), 0u) << s;
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
  // The object's remote job runs at the emulator; returns its name.
  std::string WaitRunning(const std::string& name, const std::string& not_this = "") {
    std::string rj;
    EXPECT_TRUE(WaitFor(
        [&] {
          rj = RemoteJob(name);
          return !rj.empty() && rj != not_this && EmulatorStatus(rj) == "Running";
        },
        30s))
        << name << ": " << controller_->Phase(name) << " " << rj;
    return rj;
  }
  bool WaitStopped(const std::string& job) {
    return WaitFor(
        [&] {
          std::string s = EmulatorStatus(job);
          return s == "Stopped" || s == "Deleted";
        },
        30s);
  }
  std::string Job(const std::string& name, const std::string& labels = "",
                  const std::string& image = "py3.11:1") {
    std::string m = JobManifest(name);
    if (!labels.empty()) m.replace(m.find("\nspec:"), 0, "\n  labels: {" + labels + "}");
    if (image != "py3.11:1") m.replace(m.find("py3.11:1"), 8, image);
    return m;
  }
  std::string In(const std::string& rel) { return Q(tmp_ / ("in/" + rel)); }

  TempDir tmp_;
  GitRepo repo_{tmp_ / "repo"};
  bool remote_ = false;
  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<ControllerProcess> controller_;
};

TEST_F(KubectlWriteE2eTest, EveryWriteIsACommitTheControllerActsOn) {
  const std::string multi = "# team jobs\n" + JobManifest("keep1") + "---\n" + kSecondDoc;
  ASSERT_NO_FATAL_FAILURE(Begin({{"jobs/multi.yaml", multi}}, {"--prune-max-fraction", "1"}));
  int n = Commits();
  WaitRunning("keep1");
  WaitRunning("keep2");

  // apply -f a file: created, one commit, the job submitted.
  WriteFile(tmp_ / "in/a.yaml", Job("a"));
  EXPECT_EQ(Ok("apply -f " + In("a.yaml")), "mlspacejob.mlspace.io/a created\n");
  ExpectCommit(++n, "create", "a");
  EXPECT_FALSE(AtHead("default/a.yaml").empty());
  EXPECT_EQ(AtHead("jobs/multi.yaml"), multi);
  std::string a_job = WaitRunning("a");

  // apply -f a directory: a unchanged, b and c created, one commit each.
  WriteFile(tmp_ / "in/sub/b.yaml", Job("b", "team: x"));
  WriteFile(tmp_ / "in/sub/c.yaml", Job("c", "team: x"));
  std::string out = Ok("apply -f " + In("") + " -R");
  EXPECT_NE(out.find("mlspacejob.mlspace.io/a unchanged"), std::string::npos) << out;
  EXPECT_NE(out.find("mlspacejob.mlspace.io/b created"), std::string::npos) << out;
  EXPECT_NE(out.find("mlspacejob.mlspace.io/c created"), std::string::npos) << out;
  n += 2;
  EXPECT_EQ(Commits(), n);
  std::string b_job = WaitRunning("b");
  std::string c_job = WaitRunning("c");

  // Re-apply: unchanged, no commit.
  out = Ok("apply -f " + In("") + " -R");
  EXPECT_EQ(out,
            "mlspacejob.mlspace.io/a unchanged\nmlspacejob.mlspace.io/b unchanged\n"
            "mlspacejob.mlspace.io/c unchanged\n");
  EXPECT_EQ(Commits(), n);

  // label / annotate: a commit each, seen by the controller; the job stays.
  EXPECT_EQ(Ok("label msj keep1 team=ml"), "mlspacejob.mlspace.io/keep1 labeled\n");
  ExpectCommit(++n, "patch", "keep1");
  std::string after_label = AtHead("jobs/multi.yaml");
  EXPECT_NE(after_label.find("team: ml"), std::string::npos) << after_label;
  EXPECT_TRUE(after_label.size() >= std::string(kSecondDoc).size() &&
              after_label.compare(after_label.size() - std::string(kSecondDoc).size(),
                                  std::string::npos, kSecondDoc) == 0)
      << "keep2's document keeps its bytes:\n"
      << after_label;
  EXPECT_EQ(after_label.rfind("# team jobs\n", 0), 0u) << after_label;
  EXPECT_TRUE(WaitFor(
      [&] {
        nlohmann::json o = controller_->Object("keep1");
        return o.is_object() && o["metadata"]["labels"].value("team", "") == "ml";
      },
      20s));
  EXPECT_EQ(Ok("annotate msj a note=hello"), "mlspacejob.mlspace.io/a annotated\n");
  ExpectCommit(++n, "patch", "a");
  EXPECT_TRUE(WaitFor(
      [&] {
        nlohmann::json o = controller_->Object("a");
        return o.is_object() && o["metadata"]["annotations"].value("note", "") == "hello";
      },
      20s));
  EXPECT_EQ(RemoteJob("a"), a_job) << "metadata changes do not resubmit";

  // patch --type=merge: suspend stops the remote job, resume submits anew.
  EXPECT_EQ(Ok("patch msj a --type=merge -p '{\"spec\":{\"runPolicy\":{\"suspend\":true}}}'"),
            "mlspacejob.mlspace.io/a patched\n");
  ExpectCommit(++n, "patch", "a");
  EXPECT_TRUE(WaitPhase("a", "Suspended")) << controller_->Phase("a");
  EXPECT_TRUE(WaitStopped(a_job)) << EmulatorStatus(a_job);
  EXPECT_EQ(Ok("patch msj a --type=merge -p '{\"spec\":{\"runPolicy\":{\"suspend\":false}}}'"),
            "mlspacejob.mlspace.io/a patched\n");
  ExpectCommit(++n, "patch", "a");
  std::string a_job2 = WaitRunning("a", a_job);

  // patch --type=json on keep2 (the second document): only its text changes.
  EXPECT_EQ(
      Ok("patch msj keep2 --type=json -p "
         "'[{\"op\":\"replace\",\"path\":\"/spec/runPolicy\",\"value\":{\"suspend\":true}}]'"),
      "mlspacejob.mlspace.io/keep2 patched\n");
  ExpectCommit(++n, "patch", "keep2");
  std::string after_json = AtHead("jobs/multi.yaml");
  EXPECT_EQ(after_json.substr(0, after_json.find("---\n")),
            after_label.substr(0, after_label.find("---\n")))
      << "keep1's document keeps its bytes:\n"
      << after_json;
  EXPECT_TRUE(WaitPhase("keep2", "Suspended")) << controller_->Phase("keep2");

  // diff: shows the change (exit 1), writes nothing.
  WriteFile(tmp_ / "diff/a.yaml", Job("a", "", "py3.11:2"));
  Run3 diff = K("diff -f " + Q(tmp_ / "diff/a.yaml"));
  EXPECT_EQ(diff.rc, 1) << diff.out << diff.err;
  EXPECT_NE(diff.out.find("py3.11:2"), std::string::npos) << diff.out;
  EXPECT_EQ(Commits(), n);

  // create --dry-run=server: answered, nothing committed, nothing submitted.
  WriteFile(tmp_ / "dry/d.yaml", Job("dry"));
  EXPECT_EQ(Ok("create --dry-run=server -f " + Q(tmp_ / "dry/d.yaml")),
            "mlspacejob.mlspace.io/dry created (server dry run)\n");
  EXPECT_EQ(Commits(), n);
  EXPECT_EQ(AtHead("default/dry.yaml"), "");
  EXPECT_TRUE(emulator_->JobsOf("dry").empty());

  // replace with a stale resourceVersion: Conflict, nothing committed.
  std::string stale = Job("a", "", "py3.11:4");
  stale.replace(stale.find("\nspec:"), 0, "\n  resourceVersion: \"1\"");
  WriteFile(tmp_ / "stale/a.yaml", stale);
  Run3 conflict = K("replace -f " + Q(tmp_ / "stale/a.yaml"));
  EXPECT_NE(conflict.rc, 0);
  EXPECT_NE(conflict.err.find("Error from server (Conflict)"), std::string::npos) << conflict.err;
  EXPECT_EQ(Commits(), n);

  // An invalid manifest: kubectl's "is invalid" line naming the field.
  WriteFile(tmp_ / "bad/bad.yaml", Job("bad") + "  workers: 0\n");
  Run3 bad = K("apply -f " + Q(tmp_ / "bad/bad.yaml"));
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.err.find("The MLSpaceJob \"bad\" is invalid"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("spec.workers"), std::string::npos) << bad.err;
  EXPECT_EQ(Commits(), n);
  EXPECT_TRUE(emulator_->JobsOf("bad").empty());

  // delete: the document's file removed in one commit, the job cancelled.
  EXPECT_EQ(Ok("delete msj a"), "mlspacejob.mlspace.io \"a\" deleted\n");
  ExpectCommit(++n, "delete", "a");
  EXPECT_EQ(AtHead("default/a.yaml"), "");
  EXPECT_TRUE(WaitStopped(a_job2)) << EmulatorStatus(a_job2);
  EXPECT_TRUE(WaitPhase("a", "Removed")) << controller_->Phase("a");

  // delete of keep1 from the multi-document file: keep2's bytes stay.
  std::string before_delete = AtHead("jobs/multi.yaml");
  std::string keep1_job = RemoteJob("keep1");
  EXPECT_EQ(Ok("delete msj keep1"), "mlspacejob.mlspace.io \"keep1\" deleted\n");
  ExpectCommit(++n, "delete", "keep1");
  std::string after_delete = AtHead("jobs/multi.yaml");
  EXPECT_EQ(after_delete.find("keep1"), std::string::npos) << after_delete;
  EXPECT_NE(after_delete.find(before_delete.substr(before_delete.find("# keep2"))),
            std::string::npos)
      << after_delete;
  EXPECT_TRUE(WaitStopped(keep1_job)) << EmulatorStatus(keep1_job);

  // delete -l: one commit per object, both jobs cancelled.
  out = Ok("delete msj -l team=x");
  EXPECT_NE(out.find("\"b\" deleted"), std::string::npos) << out;
  EXPECT_NE(out.find("\"c\" deleted"), std::string::npos) << out;
  n += 2;
  EXPECT_EQ(Commits(), n);
  EXPECT_EQ(AtHead("default/b.yaml"), "");
  EXPECT_EQ(AtHead("default/c.yaml"), "");
  EXPECT_TRUE(WaitStopped(b_job)) << EmulatorStatus(b_job);
  EXPECT_TRUE(WaitStopped(c_job)) << EmulatorStatus(c_job);
  EXPECT_TRUE(WaitPhase("b", "Removed"));
  EXPECT_TRUE(WaitPhase("c", "Removed"));
}

TEST_F(KubectlWriteE2eTest, ServerSideApplyConflictAndForceConflicts) {
  ASSERT_NO_FATAL_FAILURE(Begin({{"jobs/keep.yaml", JobManifest("keep")}}));
  int n = Commits();
  WriteFile(tmp_ / "in/s.yaml", Job("s"));
  EXPECT_EQ(Ok("apply --server-side -f " + In("s.yaml")),
            "mlspacejob.mlspace.io/s serverside-applied\n");
  ExpectCommit(++n, "apply", "s");
  std::string first = WaitRunning("s");

  // Another manager (kubectl patch) takes spec.image: a new job runs it.
  EXPECT_EQ(Ok("patch msj s --type=merge -p "
               "'{\"spec\":{\"image\":\"cr.ai.cloud.ru/base/py3.11:other\"}}'"),
            "mlspacejob.mlspace.io/s patched\n");
  ExpectCommit(++n, "patch", "s");
  std::string second = WaitRunning("s", first);

  WriteFile(tmp_ / "in/s.yaml", Job("s", "", "py3.11:mine"));
  Run3 conflict = K("apply --server-side -f " + In("s.yaml"));
  EXPECT_NE(conflict.rc, 0);
  EXPECT_NE(conflict.err.find("Apply failed with 1 conflict"), std::string::npos) << conflict.err;
  EXPECT_NE(conflict.err.find(".spec.image"), std::string::npos) << conflict.err;
  EXPECT_EQ(Commits(), n);

  EXPECT_EQ(Ok("apply --server-side --force-conflicts -f " + In("s.yaml")),
            "mlspacejob.mlspace.io/s serverside-applied\n");
  ExpectCommit(++n, "apply", "s");
  EXPECT_NE(AtHead("default/s.yaml").find("py3.11:mine"), std::string::npos);
  std::string third = WaitRunning("s", second);
  nlohmann::json o = controller_->Object("s");
  EXPECT_EQ(o["spec"].value("image", ""), "cr.ai.cloud.ru/base/py3.11:mine") << o.dump();
}

// The product bug of issue 13: deleting the LAST manifest through the API
// was committed, then the prune guard refused the empty revision
// (EmptyRevision) and the job kept running. Default --prune-max-fraction.
TEST_F(KubectlWriteE2eTest, DeletingTheLastManifestCancelsItsJob) {
  ASSERT_NO_FATAL_FAILURE(Begin({{"jobs/only.yaml", JobManifest("only")}}));
  int n = Commits();
  std::string job = WaitRunning("only");
  EXPECT_EQ(Ok("delete msj only"), "mlspacejob.mlspace.io \"only\" deleted\n");
  ExpectCommit(++n, "delete", "only");
  EXPECT_EQ(AtHead("jobs/only.yaml"), "");
  EXPECT_TRUE(WaitStopped(job)) << EmulatorStatus(job);
  EXPECT_TRUE(WaitPhase("only", "Removed")) << controller_->Phase("only");
  EXPECT_EQ(ReadFile(controller_->process().log_path()).find("PruneRefused"), std::string::npos);

  // An emptying commit from elsewhere is still refused.
  WriteFile(tmp_ / "in/x.yaml", Job("x"));
  EXPECT_EQ(Ok("apply -f " + In("x.yaml")), "mlspacejob.mlspace.io/x created\n");
  std::string x_job = WaitRunning("x");
  repo_.Remove("default/x.yaml");
  repo_.Commit("remove x by hand");
  EXPECT_TRUE(WaitFor(
      [&] {
        nlohmann::json o = controller_->Object("x");
        if (!o.is_object()) return false;
        for (const auto& c : o["status"].value("conditions", nlohmann::json::array())) {
          if (c.value("reason", "") == "PruneRefused") return true;
        }
        return false;
      },
      20s))
      << controller_->Object("x").dump();
  EXPECT_EQ(EmulatorStatus(x_job), "Running");
}

// --api-write=push against a bare repository over file://, with pushes from
// elsewhere in between: a write that rebases cleanly lands on top of them,
// one that conflicts is refused (409) and nothing is lost either way.
TEST_F(KubectlWriteE2eTest, PushModeRebasesOverAConcurrentPushOrRefusesNothingLost) {
  ASSERT_NO_FATAL_FAILURE(Begin({{"jobs/keep.yaml", JobManifest("keep")}}, {}, true));
  int n = Commits();
  WriteFile(tmp_ / "in/a.yaml", Job("a"));
  EXPECT_EQ(Ok("apply -f " + In("a.yaml")), "mlspacejob.mlspace.io/a created\n");
  ExpectCommit(++n, "create", "a");
  std::string a_job = WaitRunning("a");

  // Elsewhere: a new manifest pushed while the controller's clone is behind.
  ASSERT_EQ(Sh("git -C " + Q(repo_.path()) + " pull -q --rebase origin main"), 0);
  repo_.Write("jobs/other.yaml", JobManifest("other"));
  repo_.Commit("other by hand");
  ASSERT_EQ(Sh("git -C " + Q(repo_.path()) + " push -q origin main"), 0);
  ++n;
  // The API write is rebased onto it and pushed: both survive.
  EXPECT_EQ(Ok("label msj a team=ml"), "mlspacejob.mlspace.io/a labeled\n");
  ExpectCommit(++n, "patch", "a");
  EXPECT_NE(AtHead("jobs/other.yaml"), "") << "the concurrent push is kept";
  EXPECT_NE(ReadFile(controller_->process().log_path()).find("push rejected, rebasing"),
            std::string::npos);
  EXPECT_NE(AtHead("default/a.yaml").find("team: ml"), std::string::npos);
  WaitRunning("other");
  EXPECT_EQ(RemoteJob("a"), a_job) << "a label does not resubmit";

  // Elsewhere: the same document changed and pushed. The API's next write
  // to it is either refused (409: its base was behind and the document
  // differs at the new head) or, when the controller had fetched already,
  // made on top of it; the other change survives both ways.
  ASSERT_EQ(Sh("git -C " + Q(repo_.path()) + " pull -q --rebase origin main"), 0);
  std::string theirs = ReadFile(repo_.path() + "/default/a.yaml");
  ASSERT_NE(theirs.find("py3.11:1"), std::string::npos) << theirs;
  theirs.replace(theirs.find("py3.11:1"), 8, "py3.11:theirs");
  repo_.Write("default/a.yaml", theirs);
  repo_.Commit("image by hand");
  ASSERT_EQ(Sh("git -C " + Q(repo_.path()) + " push -q origin main"), 0);
  ++n;
  Run3 r = K("annotate msj a note=mine");
  std::string at_remote = AtHead("default/a.yaml");
  EXPECT_NE(at_remote.find("py3.11:theirs"), std::string::npos)
      << "the concurrent push is never overwritten:\n"
      << at_remote;
  if (r.rc == 0) {
    ExpectCommit(++n, "patch", "a");
    EXPECT_NE(at_remote.find("note: mine"), std::string::npos) << at_remote;
  } else {
    EXPECT_NE(r.err.find("Conflict"), std::string::npos) << r.out << r.err;
    EXPECT_EQ(Commits(), n);
  }

  // A delete in push mode: pushed, and the controller cancels the job.
  std::string job_now = RemoteJob("a");
  EXPECT_EQ(Ok("delete msj a"), "mlspacejob.mlspace.io \"a\" deleted\n");
  EXPECT_EQ(AtHead("default/a.yaml"), "");
  EXPECT_EQ(LastSubject().rfind("delete default/a by anonymous", 0), 0u) << LastSubject();
  EXPECT_TRUE(WaitStopped(job_now)) << EmulatorStatus(job_now);
  EXPECT_NE(AtHead("jobs/other.yaml"), "");
}

}  // namespace
}  // namespace mlspace::e2e
