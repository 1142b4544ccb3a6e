// The real kubectl (1.32, /usr/bin/kubectl or $MLSPACE_KUBECTL) against the
// API server on loopback, with a fake ManifestWriter standing in for git and
// a small "controller" that records each commit in the store at once (as the
// real one syncs its own commits). Checks the wire protocol of every write
// verb as kubectl speaks it; the full scenario with git commits and the
// controller acting is the e2e test of the git writer.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "controller/api/codec.h"
#include "controller/api/manifest.h"
#include "controller/api/yaml_json.h"
#include "controller/apiserver/handler.h"
#include "controller/apiserver/server.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_manifest_writer.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// $MLSPACE_KUBECTL, /usr/bin/kubectl, or the pinned kubectl 1.32 that
// scripts/tools.sh fetches and caches (as the chart tests do).
std::string FindKubectl() {
  if (const char* k = std::getenv("MLSPACE_KUBECTL"); k && *k) return k;
  if (std::filesystem::exists("/usr/bin/kubectl")) return "/usr/bin/kubectl";
  const char* src = std::getenv("MLSPACE_SOURCE_DIR");
  if (!src) return "/usr/bin/kubectl";
  std::string cmd = std::string(src) + "/scripts/tools.sh 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof(buf), p)) out += buf;
    ::pclose(p);
  }
  size_t at = out.find("KUBECTL=");
  if (at == std::string::npos) return "/usr/bin/kubectl";
  size_t end = out.find('\n', at);
  return out.substr(at + 8, end == std::string::npos ? std::string::npos : end - at - 8);
}

const std::string& Kubectl() {
  static const std::string path = FindKubectl();
  return path;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string Job(const std::string& name, const std::string& extra_meta = "",
                const std::string& image = "img:1", const std::string& extra_spec = "") {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
         "\n  namespace: default\n" + extra_meta + "spec:\n  region: SR006\n  image: " + image +
         "\n  instanceType: cpu.2C.8G\n  command: [python, train.py]\n" + extra_spec;
}

struct Result3 {
  int rc = 0;
  std::string out, err;
};

class KubectlWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(Kubectl()))
        << "no kubectl at " << Kubectl() << " (scripts/tools.sh; set MLSPACE_KUBECTL)";
    dir_ = fs::temp_directory_path() /
           ("mlspace-kubectl-write-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir_);
    // The controller's part: each commit becomes (or removes) a record.
    writer_->OnCommit([this](const api::ManifestWriteRequest& w) {
      store::WriteBatch b;
      if (w.op == api::WriteOp::kDelete) {
        b.deletes.push_back(w.key);
      } else {
        auto doc = api::internal::YamlToJson(w.yaml);
        ASSERT_TRUE(doc.ok());
        auto job = api::ParseObject(*doc, "commit");
        ASSERT_TRUE(job.ok()) << job.status().message();
        auto old = store_.Get(w.key);
        store::ObjectRecord r = old.ok() && old->has_value() ? **old : store::ObjectRecord{};
        if (!old.ok() || !old->has_value()) {
          r.created_at = clock_.Now();
          r.generation = 0;
        }
        r.key = w.key;
        if (r.spec_hash != job->spec_hash) ++r.generation;
        r.spec_hash = job->spec_hash;
        r.spec_json = api::SpecToJson(job->spec).dump();
        r.labels = job->metadata.labels;
        r.annotations = job->metadata.annotations;
        r.region = job->spec.region;
        r.source_path = w.key.namespace_name + "/" + w.key.name + ".yaml";
        b.upserts.push_back(r);
      }
      ASSERT_TRUE(store_.Write(b).ok());
    });
    auto server = ApiServer::Start(handler_, ServerOptions{HostPort{"127.0.0.1", 0}, 4, ""});
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(*server);
    WriteAll(dir_ / "kubeconfig",
             "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: "
             "http://127.0.0.1:" +
                 std::to_string(server_->port()) +
                 "\ncontexts:\n- name: c\n  context: {cluster: c, user: u, namespace: "
                 "default}\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n");
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Result3 Run(const std::string& args) {
    std::string cmd = "env KUBECONFIG=" + (dir_ / "kubeconfig").string() + " " + Kubectl() +
                      " --cache-dir " + (dir_ / "kcache").string() + " " + args + " >" +
                      (dir_ / "out").string() + " 2>" + (dir_ / "err").string();
    Result3 r;
    int st = std::system(cmd.c_str());
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = ReadAll(dir_ / "out");
    r.err = ReadAll(dir_ / "err");
    return r;
  }
  std::string Ok(const std::string& args) {
    Result3 r = Run(args);
    EXPECT_EQ(r.rc, 0) << "kubectl " << args << "\n" << r.out << r.err;
    EXPECT_EQ(r.err, "") << "kubectl " << args;
    return r.out;
  }
  json Committed(const std::string& name) {
    auto y = writer_->Yaml(ObjectKey{"default", name});
    if (!y) return nullptr;
    return *api::internal::YamlToJson(*y);
  }
  size_t Writes() { return writer_->writes().size(); }

  fs::path dir_;
  testing::FakeClock clock_;
  testing::FakeStateStore store_;
  std::shared_ptr<testing::FakeManifestWriter> writer_ =
      std::make_shared<testing::FakeManifestWriter>();
  ApiHandler handler_{store_, clock_, ControllerHooks{}, [this] {
                        HandlerOptions o;
                        o.writer = writer_;
                        return o;
                      }()};
  std::unique_ptr<ApiServer> server_;
};

TEST_F(KubectlWriteTest, ClientSideApplyLabelAnnotatePatchDiffReplaceDelete) {
  WriteAll(dir_ / "a.yaml", Job("a"));
  EXPECT_EQ(Ok("apply -f " + (dir_ / "a.yaml").string()), "mlspacejob.mlspace.io/a created\n");
  ASSERT_EQ(Writes(), 1u);
  EXPECT_EQ(writer_->writes()[0].op, api::WriteOp::kCreate);
  EXPECT_EQ(writer_->writes()[0].verb, "create");
  EXPECT_TRUE(Committed("a")["metadata"]["annotations"].contains(
      "kubectl.kubernetes.io/last-applied-configuration"));

  EXPECT_EQ(Ok("apply -f " + (dir_ / "a.yaml").string()), "mlspacejob.mlspace.io/a unchanged\n");
  EXPECT_EQ(Writes(), 1u);

  WriteAll(dir_ / "a.yaml", Job("a", "", "img:2"));
  EXPECT_EQ(Ok("apply -f " + (dir_ / "a.yaml").string()), "mlspacejob.mlspace.io/a configured\n");
  EXPECT_EQ(Committed("a")["spec"]["image"], "img:2");
  EXPECT_EQ(writer_->writes().back().verb, "patch");

  // A directory.
  WriteAll(dir_ / "dir" / "b.yaml", Job("b", "  labels: {team: b}\n"));
  WriteAll(dir_ / "dir" / "c.yaml", Job("c", "  labels: {team: b}\n"));
  std::string out = Ok("apply -f " + (dir_ / "dir").string());
  EXPECT_NE(out.find("mlspacejob.mlspace.io/b created"), std::string::npos) << out;
  EXPECT_NE(out.find("mlspacejob.mlspace.io/c created"), std::string::npos) << out;

  EXPECT_EQ(Ok("label msj a team=x"), "mlspacejob.mlspace.io/a labeled\n");
  EXPECT_EQ(Committed("a")["metadata"]["labels"]["team"], "x");
  EXPECT_EQ(Ok("annotate msj a note=hello"), "mlspacejob.mlspace.io/a annotated\n");
  EXPECT_EQ(Committed("a")["metadata"]["annotations"]["note"], "hello");

  EXPECT_EQ(Ok("patch msj a --type=merge -p '{\"spec\":{\"runPolicy\":{\"suspend\":true}}}'"),
            "mlspacejob.mlspace.io/a patched\n");
  EXPECT_EQ(Committed("a")["spec"]["runPolicy"]["suspend"], true);
  EXPECT_EQ(Ok("patch msj a --type=merge -p '{\"spec\":{\"runPolicy\":{\"suspend\":false}}}'"),
            "mlspacejob.mlspace.io/a patched\n");
  EXPECT_EQ(Committed("a")["spec"]["runPolicy"]["suspend"], false);
  EXPECT_EQ(Ok("patch msj a --type=json -p "
               "'[{\"op\":\"replace\",\"path\":\"/spec/workers\",\"value\":2}]'"),
            "mlspacejob.mlspace.io/a patched\n");
  EXPECT_EQ(Committed("a")["spec"]["workers"], 2);

  // Strategic merge patch (kubectl patch without --type): kubectl's 415 line.
  Result3 smp = Run("patch msj a -p '{\"spec\":{\"workers\":3}}'");
  EXPECT_NE(smp.rc, 0);
  EXPECT_NE(smp.err.find("application/strategic-merge-patch+json is not supported"),
            std::string::npos)
      << smp.err;

  // diff: a change shows, nothing is written.
  size_t before = Writes();
  WriteAll(dir_ / "a2.yaml", Job("a", "  labels: {team: x}\n", "img:3"));
  Result3 diff = Run("diff -f " + (dir_ / "a2.yaml").string());
  EXPECT_EQ(diff.rc, 1) << diff.out << diff.err;
  EXPECT_NE(diff.out.find("img:3"), std::string::npos) << diff.out;
  EXPECT_EQ(Writes(), before);

  // create --dry-run=server: answered, nothing written.
  WriteAll(dir_ / "d.yaml", Job("d"));
  EXPECT_EQ(Ok("create --dry-run=server -f " + (dir_ / "d.yaml").string()),
            "mlspacejob.mlspace.io/d created (server dry run)\n");
  EXPECT_EQ(Writes(), before);
  EXPECT_TRUE(Committed("d").is_null());

  // replace with a stale resourceVersion: Conflict.
  WriteAll(dir_ / "stale.yaml", Job("a", "  resourceVersion: \"1\"\n", "img:4"));
  Result3 stale = Run("replace -f " + (dir_ / "stale.yaml").string());
  EXPECT_NE(stale.rc, 0);
  EXPECT_NE(stale.err.find("Error from server (Conflict)"), std::string::npos) << stale.err;
  EXPECT_NE(stale.err.find("the object has been modified"), std::string::npos) << stale.err;
  EXPECT_EQ(Writes(), before);

  // An invalid manifest: kubectl's "is invalid" line naming the field.
  WriteAll(dir_ / "bad.yaml", Job("bad", "", "img:1", "  workers: 0\n"));
  Result3 bad = Run("apply -f " + (dir_ / "bad.yaml").string());
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.err.find("The MLSpaceJob \"bad\" is invalid"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("spec.workers"), std::string::npos) << bad.err;
  EXPECT_EQ(Writes(), before);

  EXPECT_EQ(Ok("delete msj a"), "mlspacejob.mlspace.io \"a\" deleted\n");
  EXPECT_TRUE(Committed("a").is_null());
  out = Ok("delete msj -l team=b");
  EXPECT_NE(out.find("\"b\" deleted"), std::string::npos) << out;
  EXPECT_NE(out.find("\"c\" deleted"), std::string::npos) << out;
  EXPECT_TRUE(Committed("b").is_null());
  EXPECT_TRUE(Committed("c").is_null());
  Result3 gone = Run("delete msj a");
  EXPECT_NE(gone.err.find("Error from server (NotFound)"), std::string::npos) << gone.err;
}

TEST_F(KubectlWriteTest, ServerSideApplyConflictAndForce) {
  WriteAll(dir_ / "s.yaml", Job("s"));
  EXPECT_EQ(Ok("apply --server-side -f " + (dir_ / "s.yaml").string()),
            "mlspacejob.mlspace.io/s serverside-applied\n");
  EXPECT_EQ(writer_->writes()[0].verb, "apply");
  EXPECT_EQ(Committed("s")["metadata"]["managedFields"][0]["manager"], "kubectl");
  // Another manager takes spec.image.
  EXPECT_EQ(Ok("patch msj s --type=merge -p '{\"spec\":{\"image\":\"img:other\"}}'"),
            "mlspacejob.mlspace.io/s patched\n");
  WriteAll(dir_ / "s.yaml", Job("s", "", "img:mine"));
  Result3 conflict = Run("apply --server-side -f " + (dir_ / "s.yaml").string());
  EXPECT_NE(conflict.rc, 0);
  EXPECT_NE(conflict.err.find("Apply failed with 1 conflict"), std::string::npos) << conflict.err;
  EXPECT_NE(conflict.err.find(".spec.image"), std::string::npos) << conflict.err;
  EXPECT_EQ(Committed("s")["spec"]["image"], "img:other");
  EXPECT_EQ(Ok("apply --server-side --force-conflicts -f " + (dir_ / "s.yaml").string()),
            "mlspacejob.mlspace.io/s serverside-applied\n");
  EXPECT_EQ(Committed("s")["spec"]["image"], "img:mine");
  // diff --server-side: unchanged file, no difference, nothing written.
  size_t before = Writes();
  Result3 diff = Run("diff --server-side --force-conflicts -f " + (dir_ / "s.yaml").string());
  EXPECT_EQ(diff.rc, 0) << diff.out << diff.err;
  EXPECT_EQ(Writes(), before);
}

TEST_F(KubectlWriteTest, ServerSideApplyOverClientSideApply) {
  WriteAll(dir_ / "m.yaml", Job("m"));
  Ok("apply -f " + (dir_ / "m.yaml").string());
  WriteAll(dir_ / "m.yaml", Job("m", "", "img:ssa"));
  Result3 conflict = Run("apply --server-side -f " + (dir_ / "m.yaml").string());
  EXPECT_NE(conflict.rc, 0);
  EXPECT_NE(conflict.err.find("conflict with \"before-first-apply\""), std::string::npos)
      << conflict.err;
  Result3 forced = Run("apply --server-side --force-conflicts -f " + (dir_ / "m.yaml").string());
  EXPECT_EQ(forced.rc, 0) << forced.out << forced.err;
  EXPECT_EQ(Committed("m")["spec"]["image"], "img:ssa");
}

}  // namespace
}  // namespace mlspace::apiserver
