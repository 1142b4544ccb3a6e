#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/api/codec.h"
#include "controller/api/crd.h"
#include "controller/api/manifest.h"
#include "controller/api/yaml_json.h"
#include "controller/core/time_util.h"

namespace mlspace::api {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

fs::path SourceDir() {
  const char* s = std::getenv("MLSPACE_SOURCE_DIR");
  return s ? fs::path(s) : fs::path(MLSPACE_TEST_SOURCE_DIR);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << p;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Crd, EmbeddedCopyEqualsTheFile) {
  EXPECT_EQ(CrdYaml(), ReadFile(SourceDir() / "crd/mlspace.io_mlspacejobs.yaml"));
}

TEST(Crd, DescribesTheResource) {
  auto crd = internal::YamlToJson(CrdYaml());
  ASSERT_TRUE(crd.ok()) << crd.status().ToString();
  const json& c = *crd;
  EXPECT_EQ(c["apiVersion"], "apiextensions.k8s.io/v1");
  EXPECT_EQ(c["kind"], "CustomResourceDefinition");
  EXPECT_EQ(c["metadata"]["name"], "mlspacejobs.mlspace.io");
  EXPECT_EQ(c["spec"]["group"], kGroup);
  EXPECT_EQ(c["spec"]["scope"], "Namespaced");
  EXPECT_EQ(c["spec"]["names"]["kind"], kKind);
  EXPECT_EQ(c["spec"]["names"]["listKind"], "MLSpaceJobList");
  EXPECT_EQ(c["spec"]["names"]["plural"], kPlural);
  EXPECT_EQ(c["spec"]["names"]["singular"], "mlspacejob");
  EXPECT_EQ(c["spec"]["names"]["shortNames"], json::array({"msj"}));
  ASSERT_EQ(c["spec"]["versions"].size(), 1u);
  const json& v = c["spec"]["versions"][0];
  EXPECT_EQ(v["name"], kVersion);
  EXPECT_EQ(v["served"], true);
  EXPECT_EQ(v["storage"], true);
  EXPECT_EQ(v["subresources"]["status"], json::object());
  std::vector<std::string> columns;
  for (const auto& col : v["additionalPrinterColumns"]) {
    if (!col.contains("priority")) columns.push_back(col["name"]);
  }
  EXPECT_EQ(columns, (std::vector<std::string>{"Region", "Phase", "Remote Job", "Attempt", "Age"}));
  // Every status field the controller writes is in the schema, and the
  // phase enum matches the Phase type.
  const json& status = v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
  JobStatus full;
  full.remote_job_name = "r";
  full.observed_generation = 1;
  full.synced_revision = "abc";
  full.start_time = full.completion_time = TimePoint{} + std::chrono::seconds(1);
  full.last_error = "e";
  full.exit_code = 207;
  full.conditions.push_back(Condition{"Accepted", "True", "Valid", "ok", TimePoint{}});
  json sj = StatusToJson(full);
  for (auto it = sj.begin(); it != sj.end(); ++it)
    EXPECT_TRUE(status.contains(it.key())) << it.key();
  std::vector<std::string> phases;
  for (Phase p : {Phase::kPending, Phase::kSubmitted, Phase::kRunning, Phase::kSucceeded,
                  Phase::kFailed, Phase::kSuspended, Phase::kRemoved, Phase::kInvalid}) {
    phases.emplace_back(PhaseName(p));
  }
  EXPECT_EQ(status["phase"]["enum"].get<std::vector<std::string>>(), phases);
}

TEST(Crd, EnumsMatchTheGatewayOpenApi) {
  // The CRD's enums and ranges must be the gateway's, or a manifest could
  // pass here and be refused by the service.
  json openapi = json::parse(
      ReadFile(SourceDir() / "tests/schema/testdata/gateway-v2-jobs-openapi-subset.json"));
  const json& schemas = openapi["components"]["schemas"];
  auto crd = internal::YamlToJson(CrdYaml());
  ASSERT_TRUE(crd.ok());
  const json& spec = (*crd)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
                           ["spec"]["properties"];
  // Regions are each backend's own names (docs/backends.md): the CRD takes
  // any; the Gateway's list is what mlspace/local backends accept, kept
  // equal to this enum by tests/backends (GatewayRegionsAreTheOpenApiEnum).
  EXPECT_FALSE(spec["region"].contains("enum"));
  EXPECT_EQ(spec["region"]["minLength"], 1);
  EXPECT_EQ(spec["type"]["enum"], schemas["JobType"]["enum"]);
  EXPECT_EQ(spec["priorityClass"]["enum"], schemas["JobPriority"]["enum"]);
  EXPECT_EQ(spec["healthCheck"]["properties"]["action"]["enum"],
            schemas["HealthParamsAction"]["enum"]);
  EXPECT_EQ(spec["workers"]["minimum"], 1);
  EXPECT_EQ(spec["maxRetry"]["minimum"], 3);
  EXPECT_EQ(spec["maxRetry"]["maximum"], 100);
  EXPECT_EQ(spec["healthCheck"]["properties"]["logPeriodMinutes"]["minimum"], 20);
  EXPECT_EQ(spec["healthCheck"]["properties"]["logPeriodMinutes"]["maximum"], 720);
}

TEST(Crd, ValidatorBuildsAndEverySampleIsAValidJob) {
  auto v = CrdValidator();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE((*v)->unsupported_patterns().empty());
  int samples = 0;
  for (const auto& e : fs::directory_iterator(SourceDir() / "crd/samples")) {
    if (e.path().extension() != ".yaml") continue;
    ++samples;
    std::string rel = "samples/" + e.path().filename().string();
    auto r = ParseManifestFile(rel, ReadFile(e.path()));
    ASSERT_EQ(r.documents.size(), 1u) << rel;
    const auto& d = r.documents[0];
    EXPECT_EQ(d.kind, ManifestDocument::Kind::kJob) << rel << ": " << d.Message() << d.warning;
    if (d.job) {
      EXPECT_EQ(d.job->spec.region, "SR006") << rel;
      EXPECT_THAT(d.job->spec.image, HasSubstr("cr.ai.cloud.ru/aicloud-base-images/")) << rel;
    }
  }
  EXPECT_EQ(samples, 4);
}

TEST(Crd, SamplesCoverTheirFeatures) {
  auto load = [](const char* name) {
    auto r = ParseManifestFile(name, ReadFile(SourceDir() / "crd/samples" / name));
    EXPECT_EQ(r.documents.at(0).kind, ManifestDocument::Kind::kJob) << name;
    return *r.documents.at(0).job;
  };
  EXPECT_EQ(load("hello.yaml").spec.command.at(0), "/bin/sh");
  auto env = load("env-secret.yaml");
  ASSERT_EQ(env.spec.env.size(), 2u);
  EXPECT_EQ(env.spec.env[1].secret_key_ref, (SecretKeyRef{"wandb", "api-key"}));
  EXPECT_EQ(load("multi-worker.yaml").spec.workers, 2);
  EXPECT_TRUE(load("suspended.yaml").spec.run_policy.suspend);
}

TEST(Codec, SpecRoundTrips) {
  auto r = ParseManifestFile("samples/env-secret.yaml",
                             ReadFile(SourceDir() / "crd/samples/env-secret.yaml"));
  const JobSpec& s = r.documents.at(0).job->spec;
  auto back = SpecFromJson(SpecToJson(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);
  // And the canonical form validates against the CRD's spec schema.
  auto v = CrdValidator();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(schema::JoinErrors((*v)->Validate(SpecToJson(s), kCrdSpecSchemaPointer)), "");
  EXPECT_FALSE(SpecFromJson(json{{"workers", "x"}}).ok());
  EXPECT_EQ(SpecFromJson(json{{"runPolicy", {{"onSpecChange", "Later"}}}}).status().message(),
            "spec.runPolicy.onSpecChange: must be Replace or Ignore");
}

TEST(Codec, ToJsonKubernetesShape) {
  auto r = ParseManifestFile("jobs/hello.yaml", ReadFile(SourceDir() / "crd/samples/hello.yaml"));
  MLSpaceJob job = *r.documents.at(0).job;
  auto t0 = ParseRfc3339("2026-01-02T03:04:05Z");
  ASSERT_TRUE(t0.ok());
  JobStatus st;
  st.phase = Phase::kRunning;
  st.remote_job_name = "lm-mpi-job-123";
  st.attempt = 2;
  st.observed_generation = 7;
  st.synced_revision = "0123abcd";
  st.start_time = *t0;
  st.conditions.push_back(Condition{kCondRunning, "True", "RemoteRunning", "running", *t0});
  ServerMeta meta{"42", "uid-1", *t0, 7};
  json j = ToJson(job, &st, meta);
  EXPECT_EQ(j["apiVersion"], "mlspace.io/v1alpha1");
  EXPECT_EQ(j["kind"], "MLSpaceJob");
  EXPECT_EQ(j["metadata"]["name"], "hello");
  EXPECT_EQ(j["metadata"]["namespace"], "default");
  EXPECT_EQ(j["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(j["metadata"]["uid"], "uid-1");
  EXPECT_EQ(j["metadata"]["generation"], 7);
  EXPECT_EQ(j["metadata"]["creationTimestamp"], "2026-01-02T03:04:05Z");
  EXPECT_EQ(j["metadata"]["labels"]["app.kubernetes.io/part-of"], "mlspace-samples");
  EXPECT_EQ(j["metadata"]["annotations"][kSpecHashAnnotation], job.spec_hash);
  EXPECT_EQ(j["metadata"]["annotations"][kSourcePathAnnotation], "jobs/hello.yaml");
  EXPECT_EQ(j["spec"], SpecToJson(job.spec));
  EXPECT_EQ(j["status"]["phase"], "Running");
  EXPECT_EQ(j["status"]["remoteJobName"], "lm-mpi-job-123");
  EXPECT_EQ(j["status"]["attempt"], 2);
  EXPECT_EQ(j["status"]["startTime"], "2026-01-02T03:04:05Z");
  EXPECT_EQ(j["status"]["observedGeneration"], 7);
  EXPECT_EQ(j["status"]["syncedRevision"], "0123abcd");
  EXPECT_FALSE(j["status"].contains("completionTime"));
  EXPECT_EQ(j["status"]["conditions"][0],
            json::parse(R"({"type":"Running","status":"True","reason":"RemoteRunning",
                            "message":"running","lastTransitionTime":"2026-01-02T03:04:05Z"})"));
  // The served object is itself a valid manifest (kubectl get -o yaml | apply).
  auto again = ParseObject(j, "served");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->spec, job.spec);
  EXPECT_FALSE(ToJson(job).contains("status"));
}

TEST(Codec, StatusRoundTrips) {
  JobStatus st;
  st.phase = Phase::kFailed;
  st.attempt = 4;
  st.last_error = "BackoffLimitExceeded";
  st.exit_code = 207;
  st.observed_generation = 3;
  st.synced_revision = "0123abcd";
  st.start_time = *ParseRfc3339("2026-03-04T05:00:00Z");
  st.completion_time = *ParseRfc3339("2026-03-04T05:06:07Z");
  st.conditions.push_back(Condition{kCondFailed, "True", "BackoffLimitExceeded", "m",
                                    *ParseRfc3339("2026-03-04T05:06:07Z")});
  auto back = StatusFromJson(StatusToJson(st));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, st);
  EXPECT_EQ(StatusToJson(st)["exitCode"], 207);
  EXPECT_FALSE(StatusFromJson(json{{"exitCode", "two"}}).ok());
  EXPECT_FALSE(StatusFromJson(json{{"phase", "Exploded"}}).ok());
  EXPECT_FALSE(StatusFromJson(json{{"startTime", "yesterday"}}).ok());
}

}  // namespace
}  // namespace mlspace::api
