// The write verbs through ApiHandler::Handle, with a fake ManifestWriter
// (tests/fakes) standing in for git: every verb, dry run, validation,
// optimistic concurrency, server-side apply and each error shape kubectl
// reads. The git write-back itself is tested in tests/source.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/api/manifest.h"
#include "controller/api/yaml_json.h"
#include "controller/apiserver/handler.h"
#include "controller/apiserver/server.h"
#include "controller/apiserver/writes.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_manifest_writer.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;

const std::string kR = "/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs";

// As committed: a comment, and defaultable fields (workers, type) left out,
// so a patch that rewrote the defaulted object would show.
constexpr char kLlamaYaml[] =
    "apiVersion: mlspace.io/v1alpha1\n"
    "kind: MLSpaceJob\n"
    "metadata:\n"
    "  name: llama\n"
    "  namespace: nlp\n"
    "  labels:\n"
    "    team: nlp\n"
    "spec:\n"
    "  region: SR006\n"
    "  image: img\n"
    "  instanceType: a100.1gpu\n"
    "  command: [python, train.py]\n";

json NewJob(const std::string& name) {
  return json::parse(R"({"apiVersion":"mlspace.io/v1alpha1","kind":"MLSpaceJob",
      "metadata":{"name":")" +
                     name + R"(","labels":{"team":"cv"}},
      "spec":{"region":"SR006","image":"img","instanceType":"cpu","command":["python","t.py"]}})");
}

class WritesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::ObjectRecord r;
    r.key = ObjectKey{"nlp", "llama"};
    r.generation = 3;
    r.spec_json = R"({"region":"SR006"})";
    r.source_path = "nlp/llama.yaml";
    r.labels = {{"team", "nlp"}};
    r.region = "SR006";
    r.created_at = clock_.Now();
    auto job = api::ParseObject(*api::internal::YamlToJson(kLlamaYaml), "t");
    ASSERT_TRUE(job.ok()) << job.status().message();
    r.spec_hash = job->spec_hash;
    store::ObjectRecord bert = r;
    bert.key.name = "bert";
    bert.labels = {{"team", "nlp"}, {"size", "s"}};
    store::ObjectRecord yolo = r;
    yolo.key.name = "yolo";
    yolo.labels = {{"team", "cv"}};
    store::WriteBatch b;
    b.upserts = {r, bert, yolo};
    ASSERT_TRUE(store_.Write(b).ok());
    writer_->Put(ObjectKey{"nlp", "llama"}, kLlamaYaml);
    std::string bert_yaml = kLlamaYaml;
    bert_yaml.replace(bert_yaml.find("llama"), 5, "bert");
    writer_->Put(ObjectKey{"nlp", "bert"}, bert_yaml);
    std::string yolo_yaml = kLlamaYaml;
    yolo_yaml.replace(yolo_yaml.find("llama"), 5, "yolo");
    writer_->Put(ObjectKey{"nlp", "yolo"}, yolo_yaml);
  }

  std::string Rv(const std::string& name) {
    auto rec = store_.Get(ObjectKey{"nlp", name});
    return std::to_string((*rec)->resource_version);
  }

  ApiResponse Do(const std::string& method, const std::string& path, const std::string& body,
                 const std::string& content_type = "application/json",
                 std::multimap<std::string, std::string> query = {}) {
    ApiRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.query = std::move(query);
    req.headers["content-type"] = content_type;
    req.headers["user-agent"] = "kubectl/v1.32.3 (linux/amd64) kubernetes/32cc146";
    return handler_.Handle(req);
  }

  json Committed(const std::string& name) {
    auto y = writer_->Yaml(ObjectKey{"nlp", name});
    if (!y) return nullptr;
    return *api::internal::YamlToJson(*y);
  }

  testing::FakeClock clock_;
  testing::FakeStateStore store_;
  std::shared_ptr<testing::FakeManifestWriter> writer_ =
      std::make_shared<testing::FakeManifestWriter>();
  std::vector<std::pair<std::string, int>> observed_;
  std::mutex observed_mu_;
  ApiHandler handler_{store_, clock_, ControllerHooks{}, [this] {
                        HandlerOptions o;
                        o.writer = writer_;
                        o.on_write = [this](std::string_view verb, int code) {
                          std::lock_guard<std::mutex> lock(observed_mu_);
                          observed_.emplace_back(std::string(verb), code);
                        };
                        // As the backends' catalog does: region "mars-1" is
                        // mapped by no backend.
                        o.job_check = [](const api::JobSpec& spec) {
                          if (spec.region == "mars-1") {
                            return InvalidArgumentError(
                                "spec.region: backend default does not map region \"mars-1\"");
                          }
                          return OkStatus();
                        };
                        return o;
                      }()};
};

TEST_F(WritesTest, CreateCommitsNewDocumentAndAnswers201) {
  auto r = Do("POST", kR, NewJob("fresh").dump(), "application/json",
              {{"fieldManager", "kubectl-create"}, {"fieldValidation", "Strict"}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto obj = json::parse(r.body);
  EXPECT_EQ(obj["metadata"]["name"], "fresh");
  EXPECT_EQ(obj["metadata"]["namespace"], "nlp");
  EXPECT_EQ(obj["metadata"]["generation"], 1);
  EXPECT_EQ(obj["metadata"]["labels"]["team"], "cv");
  EXPECT_EQ(obj["spec"]["workers"], 1);  // served defaulted
  auto writes = writer_->writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].op, api::WriteOp::kCreate);
  EXPECT_EQ(writes[0].verb, "create");
  EXPECT_EQ(writes[0].key, (ObjectKey{"nlp", "fresh"}));
  EXPECT_FALSE(writes[0].expected_yaml.has_value());
  json committed = Committed("fresh");
  EXPECT_EQ(committed["metadata"]["namespace"], "nlp");
  EXPECT_FALSE(committed["spec"].contains("workers"));  // committed as sent, not defaulted
  EXPECT_FALSE(committed.contains("status"));
}

TEST_F(WritesTest, CreateOfExistingNameIsAlreadyExists) {
  auto r = Do("POST", kR, NewJob("llama").dump());
  ASSERT_EQ(r.status, 409) << r.body;
  auto s = json::parse(r.body);
  EXPECT_EQ(s["reason"], "AlreadyExists");
  EXPECT_EQ(s["message"], "mlspacejobs.mlspace.io \"llama\" already exists");
  EXPECT_TRUE(writer_->writes().empty());
}

TEST_F(WritesTest, InvalidObjectIs422WithFieldCausesAndNothingWritten) {
  json job = NewJob("bad-2");
  job["spec"]["region"] = "mars-1";
  job["spec"]["workers"] = 0;
  auto r = Do("POST", kR, job.dump());
  ASSERT_EQ(r.status, 422) << r.body;
  auto s = json::parse(r.body);
  EXPECT_EQ(s["reason"], "Invalid");
  EXPECT_EQ(s["details"]["kind"], "MLSpaceJob");
  EXPECT_EQ(s["details"]["name"], "bad-2");
  std::set<std::string> fields;
  for (const auto& c : s["details"]["causes"]) fields.insert(c["field"].get<std::string>());
  // The region is not the CRD's to check (a backend maps it: job_check).
  EXPECT_EQ(fields, (std::set<std::string>{"spec.workers"}));
  EXPECT_NE(s["message"].get<std::string>().find("MLSpaceJob.mlspace.io \"bad-2\" is invalid"),
            std::string::npos);
  EXPECT_TRUE(writer_->writes().empty());
}

// A manifest the controller's own checks (the backends) would mark Invalid
// is refused at the API with the same field, and nothing is written.
TEST_F(WritesTest, ControllerJobCheckRefusesWhatACommittedManifestWouldNotRun) {
  json job = NewJob("bad-3");
  job["spec"]["region"] = "mars-1";
  auto r = Do("POST", kR, job.dump());
  ASSERT_EQ(r.status, 422) << r.body;
  auto s = json::parse(r.body);
  ASSERT_EQ(s["details"]["causes"].size(), 1u) << r.body;
  EXPECT_EQ(s["details"]["causes"][0]["field"], "spec.region");
  EXPECT_NE(s["message"].get<std::string>().find("does not map region"), std::string::npos);
  EXPECT_TRUE(writer_->writes().empty());
}

TEST_F(WritesTest, NamesThatAreNotDns1123AreRefusedBeforeTheWriter) {
  auto r = Do("POST", kR, NewJob("Bad_Name").dump());
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(json::parse(r.body)["details"]["causes"][0]["field"], "metadata.name");
  auto ns =
      Do("POST", "/apis/mlspace.io/v1alpha1/namespaces/Bad_NS/mlspacejobs", NewJob("ok").dump());
  ASSERT_EQ(ns.status, 422) << ns.body;
  EXPECT_EQ(json::parse(ns.body)["details"]["causes"][0]["field"], "metadata.namespace");
  auto url = Do("DELETE", kR + "/UPPER", "");
  EXPECT_EQ(url.status, 422) << url.body;
  EXPECT_TRUE(writer_->writes().empty());
  EXPECT_EQ(writer_->finds(), 0);
}

TEST_F(WritesTest, NamespaceMismatchIsBadRequest) {
  json job = NewJob("x");
  job["metadata"]["namespace"] = "other";
  auto r = Do("POST", kR, job.dump());
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(WritesTest, UnknownFieldStrictWarnIgnore) {
  json job = NewJob("extra");
  job["spec"]["wrokers"] = 2;
  auto strict = Do("POST", kR, job.dump(), "application/json", {{"fieldValidation", "Strict"}});
  ASSERT_EQ(strict.status, 400) << strict.body;
  EXPECT_EQ(json::parse(strict.body)["message"],
            "strict decoding error: unknown field \"spec.wrokers\"");
  EXPECT_TRUE(writer_->writes().empty());

  auto warn = Do("POST", kR, job.dump(), "application/json", {{"fieldValidation", "Warn"}});
  ASSERT_EQ(warn.status, 201) << warn.body;
  EXPECT_EQ(warn.headers["Warning"], "299 - \"unknown field \\\"spec.wrokers\\\"\"");
  EXPECT_FALSE(Committed("extra")["spec"].contains("wrokers"));

  job["metadata"]["name"] = "extra2";
  auto ignore = Do("POST", kR, job.dump(), "application/json", {{"fieldValidation", "Ignore"}});
  ASSERT_EQ(ignore.status, 201) << ignore.body;
  EXPECT_EQ(ignore.headers.count("Warning"), 0u);
  EXPECT_FALSE(Committed("extra2")["spec"].contains("wrokers"));

  auto bad = Do("POST", kR, job.dump(), "application/json", {{"fieldValidation", "Loose"}});
  EXPECT_EQ(bad.status, 400);
}

TEST_F(WritesTest, MergePatchEditsTheCommittedDocumentOnly) {
  auto r = Do("PATCH", kR + "/llama",
              R"({"metadata":{"labels":{"size":"xl"}},"spec":{"runPolicy":{"suspend":true}}})",
              "application/merge-patch+json", {{"fieldManager", "kubectl-patch"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto writes = writer_->writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].op, api::WriteOp::kUpdate);
  EXPECT_EQ(writes[0].verb, "patch");
  EXPECT_EQ(writes[0].expected_yaml, std::string(kLlamaYaml));
  EXPECT_EQ(writes[0].path_hint, "nlp/llama.yaml");
  json committed = Committed("llama");
  EXPECT_EQ(committed["metadata"]["labels"]["size"], "xl");
  EXPECT_EQ(committed["spec"]["runPolicy"], json({{"suspend", true}}));
  // Not the defaulted served object: no defaults, no server metadata.
  EXPECT_FALSE(committed["spec"].contains("workers"));
  EXPECT_FALSE(committed["metadata"].contains("resourceVersion"));
  EXPECT_FALSE(committed.contains("status"));
  auto obj = json::parse(r.body);
  EXPECT_EQ(obj["metadata"]["labels"]["size"], "xl");
  EXPECT_EQ(obj["metadata"]["generation"], 3);  // suspend is not a new generation
  EXPECT_EQ(obj["metadata"]["resourceVersion"], Rv("llama"));
}

TEST_F(WritesTest, SpecChangeBumpsGenerationInTheAnswer) {
  auto r = Do("PATCH", kR + "/llama", R"({"spec":{"workers":4}})", "application/merge-patch+json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["metadata"]["generation"], 4);
  EXPECT_EQ(json::parse(r.body)["spec"]["workers"], 4);
}

TEST_F(WritesTest, UnchangedPatchCommitsNothing) {
  auto r = Do("PATCH", kR + "/llama", R"({"metadata":{"labels":{"team":"nlp"}}})",
              "application/merge-patch+json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(writer_->writes().empty());
}

TEST_F(WritesTest, PatchCarryingStaleResourceVersionIsConflict) {
  auto r =
      Do("PATCH", kR + "/llama", R"({"metadata":{"resourceVersion":"99999","labels":{"a":"b"}}})",
         "application/merge-patch+json");
  ASSERT_EQ(r.status, 409) << r.body;
  auto s = json::parse(r.body);
  EXPECT_EQ(s["reason"], "Conflict");
  EXPECT_NE(s["message"].get<std::string>().find(
                "the object has been modified; please apply your changes to the latest version "
                "and try again"),
            std::string::npos);
  EXPECT_TRUE(writer_->writes().empty());
  auto ok = Do("PATCH", kR + "/llama",
               R"({"metadata":{"resourceVersion":")" + Rv("llama") + R"(","labels":{"a":"b"}}})",
               "application/merge-patch+json");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_FALSE(Committed("llama")["metadata"].contains("resourceVersion"));
}

TEST_F(WritesTest, PutWithStaleResourceVersionIsConflictAndCurrentOneWrites) {
  json obj = *api::internal::YamlToJson(kLlamaYaml);
  obj["spec"]["image"] = "img2";
  obj["metadata"]["resourceVersion"] = "999";
  auto stale = Do("PUT", kR + "/llama", obj.dump(), "application/json",
                  {{"fieldManager", "kubectl-replace"}});
  ASSERT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(json::parse(stale.body)["reason"], "Conflict");
  EXPECT_TRUE(writer_->writes().empty());
  obj["metadata"]["resourceVersion"] = Rv("llama");
  auto ok = Do("PUT", kR + "/llama", obj.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Committed("llama")["spec"]["image"], "img2");
  EXPECT_EQ(writer_->writes()[0].verb, "update");
}

TEST_F(WritesTest, PutOfMissingObjectIsNotFoundAndNameMismatchBadRequest) {
  auto missing = Do("PUT", kR + "/ghost", NewJob("ghost").dump());
  EXPECT_EQ(missing.status, 404) << missing.body;
  auto mismatch = Do("PUT", kR + "/llama", NewJob("other").dump());
  EXPECT_EQ(mismatch.status, 400) << mismatch.body;
}

TEST_F(WritesTest, JsonPatch) {
  auto r = Do("PATCH", kR + "/llama",
              R"([{"op":"replace","path":"/spec/image","value":"img3"},
                  {"op":"add","path":"/metadata/annotations","value":{"a":"b"}}])",
              "application/json-patch+json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Committed("llama")["spec"]["image"], "img3");
  EXPECT_EQ(Committed("llama")["metadata"]["annotations"]["a"], "b");
  auto failing =
      Do("PATCH", kR + "/llama", R"([{"op":"test","path":"/spec/image","value":"nope"}])",
         "application/json-patch+json");
  EXPECT_EQ(failing.status, 422) << failing.body;
  auto stale = Do("PATCH", kR + "/llama",
                  R"([{"op":"test","path":"/metadata/resourceVersion","value":"99999"}])",
                  "application/json-patch+json");
  EXPECT_EQ(stale.status, 422) << stale.body;
}

TEST_F(WritesTest, JsonPatchSeesDefaultsButCommitsOnlyWhatItChanged) {
  // workers and type are defaults of the served object, absent from git.
  auto r = Do("PATCH", kR + "/llama",
              R"([{"op":"test","path":"/spec/type","value":"binary"},
                  {"op":"replace","path":"/spec/workers","value":2}])",
              "application/json-patch+json");
  ASSERT_EQ(r.status, 200) << r.body;
  json committed = Committed("llama");
  EXPECT_EQ(committed["spec"]["workers"], 2);
  EXPECT_FALSE(committed["spec"].contains("type")) << committed.dump();
}

TEST_F(WritesTest, PatchMakingObjectInvalidIs422) {
  auto r = Do("PATCH", kR + "/llama", R"({"spec":{"workers":0}})", "application/merge-patch+json");
  ASSERT_EQ(r.status, 422) << r.body;
  auto s = json::parse(r.body);
  EXPECT_EQ(s["details"]["causes"][0]["field"], "spec.workers");
  EXPECT_EQ(s["details"]["name"], "llama");
  EXPECT_TRUE(writer_->writes().empty());
  EXPECT_EQ(*writer_->Yaml(ObjectKey{"nlp", "llama"}), kLlamaYaml);
}

TEST_F(WritesTest, StrategicMergePatchIs415) {
  auto r = Do("PATCH", kR + "/llama", R"({"spec":{"workers":2}})",
              "application/strategic-merge-patch+json");
  ASSERT_EQ(r.status, 415) << r.body;
  EXPECT_EQ(json::parse(r.body)["reason"], "UnsupportedMediaType");
  EXPECT_NE(r.body.find("application/merge-patch+json"), std::string::npos);
}

TEST_F(WritesTest, StatusSubresourceStaysReadOnly) {
  for (const char* m : {"PUT", "PATCH", "POST", "DELETE"}) {
    auto r = Do(m, kR + "/llama/status", R"({"status":{}})", "application/merge-patch+json");
    EXPECT_EQ(r.status, 405) << m;
    EXPECT_EQ(json::parse(r.body)["reason"], "MethodNotAllowed");
  }
  EXPECT_TRUE(writer_->writes().empty());
}

TEST_F(WritesTest, DryRunWritesNothingAndAnswersTheWouldBeObject) {
  std::multimap<std::string, std::string> dry{{"dryRun", "All"}};
  auto create = Do("POST", kR, NewJob("fresh").dump(), "application/json", dry);
  EXPECT_EQ(create.status, 201) << create.body;
  auto patch =
      Do("PATCH", kR + "/llama", R"({"spec":{"workers":5}})", "application/merge-patch+json", dry);
  ASSERT_EQ(patch.status, 200) << patch.body;
  EXPECT_EQ(json::parse(patch.body)["spec"]["workers"], 5);
  EXPECT_EQ(json::parse(patch.body)["metadata"]["generation"], 4);
  auto apply = Do("PATCH", kR + "/llama", NewJob("llama").dump(), "application/apply-patch+yaml",
                  {{"dryRun", "All"}, {"fieldManager", "kubectl"}, {"force", "true"}});
  EXPECT_EQ(apply.status, 200) << apply.body;
  auto del =
      Do("DELETE", kR + "/llama", R"({"propagationPolicy":"Background"})", "application/json", dry);
  EXPECT_EQ(del.status, 200) << del.body;
  auto del_body = Do("DELETE", kR + "/llama", R"({"dryRun":["All"]})");
  EXPECT_EQ(del_body.status, 200) << del_body.body;
  EXPECT_TRUE(writer_->writes().empty());
  EXPECT_EQ(*writer_->Yaml(ObjectKey{"nlp", "llama"}), kLlamaYaml);
  EXPECT_EQ(Do("POST", kR, NewJob("x").dump(), "application/json", {{"dryRun", "Some"}}).status,
            400);
}

TEST_F(WritesTest, ServerSideApplyCreatesWithManagedFields) {
  json job = NewJob("ssa");
  auto r = Do("PATCH", kR + "/ssa", job.dump(), "application/apply-patch+yaml",
              {{"fieldManager", "kubectl"}, {"force", "false"}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto obj = json::parse(r.body);
  ASSERT_TRUE(obj["metadata"]["managedFields"].is_array());
  EXPECT_EQ(obj["metadata"]["managedFields"][0]["manager"], "kubectl");
  EXPECT_EQ(obj["metadata"]["managedFields"][0]["operation"], "Apply");
  auto writes = writer_->writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].op, api::WriteOp::kCreate);
  EXPECT_EQ(writes[0].verb, "apply");
  // Persisted in the document, so a restart keeps ownership.
  EXPECT_EQ(Committed("ssa")["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:region"],
            json::object());

  // Re-apply without the label: this manager's label goes.
  job["metadata"].erase("labels");
  auto again = Do("PATCH", kR + "/ssa", job.dump(), "application/apply-patch+yaml",
                  {{"fieldManager", "kubectl"}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_FALSE(Committed("ssa")["metadata"].contains("labels"));
}

TEST_F(WritesTest, ServerSideApplyConflictAndForce) {
  json job = *api::internal::YamlToJson(kLlamaYaml);
  job["spec"]["instanceType"] = "a100.8gpu";
  auto r = Do("PATCH", kR + "/llama", job.dump(), "application/apply-patch+yaml",
              {{"fieldManager", "kubectl"}, {"force", "false"}});
  ASSERT_EQ(r.status, 409) << r.body;
  auto s = json::parse(r.body);
  EXPECT_EQ(s["reason"], "Conflict");
  EXPECT_EQ(s["message"],
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using "
            "mlspace.io/v1alpha1: .spec.instanceType");
  EXPECT_EQ(s["details"]["causes"][0]["reason"], "FieldManagerConflict");
  EXPECT_EQ(s["details"]["causes"][0]["field"], ".spec.instanceType");
  EXPECT_TRUE(writer_->writes().empty());

  auto forced = Do("PATCH", kR + "/llama", job.dump(), "application/apply-patch+yaml",
                   {{"fieldManager", "kubectl"}, {"force", "true"}});
  ASSERT_EQ(forced.status, 200) << forced.body;
  json committed = Committed("llama");
  EXPECT_EQ(committed["spec"]["instanceType"], "a100.8gpu");
  bool kubectl_owns = false;
  for (const auto& e : committed["metadata"]["managedFields"]) {
    if (e["manager"] == "kubectl") {
      kubectl_owns = e["fieldsV1"]["f:spec"].contains("f:instanceType");
    } else {
      EXPECT_FALSE(e["fieldsV1"]["f:spec"].contains("f:instanceType")) << e.dump();
    }
  }
  EXPECT_TRUE(kubectl_owns);

  // A later merge patch by another manager takes the field it changes.
  auto label = Do("PATCH", kR + "/llama", R"({"spec":{"instanceType":"cpu"}})",
                  "application/merge-patch+json", {{"fieldManager", "kubectl-patch"}});
  ASSERT_EQ(label.status, 200) << label.body;
  auto conflict = Do("PATCH", kR + "/llama", job.dump(), "application/apply-patch+yaml",
                     {{"fieldManager", "kubectl"}});
  ASSERT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_NE(conflict.body.find("kubectl-patch"), std::string::npos);
}

TEST_F(WritesTest, ApplyNeedsFieldManagerAndForceOnlyForApply) {
  EXPECT_EQ(
      Do("PATCH", kR + "/llama", NewJob("llama").dump(), "application/apply-patch+yaml").status,
      400);
  EXPECT_EQ(
      Do("PATCH", kR + "/llama", "{}", "application/merge-patch+json", {{"force", "true"}}).status,
      400);
}

TEST_F(WritesTest, DeleteRemovesTheDocument) {
  auto r = Do("DELETE", kR + "/llama", R"({"propagationPolicy":"Background"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto s = json::parse(r.body);
  EXPECT_EQ(s["status"], "Success");
  EXPECT_EQ(s["details"]["name"], "llama");
  EXPECT_EQ(s["details"]["kind"], "mlspacejobs");
  auto writes = writer_->writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].op, api::WriteOp::kDelete);
  EXPECT_EQ(writes[0].expected_yaml, std::string(kLlamaYaml));
  EXPECT_FALSE(writer_->Yaml(ObjectKey{"nlp", "llama"}).has_value());
  auto missing = Do("DELETE", kR + "/llama", "");
  ASSERT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(json::parse(missing.body)["message"], "mlspacejobs.mlspace.io \"llama\" not found");
}

TEST_F(WritesTest, DeletePreconditionResourceVersion) {
  auto r = Do("DELETE", kR + "/llama", R"({"preconditions":{"resourceVersion":"99999"}})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_TRUE(writer_->writes().empty());
}

TEST_F(WritesTest, DeleteCollectionByLabelSelector) {
  auto r = Do("DELETE", kR, "", "application/json", {{"labelSelector", "team=nlp"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto list = json::parse(r.body);
  EXPECT_EQ(list["kind"], "MLSpaceJobList");
  EXPECT_EQ(list["items"].size(), 2u);
  EXPECT_FALSE(writer_->Yaml(ObjectKey{"nlp", "llama"}).has_value());
  EXPECT_FALSE(writer_->Yaml(ObjectKey{"nlp", "bert"}).has_value());
  EXPECT_TRUE(writer_->Yaml(ObjectKey{"nlp", "yolo"}).has_value());
  for (const auto& w : writer_->writes()) EXPECT_EQ(w.verb, "deletecollection");
}

TEST_F(WritesTest, WriterErrorsMapToKubernetesStatuses) {
  struct Case {
    Status status;
    int code;
    const char* reason;
  };
  std::vector<Case> cases{
      {AbortedError("nlp/llama.yaml has uncommitted edits"), 409, "Conflict"},
      {NotFoundError("gone"), 404, "NotFound"},
      {AlreadyExistsError("there"), 409, "AlreadyExists"},
      {FailedPreconditionError("API writes are off (--api-write=off)"), 405, "MethodNotAllowed"},
      {UnavailableError("push: remote unreachable"), 503, "ServiceUnavailable"},
      {InternalError("disk"), 500, "InternalError"},
  };
  for (const auto& c : cases) {
    writer_->FailNextWrite(c.status);
    auto r =
        Do("PATCH", kR + "/llama", R"({"spec":{"workers":2}})", "application/merge-patch+json");
    EXPECT_EQ(r.status, c.code) << c.status.message() << " " << r.body;
    auto s = json::parse(r.body);
    EXPECT_EQ(s["reason"], c.reason) << r.body;
    if (c.code == 409 && std::string(c.reason) == "Conflict") {
      EXPECT_NE(s["message"].get<std::string>().find("uncommitted edits"), std::string::npos);
    }
  }
  EXPECT_EQ(*writer_->Yaml(ObjectKey{"nlp", "llama"}), kLlamaYaml);
}

TEST_F(WritesTest, ConcurrentGitEditIsAbortedNotOverwritten) {
  // The document changes between Find and Write: the fake refuses the
  // stale expected_yaml exactly as the git writer does.
  writer_->FailFind(Status());
  std::string edited = std::string(kLlamaYaml) + "  workingDir: /x\n";
  writer_->Touch(ObjectKey{"nlp", "llama"}, edited);
  auto r = Do("PATCH", kR + "/llama", R"({"spec":{"workers":2}})", "application/merge-patch+json");
  ASSERT_EQ(r.status, 200) << r.body;  // read after the edit: applies on top of it
  EXPECT_EQ(Committed("llama")["spec"]["workingDir"], "/x");
}

TEST_F(WritesTest, OversizedBodyIs413) {
  std::string big(kMaxWriteBodyBytes + 1, ' ');
  auto r = Do("POST", kR, big);
  ASSERT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["reason"], "RequestEntityTooLarge");
}

TEST_F(WritesTest, RefusedAndAcceptedWritesAreObserved) {
  Do("PATCH", kR + "/llama", R"({"spec":{"workers":2}})", "application/merge-patch+json");
  Do("DELETE", kR + "/ghost", "");
  std::lock_guard<std::mutex> lock(observed_mu_);
  ASSERT_EQ(observed_.size(), 2u);
  EXPECT_EQ(observed_[0], (std::pair<std::string, int>{"patch", 200}));
  EXPECT_EQ(observed_[1], (std::pair<std::string, int>{"delete", 404}));
}

TEST_F(WritesTest, ConcurrentPatchesAreSerialized) {
  constexpr int kThreads = 6, kEach = 5;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string label = "l" + std::to_string(t) + "-" + std::to_string(i);
        auto r = Do("PATCH", kR + "/llama", R"({"metadata":{"labels":{")" + label + R"(":"v"}}})",
                    "application/merge-patch+json");
        if (r.status == 200) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  EXPECT_EQ(Committed("llama")["metadata"]["labels"].size(), 1u + kThreads * kEach);
}

TEST(WritesReadOnlyTest, WithoutWriterWritesStay405AndDiscoveryListsVerbs) {
  testing::FakeClock clock;
  testing::FakeStateStore store;
  ApiHandler handler(store, clock, ControllerHooks{}, HandlerOptions{});
  ApiRequest req;
  req.method = "POST";
  req.path = kR;
  req.body = NewJob("x").dump();
  EXPECT_EQ(handler.Handle(req).status, 405);
  auto verbs =
      json::parse(AggregatedDiscovery())["items"][0]["versions"][0]["resources"][0]["verbs"];
  for (const char* v :
       {"create", "update", "patch", "delete", "deletecollection", "get", "list", "watch"}) {
    EXPECT_NE(std::find(verbs.begin(), verbs.end(), v), verbs.end()) << v;
  }
  auto legacy = json::parse(ApiResourceList())["resources"][0]["verbs"];
  EXPECT_NE(std::find(legacy.begin(), legacy.end(), "patch"), legacy.end());
}

TEST_F(WritesTest, ServerRefusesDeclaredOversizedBodyWithoutReadingIt) {
  auto server = ApiServer::Start(handler_, ServerOptions{HostPort{"127.0.0.1", 0}, 2, ""});
  ASSERT_TRUE(server.ok()) << server.status().message();
  Poco::Net::HTTPClientSession session("127.0.0.1", (*server)->port());
  Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, kR, "HTTP/1.1");
  req.setContentType("application/json");
  req.setContentLength64(static_cast<Poco::Int64>(kMaxWriteBodyBytes) + 10);
  session.sendRequest(req);  // headers only: the server must answer without the body
  Poco::Net::HTTPResponse resp;
  std::istream& in = session.receiveResponse(resp);
  std::string body(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(resp.getStatus(), 413);
  EXPECT_NE(body.find("RequestEntityTooLarge"), std::string::npos);

  // At the limit exactly: read and handled (400: not JSON).
  Poco::Net::HTTPClientSession s2("127.0.0.1", (*server)->port());
  Poco::Net::HTTPRequest req2(Poco::Net::HTTPRequest::HTTP_POST, kR, "HTTP/1.1");
  req2.setContentType("application/json");
  std::string payload(kMaxWriteBodyBytes, ' ');
  req2.setContentLength64(static_cast<Poco::Int64>(payload.size()));
  s2.sendRequest(req2) << payload;
  Poco::Net::HTTPResponse resp2;
  std::istream& in2 = s2.receiveResponse(resp2);
  std::string body2(std::istreambuf_iterator<char>(in2), {});
  EXPECT_EQ(resp2.getStatus(), 400) << body2;
  EXPECT_TRUE(writer_->writes().empty());
}

}  // namespace
}  // namespace mlspace::apiserver
