#include "controller/api/manifest.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "controller/api/codec.h"

namespace mlspace::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Kind = ManifestDocument::Kind;

constexpr char kHello[] = R"(apiVersion: mlspace.io/v1alpha1
kind: MLSpaceJob
metadata:
  name: hello
spec:
  region: SR006
  image: cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40
  instanceType: cpu.2C.8G
  command: [/bin/echo, hello]
)";

std::string Job(const std::string& name, const std::string& extra_spec = "",
                const std::string& ns = "") {
  std::string out =
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name + "\n";
  if (!ns.empty()) out += "  namespace: " + ns + "\n";
  out +=
      "spec:\n  region: SR006\n  image: img\n  instanceType: a100.1gpu\n  command: [python, "
      "train.py]\n" +
      extra_spec;
  return out;
}

const ManifestDocument& Only(const ParseResult& r) {
  EXPECT_EQ(r.documents.size(), 1u);
  return r.documents.front();
}

TEST(ParseManifest, ValidJobIsDefaulted) {
  auto r = ParseManifestFile("jobs/hello.yaml", kHello);
  const auto& d = Only(r);
  ASSERT_EQ(d.kind, Kind::kJob) << d.Message();
  const MLSpaceJob& j = *d.job;
  EXPECT_EQ(j.metadata.name, "hello");
  EXPECT_EQ(j.metadata.namespace_name, "default");
  EXPECT_EQ(j.source_path, "jobs/hello.yaml");
  EXPECT_EQ(j.spec.region, "SR006");
  EXPECT_EQ(j.spec.instance_type, "cpu.2C.8G");
  EXPECT_THAT(j.spec.command, ElementsAre("/bin/echo", "hello"));
  // Schema defaults.
  EXPECT_EQ(j.spec.workers, 1);
  EXPECT_EQ(j.spec.type, "binary");
  EXPECT_EQ(j.spec.run_policy.backoff_limit, 3);
  EXPECT_FALSE(j.spec.run_policy.suspend);
  EXPECT_EQ(j.spec.run_policy.on_spec_change, SpecChangePolicy::kReplace);
  EXPECT_FALSE(j.spec.processes_per_worker.has_value());
  EXPECT_FALSE(j.spec.health_check.has_value());
  EXPECT_EQ(j.spec_hash.size(), 64u);
  EXPECT_EQ(j.spec_hash, SpecHash(j.spec));
  EXPECT_EQ(d.key, (ObjectKey{"default", "hello"}));
}

TEST(ParseManifest, AllFieldsParsed) {
  auto r = ParseManifestFile("a.yaml", R"(apiVersion: mlspace.io/v1alpha1
kind: MLSpaceJob
metadata:
  name: llama-sft
  namespace: nlp
  labels: {team: nlp}
  annotations: {mlspace.io/prune: disabled}
spec:
  region: SR006
  image: cr.ai.cloud.ru/acme/pytorch:2.4
  instanceType: a100.8gpu
  workers: 2
  processesPerWorker: 8
  type: pytorch2
  command: [python, -m, train, --lr, "3e-4"]
  workingDir: /home/jovyan/llama
  env:
    - {name: WANDB_PROJECT, value: llama}
    - name: WANDB_API_KEY
      valueFrom: {secretKeyRef: {name: wandb, key: api-key}}
  priorityClass: medium
  internet: true
  queue: q1
  allocation: a1
  healthCheck: {logPeriodMinutes: 60, action: restart, notify: true}
  maxRetry: 5
  launcherPath: /opt/mlspace/bin/mlspace-launch
  runPolicy:
    backoffLimit: 0
    activeDeadlineSeconds: 86400
    suspend: true
    onSpecChange: Ignore
)");
  const auto& d = Only(r);
  ASSERT_EQ(d.kind, Kind::kJob) << d.Message();
  const JobSpec& s = d.job->spec;
  EXPECT_EQ(d.job->metadata.namespace_name, "nlp");
  EXPECT_EQ(d.job->metadata.labels.at("team"), "nlp");
  EXPECT_EQ(d.job->metadata.annotations.at("mlspace.io/prune"), "disabled");
  EXPECT_EQ(s.image, "cr.ai.cloud.ru/acme/pytorch:2.4");
  EXPECT_EQ(s.workers, 2);
  EXPECT_EQ(s.processes_per_worker, 8);
  EXPECT_EQ(s.type, "pytorch2");
  EXPECT_THAT(s.command, ElementsAre("python", "-m", "train", "--lr", "3e-4"));
  EXPECT_EQ(s.working_dir, "/home/jovyan/llama");
  ASSERT_EQ(s.env.size(), 2u);
  EXPECT_EQ(s.env[0].value, "llama");
  EXPECT_FALSE(s.env[0].secret_key_ref.has_value());
  EXPECT_FALSE(s.env[1].value.has_value());
  EXPECT_EQ(s.env[1].secret_key_ref, (SecretKeyRef{"wandb", "api-key"}));
  EXPECT_EQ(s.priority_class, "medium");
  EXPECT_EQ(s.internet, true);
  EXPECT_EQ(s.queue, "q1");
  EXPECT_EQ(s.allocation, "a1");
  ASSERT_TRUE(s.health_check.has_value());
  EXPECT_EQ(s.health_check->log_period_minutes, 60);
  EXPECT_EQ(s.health_check->action, "restart");
  EXPECT_TRUE(s.health_check->notify);
  EXPECT_EQ(s.max_retry, 5);
  EXPECT_EQ(s.launcher_path, "/opt/mlspace/bin/mlspace-launch");
  EXPECT_EQ(s.run_policy.backoff_limit, 0);
  EXPECT_EQ(s.run_policy.active_deadline_seconds, 86400);
  EXPECT_TRUE(s.run_policy.suspend);
  EXPECT_EQ(s.run_policy.on_spec_change, SpecChangePolicy::kIgnore);
}

// Found by fuzz_manifest: yaml-cpp quotes the bad character verbatim, which
// broke the one-line rule when it was a newline or another control byte.
TEST(ParseManifest, YamlErrorsWithControlCharactersStayOnOneLine) {
  const std::string job =
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  \"na\\x01\\nme\": a\n";
  // "kind:" keeps a document that does parse from being an ignored
  // non-Kubernetes mapping (a values file).
  for (std::string bad :
       {std::string("kind: K\na: \"x\\\x01\"\n"), std::string("kind: K\na: \"x\\\n"), job}) {
    ParseResult r = ParseManifestFile("jobs/bad.yaml", bad);
    ASSERT_EQ(r.documents.size(), 1u);
    ASSERT_FALSE(r.documents[0].errors.empty());
    for (const std::string& e : r.documents[0].errors) {
      EXPECT_EQ(e.find('\n'), std::string::npos) << e;
      EXPECT_EQ(e.find('\x01'), std::string::npos) << e;
    }
    EXPECT_THAT(r.documents[0].errors[0], HasSubstr("jobs/bad.yaml:"));
  }
}

// Found by fuzz_manifest: yaml-cpp 0.7 reports empty documents forever for
// a stray ',' at the top level; the parse must end with an error instead.
TEST(ParseManifest, MalformedStreamThatNeverEndsInYamlCppIsAnError) {
  ParseResult r = ParseManifestFile("jobs/loop.yaml", "# comment\n,#  s");
  ASSERT_EQ(r.documents.size(), 1u);
  ASSERT_FALSE(r.documents[0].errors.empty());
  EXPECT_THAT(r.documents[0].errors[0], HasSubstr("jobs/loop.yaml"));
  auto ok = ParseManifestFile("jobs/many.yaml", "a: 1\n---\nb: 2\n");
  EXPECT_EQ(ok.documents.size(), 2u);
}

TEST(ParseManifest, ErrorsNameFileLineColumnAndField) {
  auto r = ParseManifestFile("jobs/a.yaml", Job("a", "  workers: 0\n"));
  const auto& d = Only(r);
  ASSERT_EQ(d.kind, Kind::kInvalid);
  EXPECT_THAT(d.errors, ElementsAre("jobs/a.yaml:10:3: spec.workers: must be >= 1"));
  EXPECT_EQ(d.reason, kReasonInvalidSpec);
  EXPECT_EQ(d.key, (ObjectKey{"default", "a"}));  // still identifiable: it becomes Invalid

  auto r2 = ParseManifestFile("b.yaml", Job("b",
                                            "  healthCheck:\n    logPeriodMinutes: 721\n"
                                            "    action: stop\n  maxRetry: 2\n"
                                            "  priorityClass: urgent\n  region2: x\n"));
  const auto& d2 = Only(r2);
  ASSERT_EQ(d2.kind, Kind::kInvalid);
  EXPECT_THAT(d2.errors,
              ElementsAre("b.yaml:12:5: spec.healthCheck.action: unsupported value \"stop\": "
                          "must be one of \"delete\", \"restart\"",
                          "b.yaml:11:5: spec.healthCheck.logPeriodMinutes: must be <= 720",
                          "b.yaml:13:3: spec.maxRetry: must be >= 3",
                          "b.yaml:14:3: spec.priorityClass: unsupported value \"urgent\": must be "
                          "one of \"shared-low\", \"shared-medium\", \"low\", \"medium\", \"high\"",
                          "b.yaml:15:3: unknown field \"spec.region2\""));
}

TEST(ParseManifest, UnknownFieldsRejectedByName) {
  auto r = ParseManifestFile("x.yaml",
                             Job("x",
                                 "  wrokers: 2\n  runPolicy: {suspend: false, retries: 1}\n  env:\n"
                                 "    - {name: A, value: b, valu: c}\n"));
  const auto& d = Only(r);
  ASSERT_EQ(d.kind, Kind::kInvalid);
  EXPECT_THAT(d.Message(), HasSubstr("unknown field \"spec.wrokers\""));
  EXPECT_THAT(d.Message(), HasSubstr("unknown field \"spec.runPolicy.retries\""));
  EXPECT_THAT(d.Message(), HasSubstr("unknown field \"spec.env[0].valu\""));
  auto top = ParseManifestFile("y.yaml", Job("y") + "extra: 1\n");
  EXPECT_THAT(Only(top).errors, ElementsAre("y.yaml:10:1: unknown field \"extra\""));
  auto meta = ParseManifestFile(
      "z.yaml",
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: z\n"
      "  lables: {a: b}\nspec: {region: SR006, image: i, instanceType: t, command: [x]}\n");
  EXPECT_THAT(Only(meta).errors, ElementsAre("z.yaml:5:3: unknown field \"metadata.lables\""));
}

TEST(ParseManifest, RequiredFieldsAndTypes) {
  auto r = ParseManifestFile("r.yaml",
                             "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n"
                             "  name: r\nspec:\n  image: i\n  instanceType: t\n  workers: \"2\"\n"
                             "  command: []\n  env: [{name: A}]\n");
  const auto& d = Only(r);
  ASSERT_EQ(d.kind, Kind::kInvalid);
  EXPECT_THAT(d.Message(), HasSubstr("r.yaml:5:1: spec.region: is required"));
  EXPECT_THAT(d.Message(),
              HasSubstr("r.yaml:8:3: spec.workers: must be of type integer, got string"));
  EXPECT_THAT(d.Message(), HasSubstr("r.yaml:9:3: spec.command: must have at least 1 items"));
  EXPECT_THAT(d.Message(), HasSubstr("spec.env[0]: must match exactly one of the alternatives"));
  auto both = ParseManifestFile(
      "b.yaml", Job("b",
                    "  env:\n    - name: A\n      value: v\n      valueFrom: {secretKeyRef: "
                    "{name: s, key: k}}\n"));
  EXPECT_THAT(Only(both).Message(), HasSubstr("spec.env[0]: must match exactly one"));
}

TEST(ParseManifest, MetadataNameRules) {
  for (const char* bad : {"Hello", "a_b", "-a", "a-", "\"\"",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    auto r = ParseManifestFile("n.yaml", Job(bad));
    const auto& d = Only(r);
    EXPECT_EQ(d.kind, Kind::kInvalid) << bad;
    EXPECT_THAT(d.Message(), HasSubstr("metadata.name")) << bad;
    EXPECT_FALSE(d.key.has_value()) << bad;
  }
  auto ns = ParseManifestFile("n.yaml", Job("ok", "", "Bad_NS"));
  EXPECT_THAT(Only(ns).Message(),
              HasSubstr("n.yaml:5:3: metadata.namespace: \"Bad_NS\" is not a DNS-1123 label"));
  auto noname = ParseManifestFile(
      "n.yaml",
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata: {generateName: x-}\n"
      "spec: {region: SR006, image: i, instanceType: t, command: [x]}\n");
  EXPECT_THAT(Only(noname).Message(), HasSubstr("metadata.name: is required (generateName"));
  auto labels = ParseManifestFile(
      "l.yaml",
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: l\n"
      "  labels: {team: 1}\nspec: {region: SR006, image: i, instanceType: t, command: [x]}\n");
  EXPECT_THAT(
      Only(labels).errors,
      ElementsAre("l.yaml:5:12: metadata.labels.team: must be of type string, got integer"));
}

TEST(ParseManifest, MultiDocumentFilesKeepGoodDocuments) {
  std::string text = Job("one") + "---\n" + Job("two", "  workers: -1\n") +
                     "---\n# only a comment\n---\n" +
                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n---\n" + Job("three");
  auto r = ParseManifestFile("multi.yml", text);
  ASSERT_EQ(r.documents.size(), 4u);
  EXPECT_EQ(r.documents[0].kind, Kind::kJob);
  EXPECT_EQ(r.documents[0].line, 1);
  EXPECT_EQ(r.documents[1].kind, Kind::kInvalid);
  EXPECT_EQ(r.documents[1].line, 11);
  EXPECT_THAT(r.documents[1].errors, ElementsAre("multi.yml:20:3: spec.workers: must be >= 1"));
  EXPECT_EQ(r.documents[2].kind, Kind::kIgnored);
  EXPECT_EQ(r.documents[2].warning,
            "multi.yml:24:1: ignoring v1 ConfigMap \"cfg\": only mlspace.io/v1alpha1 MLSpaceJob "
            "is reconciled");
  EXPECT_EQ(r.documents[3].kind, Kind::kJob);
  EXPECT_EQ(r.documents[3].job->metadata.name, "three");
  EXPECT_EQ(r.documents[3].index, 4);
}

TEST(ParseManifest, OtherGroupsAreIgnoredOurGroupsOtherVersionsAreInvalid) {
  // DESIGN.md: a document in the mlspace.io group with an unknown kind or
  // version is an invalid declaration (keeping its name), never a removal.
  auto r = ParseManifestFile("v.yaml",
                             "apiVersion: mlspace.io/v1beta9\nkind: MLSpaceJob\n"
                             "metadata: {name: v}\nspec: {bogus: 1}\n");
  EXPECT_EQ(Only(r).kind, Kind::kInvalid);
  ASSERT_TRUE(Only(r).key.has_value());
  EXPECT_EQ(Only(r).key->name, "v");
  EXPECT_THAT(Only(r).errors,
              ElementsAre("v.yaml:1:1: apiVersion: \"mlspace.io/v1beta9\" is not served; use "
                          "mlspace.io/v1alpha1"));
  auto kind = ParseManifestFile("k.yaml",
                                "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJobs\n"
                                "metadata: {name: k}\n");
  EXPECT_EQ(Only(kind).kind, Kind::kInvalid);
  EXPECT_THAT(Only(kind).Message(), HasSubstr("kind: \"MLSpaceJobs\" is not a kind of mlspace.io"));
  auto other =
      ParseManifestFile("o.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: o}\n");
  EXPECT_EQ(Only(other).kind, Kind::kIgnored);
  EXPECT_THAT(Only(other).warning, HasSubstr("ignoring batch/v1 Job \"o\""));
  auto missing = ParseManifestFile("m.yaml", "metadata: {name: m}\n");
  EXPECT_EQ(Only(missing).kind, Kind::kInvalid);
  EXPECT_THAT(Only(missing).errors,
              ElementsAre("m.yaml:1:1: apiVersion: is required", "m.yaml:1:1: kind: is required"));
  auto scalar = ParseManifestFile("s.yaml", "just a string\n");
  EXPECT_THAT(Only(scalar).errors,
              ElementsAre("s.yaml:1:1: a manifest must be a mapping, got string"));
  auto txt = ParseManifestFile("README.md", "# hi");
  EXPECT_EQ(Only(txt).kind, Kind::kIgnored);
}

// Issue 11: a one-character typo in the header of a running job's manifest
// must not read as "not ours" (a removal): it is an invalid declaration of
// the object it names.
TEST(ParseManifest, NearMissHeadersWithNameAndSpecAreInvalidNotIgnored) {
  const std::string rest = "metadata: {name: t}\nspec: {region: SR006}\n";
  for (const std::string header : {"apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJb\n",
                                   "apiVersion: mlspace.io/v1alpha1\nkind: mlspacejob\n",
                                   "apiVersion: mlspce.io/v1alpha1\nkind: MLSpaceJob\n",
                                   "apiVersion: mlspace.io\nkind: MLSpaceJob\n",
                                   "apiVersion: mlspace.oi/v1alpha1\nkind: MLSpaceJob\n",
                                   "apiVersion: batch/v1\nkind: MLSpaceJobb\n"}) {
    auto r = ParseManifestFile("t.yaml", header + rest);
    EXPECT_EQ(Only(r).kind, Kind::kInvalid) << header;
    ASSERT_TRUE(Only(r).key.has_value()) << header;
    EXPECT_EQ(Only(r).key->name, "t");
  }
  auto kind =
      ParseManifestFile("t.yaml", "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJb\n" + rest);
  EXPECT_THAT(Only(kind).Message(),
              HasSubstr("kind: \"MLSpaceJb\" is not a kind of mlspace.io; expected MLSpaceJob"));
  auto group =
      ParseManifestFile("t.yaml", "apiVersion: mlspce.io/v1alpha1\nkind: MLSpaceJob\n" + rest);
  EXPECT_THAT(
      Only(group).Message(),
      HasSubstr("apiVersion: \"mlspce.io/v1alpha1\" is not served; use mlspace.io/v1alpha1"));
  // Far from ours, or without a spec: another tool's object, ignored.
  EXPECT_EQ(Only(ParseManifestFile("j.yaml", "apiVersion: batch/v1\nkind: Job\n" + rest)).kind,
            Kind::kIgnored);
  EXPECT_EQ(Only(ParseManifestFile("n.yaml",
                                   "apiVersion: mlspce.io/v1\nkind: MLSpaceJb\n"
                                   "metadata: {name: n}\n"))
                .kind,
            Kind::kIgnored);
}

std::string JobWith(const std::string& spec_tail) {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata: {name: u}\n"
         "spec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
         "  instanceType: cpu.2C.8G\n" +
         spec_tail;
}

// Issue 11: what cannot be stored as JSON or passed to exec(2) is refused
// at the manifest, naming the field.
TEST(ParseManifest, InvalidUtf8AndNulAreRefusedNamingTheField) {
  auto ok = ParseManifestFile("u.yaml", JobWith("  command: [python, \"é.py\"]\n"));
  ASSERT_EQ(Only(ok).kind, Kind::kJob) << Only(ok).Message();

  auto raw = ParseManifestFile("u.yaml", JobWith("  command: [python, \"a\xff\xfe.py\"]\n"));
  EXPECT_EQ(Only(raw).kind, Kind::kInvalid);
  EXPECT_THAT(Only(raw).Message(), HasSubstr("spec.command[1]: invalid UTF-8 at byte 1"));

  auto label = ParseManifestFile(
      "u.yaml",
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\n"
      "metadata: {name: u, labels: {team: \"\xc3\"}}\nspec: {region: SR006, image: i, "
      "instanceType: t, command: [x]}\n");
  EXPECT_THAT(Only(label).Message(), HasSubstr("metadata.labels.team: invalid UTF-8"));

  auto escaped = ParseManifestFile("u.yaml", JobWith("  command: [python, \"a\\0b\"]\n"));
  EXPECT_EQ(Only(escaped).kind, Kind::kInvalid);
  EXPECT_THAT(Only(escaped).Message(),
              HasSubstr("spec.command[1]: contains a NUL byte at offset 1"));

  std::string raw_nul =
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata: {name: u}\n"
      "spec: {region: SR006, instanceType: t, command: [x], image: \"cr/p";
  raw_nul += std::string(1, '\0') + "y:1\"}\n";
  auto image = ParseManifestFile("u.yaml", raw_nul);
  EXPECT_EQ(Only(image).kind, Kind::kInvalid);
  EXPECT_THAT(Only(image).Message(), HasSubstr("spec.image: contains a NUL byte"));

  auto env = ParseManifestFile("u.yaml",
                               JobWith("  command: [x]\n  env: [{name: A, value: \"1\\x002\"}]\n"));
  EXPECT_THAT(Only(env).Message(), HasSubstr("spec.env[0].value: contains a NUL byte"));
}

TEST(ParseManifest, CommandsThatCannotExecAreRefused) {
  // One argument over MAX_ARG_STRLEN (131,072 bytes with its NUL).
  auto one = ParseManifestFile(
      "u.yaml", JobWith("  command: [sh, -c, \"" + std::string(131072, 'a') + "\"]\n"));
  EXPECT_EQ(Only(one).kind, Kind::kInvalid);
  EXPECT_THAT(Only(one).Message(),
              HasSubstr("spec.command[2]: is 131072 bytes; one argument or environment entry is "
                        "limited to 131071 bytes"));
  auto fits = ParseManifestFile(
      "u.yaml", JobWith("  command: [sh, -c, \"" + std::string(131071, 'a') + "\"]\n"));
  EXPECT_EQ(Only(fits).kind, Kind::kJob) << Only(fits).Message();
  // The issue's 4 MB command, as many arguments each under the limit.
  std::string many = "  command: [sh";
  for (int i = 0; i < 40; ++i) many += ", \"" + std::string(100'000, 'b') + "\"";
  auto total = ParseManifestFile("u.yaml", JobWith(many + "]\n"));
  EXPECT_EQ(Only(total).kind, Kind::kInvalid);
  EXPECT_THAT(Only(total).Message(), HasSubstr("spec.command: command and env total"));
  EXPECT_THAT(Only(total).Message(), HasSubstr("at most 524288"));
}

TEST(ParseManifest, FilesAreParsedWithModesAndSecretRefs) {
  auto r = ParseManifestFile(
      "f.yaml", Job("h",
                    "  files:\n"
                    "    - {path: conf/a.yaml, content: \"lr: 1\\n\"}\n"
                    "    - {path: ~/.netrc, secretKeyRef: {name: netrc, key: file}, mode: 0o600}\n"
                    "    - {path: /home/user/b, content: \"\", mode: \"0640\"}\n"
                    "    - {path: c, content: x, mode: 384}\n"));
  ASSERT_EQ(Only(r).kind, Kind::kJob) << Only(r).Message();
  const auto& files = Only(r).job->spec.files;
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].path, "conf/a.yaml");
  EXPECT_EQ(files[0].content, "lr: 1\n");
  EXPECT_FALSE(files[0].mode.has_value());
  EXPECT_EQ(files[1].secret_key_ref, (SecretKeyRef{"netrc", "file"}));
  EXPECT_FALSE(files[1].content.has_value());
  EXPECT_EQ(files[1].mode, 0600);
  EXPECT_EQ(files[2].mode, 0640);
  EXPECT_EQ(files[3].mode, 0600);
  // Served back and parsed again, the same spec (and hash).
  auto again = SpecFromJson(SpecToJson(Only(r).job->spec));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, Only(r).job->spec);
  // A job without files serialises without the key: existing spec hashes
  // (and so running jobs' generations) do not change.
  auto plain = ParseManifestFile("p.yaml", Job("h"));
  EXPECT_FALSE(SpecToJson(Only(plain).job->spec).contains("files"));
}

TEST(ParseManifest, BadFilesAreRefusedNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"  files: [{path: a/../../etc/x, content: x}]\n",
       "spec.files[0].path: must not contain a \"..\" component"},
      {"  files: [{path: ~root/x, content: x}]\n", "spec.files[0].path: only \"~/...\""},
      {"  files: [{path: d/, content: x}]\n", "spec.files[0].path: names a directory"},
      {"  files: [{path: a, content: x}, {path: a, content: y}]\n",
       "spec.files[1].path: \"a\" is given twice"},
      {"  files: [{path: a}]\n", "spec.files[0]"},
      {"  files: [{path: a, content: x, secretKeyRef: {name: s, key: k}}]\n", "spec.files[0]"},
      {"  files: [{path: a, content: x, mode: 0600}]\n", "spec.files[0].mode"},  // 600 decimal
      {"  files: [{path: a, content: x, mode: \"0800\"}]\n", "spec.files[0].mode"},
      {"  files: [{path: a, content: \"" + std::string((512 << 10) + 1, 'x') + "\"}]\n",
       "spec.files[0].content: is 524289 bytes; a file holds at most 524288"},
      {"  files: [{path: a, content: \"" + std::string(300 << 10, 'x') +
           "\"}, {path: b, content: \"" + std::string(300 << 10, 'x') + "\"}]\n",
       "spec.files: contents total 614400 bytes; at most 524288"},
      {"  env: [{name: MLSPACE_SECRET_FILE_0, value: x}]\n",
       "spec.env[0].name: names starting with MLSPACE_SECRET_FILE_ are reserved"},
  };
  for (const auto& [extra, want] : cases) {
    auto r = ParseManifestFile("f.yaml", Job("h", extra));
    ASSERT_EQ(Only(r).kind, Kind::kInvalid) << extra.substr(0, 120);
    EXPECT_THAT(Only(r).Message(), HasSubstr(want)) << extra.substr(0, 120);
  }
}

TEST(ParseManifest, KustomizationsAndValuesFilesAreIgnoredNotInvalid) {
  auto k = ParseManifestFile("kustomization.yaml",
                             "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                             "resources: [job.yaml]\n");
  EXPECT_EQ(Only(k).kind, Kind::kIgnored);
  EXPECT_THAT(Only(k).warning,
              HasSubstr("kustomization.yaml:1:1: ignoring kustomize.config.k8s.io/v1beta1 "
                        "Kustomization"));
  // A Helm values file: neither apiVersion nor kind.
  auto v = ParseManifestFile("values.yaml", "replicaCount: 2\nimage: {tag: latest}\n");
  EXPECT_EQ(Only(v).kind, Kind::kIgnored);
  EXPECT_THAT(Only(v).warning,
              HasSubstr("values.yaml:1:1: ignoring a document without apiVersion and kind"));
  EXPECT_TRUE(Only(v).errors.empty());
  // A manifest that lost its header (it has spec) stays an error.
  auto headless = ParseManifestFile("h.yaml", "spec: {region: SR006}\n");
  EXPECT_EQ(Only(headless).kind, Kind::kInvalid);
}

TEST(ParseManifest, SyntaxErrorsNameLineAndColumn) {
  auto r = ParseManifestFile("bad.yaml", Job("a") + "  env: [unclosed\n");
  const auto& d = Only(r);
  ASSERT_EQ(d.kind, Kind::kInvalid);
  EXPECT_EQ(d.reason, kReasonParseError);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_THAT(d.errors[0], ::testing::MatchesRegex("bad\\.yaml:1[01]:[0-9]+: .+"));
  auto dup = ParseManifestFile("dup.yaml", Job("a", "  workers: 1\n  workers: 2\n"));
  EXPECT_THAT(Only(dup).errors, ElementsAre("dup.yaml:11:3: duplicate field \"spec.workers\""));
  auto tab = ParseManifestFile("t.yaml", "a:\n\t- b\n");
  EXPECT_EQ(Only(tab).kind, Kind::kInvalid);
}

TEST(ParseManifest, JsonFiles) {
  auto r = ParseManifestFile("j.json", R"({
  "apiVersion": "mlspace.io/v1alpha1", "kind": "MLSpaceJob",
  "metadata": {"name": "j"},
  "spec": {"region": "SR006", "image": "i", "instanceType": "t", "command": ["x"],
           "workers": 0}
})");
  const auto& d = Only(r);
  ASSERT_EQ(d.kind, Kind::kInvalid);
  EXPECT_THAT(d.errors, ElementsAre("j.json:5:12: spec.workers: must be >= 1"));
  auto ok = ParseManifestFile(
      "k.JSON",
      R"({"apiVersion": "mlspace.io/v1alpha1", "kind": "MLSpaceJob", "metadata": {"name": "k"},
      "spec": {"region": "SR006", "image": "i", "instanceType": "t", "command": ["x", "1"], "workers": 3}})");
  ASSERT_EQ(Only(ok).kind, Kind::kJob) << Only(ok).Message();
  EXPECT_EQ(Only(ok).job->spec.workers, 3);
}

TEST(ParseManifest, YamlScalarsFollowTheCoreSchema) {
  // Quoted numbers are strings; plain ones are numbers; yes/on stay strings.
  auto r = ParseManifestFile(
      "s.yaml", Job("s",
                    "  env:\n    - {name: A, value: \"1\"}\n    - {name: B, value: yes}\n"
                    "    - {name: C, value: 'true'}\n"));
  ASSERT_EQ(Only(r).kind, Kind::kJob) << Only(r).Message();
  EXPECT_EQ(Only(r).job->spec.env[0].value, "1");
  EXPECT_EQ(Only(r).job->spec.env[1].value, "yes");
  EXPECT_EQ(Only(r).job->spec.env[2].value, "true");
  auto n = ParseManifestFile("n.yaml", Job("n", "  env:\n    - {name: A, value: 1}\n"));
  EXPECT_THAT(Only(n).Message(),
              HasSubstr("spec.env[0].value: must be of type string, got integer"));
  auto b = ParseManifestFile("b.yaml", Job("b", "  internet: \"true\"\n"));
  EXPECT_THAT(Only(b).Message(), HasSubstr("spec.internet: must be of type boolean, got string"));
  auto block = ParseManifestFile("c.yaml", Job("c", "  workingDir: |-\n    /x\n"));
  ASSERT_EQ(Only(block).kind, Kind::kJob) << Only(block).Message();
  EXPECT_EQ(Only(block).job->spec.working_dir, "/x");
}

TEST(ParseManifest, AliasBombIsBounded) {
  std::string text =
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata: {name: bomb}\n"
      "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", *a" : "*a") + std::to_string(i - 1);
    text += "]\n";
  }
  auto r = ParseManifestFile("bomb.yaml", text);
  ASSERT_EQ(Only(r).kind, Kind::kInvalid);
  EXPECT_THAT(Only(r).Message(), HasSubstr("nodes"));
}

TEST(SpecHash, StableAcrossSpellingsAndDefaults) {
  auto a = ParseManifestFile("a.yaml", Job("h"));
  auto b =
      ParseManifestFile("b.json", R"({"kind": "MLSpaceJob", "apiVersion": "mlspace.io/v1alpha1",
       "metadata": {"name": "other", "namespace": "elsewhere", "labels": {"x": "y"}},
       "spec": {"command": ["python", "train.py"], "instanceType": "a100.1gpu", "image": "img",
                "region": "SR006", "workers": 1, "type": "binary", "queue": "",
                "runPolicy": {"backoffLimit": 3, "onSpecChange": "Replace"}}})");
  ASSERT_EQ(Only(a).kind, Kind::kJob);
  ASSERT_EQ(Only(b).kind, Kind::kJob) << Only(b).Message();
  // Defaults spelled out, key order, metadata: none of it changes the hash.
  EXPECT_EQ(Only(a).job->spec_hash, Only(b).job->spec_hash);
  // Suspending is not a new generation.
  auto s = ParseManifestFile("s.yaml", Job("h", "  runPolicy: {suspend: true}\n"));
  ASSERT_EQ(Only(s).kind, Kind::kJob);
  EXPECT_EQ(Only(s).job->spec_hash, Only(a).job->spec_hash);
  // Hash of a fixed spec is pinned: a change of the canonical form would
  // silently resubmit every job after an upgrade.
  EXPECT_EQ(SpecToJson(Only(a).job->spec).dump(),
            R"({"command":["python","train.py"],"image":"img","instanceType":"a100.1gpu",)"
            R"("region":"SR006","runPolicy":{"backoffLimit":3,"onSpecChange":"Replace",)"
            R"("suspend":false},"type":"binary","workers":1})");
}

TEST(SpecHash, SensitiveToEveryField) {
  const std::string base = ParseManifestFile("a.yaml", Job("h")).documents[0].job->spec_hash;
  const std::vector<std::string> changes = {
      "  workers: 2\n",
      "  processesPerWorker: 1\n",
      "  type: pytorch\n",
      "  workingDir: /w\n",
      "  env: [{name: A, value: b}]\n",
      "  env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n",
      "  priorityClass: low\n",
      "  internet: false\n",
      "  queue: q\n",
      "  allocation: a\n",
      "  healthCheck: {logPeriodMinutes: 20, action: delete}\n",
      "  maxRetry: 3\n",
      "  launcherPath: /l\n",
      "  files: [{path: a, content: x}]\n",
      "  files: [{path: a, content: y}]\n",
      "  files: [{path: b, content: x}]\n",
      "  files: [{path: a, content: x, mode: 0o600}]\n",
      "  files: [{path: a, secretKeyRef: {name: s, key: k}}]\n",
      "  ssh: {ephemeralKeys: true}\n",
      "  runPolicy: {backoffLimit: 4}\n",
      "  runPolicy: {activeDeadlineSeconds: 5}\n",
      "  runPolicy: {onSpecChange: Ignore}\n",
  };
  std::set<std::string> seen = {base};
  for (const auto& c : changes) {
    auto r = ParseManifestFile("c.yaml", Job("h", c));
    ASSERT_EQ(Only(r).kind, Kind::kJob) << c << Only(r).Message();
    EXPECT_TRUE(seen.insert(Only(r).job->spec_hash).second) << c;
  }
  auto img = ParseManifestFile(
      "i.yaml",
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata: {name: h}\n"
      "spec: {region: SR006, image: img2, instanceType: a100.1gpu, command: [python, train.py]}\n");
  EXPECT_TRUE(seen.insert(Only(img).job->spec_hash).second);
  auto cmd = ParseManifestFile(
      "i.yaml",
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata: {name: h}\n"
      "spec: {region: SR006, image: img, instanceType: a100.1gpu, command: [python, train2.py]}\n");
  EXPECT_TRUE(seen.insert(Only(cmd).job->spec_hash).second);
}

std::shared_ptr<const ParseResult> P(const std::string& path, const std::string& text) {
  return std::make_shared<const ParseResult>(ParseManifestFile(path, text));
}

TEST(Assemble, DuplicateNamesMakeAllCopiesInvalid) {
  auto set = Assemble({P("b.yaml", Job("dup")), P("a.yaml", Job("dup") + "---\n" + Job("solo")),
                       P("c.yaml", Job("dup", "", "other"))});
  ASSERT_EQ(set.jobs.size(), 2u);
  EXPECT_EQ(set.jobs[0].key().ToString(), "default/solo");
  EXPECT_EQ(set.jobs[1].key().ToString(), "other/dup");  // other namespace: no clash
  ASSERT_EQ(set.invalid.size(), 2u);
  EXPECT_EQ(set.invalid[0].source_path, "a.yaml");
  EXPECT_EQ(set.invalid[0].reason, kReasonDuplicateName);
  EXPECT_EQ(set.invalid[0].key, (ObjectKey{"default", "dup"}));
  EXPECT_EQ(set.invalid[0].message,
            "a.yaml:1: default/dup is also declared in b.yaml:1; none of the copies is applied");
  EXPECT_EQ(set.invalid[1].source_path, "b.yaml");
  EXPECT_EQ(set.invalid[1].reason, kReasonDuplicateName);
  EXPECT_EQ(set.files, 3u);
}

TEST(Assemble, InvalidCopyStillCountsAsDuplicate) {
  auto set = Assemble({P("a.yaml", Job("x")), P("b.yaml", Job("x", "  workers: 0\n"))});
  EXPECT_TRUE(set.jobs.empty());
  ASSERT_EQ(set.invalid.size(), 2u);
  EXPECT_EQ(set.invalid[0].reason, kReasonDuplicateName);
  EXPECT_EQ(set.invalid[1].reason, kReasonDuplicateName);
}

TEST(Assemble, BrokenFileDoesNotHideOthers) {
  auto set = Assemble({P("bad.yaml", "a: [\n"), P("good.yaml", Job("good")),
                       P("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
                       P("inv.yaml", Job("inv", "  type: bogus\n"))});
  ASSERT_EQ(set.jobs.size(), 1u);
  EXPECT_EQ(set.jobs[0].metadata.name, "good");
  ASSERT_EQ(set.invalid.size(), 2u);
  EXPECT_EQ(set.invalid[0].source_path, "bad.yaml");
  EXPECT_EQ(set.invalid[0].reason, kReasonParseError);
  EXPECT_FALSE(set.invalid[0].key.has_value());
  EXPECT_EQ(set.invalid[1].key, (ObjectKey{"default", "inv"}));
  EXPECT_EQ(set.invalid[1].reason, kReasonInvalidSpec);
  EXPECT_THAT(set.invalid[1].message,
              HasSubstr("inv.yaml:10:3: spec.type: unsupported value \"bogus\""));
  ASSERT_EQ(set.warnings.size(), 1u);
  EXPECT_THAT(set.warnings[0], HasSubstr("cm.yaml:1:1: ignoring v1 ConfigMap"));
}

struct FakeBlobs {
  std::map<std::string, std::string> blobs;
  std::vector<std::string> reads;
  bool fail = false;
  ManifestCache::Reader Reader() {
    return [this](const std::string& id) -> Result<std::string> {
      reads.push_back(id);
      if (fail) return UnavailableError("git: object store unreadable");
      auto it = blobs.find(id);
      if (it == blobs.end()) return NotFoundError("no blob " + id);
      return it->second;
    };
  }
};

TEST(ManifestCache, ReparsesOnlyChangedBlobs) {
  FakeBlobs b;
  b.blobs = {{"b1", Job("one")}, {"b2", Job("two")}, {"b3", Job("two", "  workers: 4\n")}};
  ManifestCache cache;
  auto r1 = cache.Update({{"jobs/one.yaml", "b1"}, {"jobs/two.yaml", "b2"}}, b.Reader());
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->jobs.size(), 2u);
  EXPECT_EQ(cache.parse_count(), 2u);
  // Same revision again: nothing is read or parsed.
  auto r2 = cache.Update({{"jobs/one.yaml", "b1"}, {"jobs/two.yaml", "b2"}}, b.Reader());
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(cache.parse_count(), 2u);
  EXPECT_EQ(b.reads.size(), 2u);
  // One file changes: one parse.
  auto r3 = cache.Update({{"jobs/one.yaml", "b1"}, {"jobs/two.yaml", "b3"}}, b.Reader());
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(cache.parse_count(), 3u);
  EXPECT_EQ(r3->jobs[1].spec.workers, 4);
  // Removal drops the entry; a rename is parsed under its new path.
  auto r4 = cache.Update({{"jobs/uno.yaml", "b1"}}, b.Reader());
  ASSERT_TRUE(r4.ok());
  ASSERT_EQ(r4->jobs.size(), 1u);
  EXPECT_EQ(r4->jobs[0].source_path, "jobs/uno.yaml");
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.parse_count(), 4u);
}

TEST(ManifestCache, ReaderFailureFailsTheUpdateAndKeepsTheCache) {
  FakeBlobs b;
  b.blobs = {{"b1", Job("one")}, {"b2", Job("two")}};
  ManifestCache cache;
  ASSERT_TRUE(cache.Update({{"one.yaml", "b1"}}, b.Reader()).ok());
  b.fail = true;
  auto r = cache.Update({{"one.yaml", "b1"}, {"two.yaml", "b2"}}, b.Reader());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("read two.yaml"));
  EXPECT_EQ(cache.size(), 1u);
  b.fail = false;
  struct Entry {
    std::string path, blob_id;
  };
  std::vector<Entry> snapshot = {{"one.yaml", "b1"}, {"two.yaml", "b2"}};
  auto ok = cache.UpdateFrom(snapshot, b.Reader());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->jobs.size(), 2u);
}

// Issue 11: a reader that refuses a blob by its size (ResourceExhausted,
// without reading it) makes that file invalid with the size; the update and
// the other files go on.
TEST(ManifestCache, OversizedBlobIsAnInvalidFileNotAFailedUpdate) {
  FakeBlobs b;
  b.blobs = {{"b1", Job("one")}};
  ManifestCache cache;
  auto reader = [&](const std::string& id) -> Result<std::string> {
    if (id == "huge") {
      return ResourceExhaustedError("file is 314572800 bytes, larger than the 8 MiB limit");
    }
    return b.Reader()(id);
  };
  auto r = cache.Update({{"one.yaml", "b1"}, {"data.yaml", "huge"}}, reader);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->jobs.size(), 1u);
  ASSERT_EQ(r->invalid.size(), 1u);
  EXPECT_EQ(r->invalid[0].source_path, "data.yaml");
  EXPECT_EQ(r->invalid[0].reason, kReasonParseError);
  EXPECT_EQ(r->invalid[0].message,
            "data.yaml: file is 314572800 bytes, larger than the 8 MiB limit");
  // In memory the parser's own limit names the size too.
  auto big = ParseManifestFile("big.yaml", std::string((8 << 20) + 1, '#'));
  EXPECT_THAT(Only(big).Message(),
              HasSubstr("big.yaml: file is 8388609 bytes, larger than the 8 MiB limit"));
}

long PeakRssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Issue 11: 8 MB of nested flow sequences (under the file limit) was built
// by yaml-cpp in full (~1.1 GB RSS) before the 64-level guard. The raw text
// is scanned first now.
TEST(ParseManifest, DeepFlowNestingIsRefusedBeforeYamlCppBuildsIt) {
  const std::string head =
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata: {name: a}\nspec:\n"
      "  command: ";
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  long before = PeakRssKib();
  auto deep = ParseManifestFile(
      "a.yaml", head + std::string(4'000'000, '[') + std::string(4'000'000, ']') + "\n");
  long after = PeakRssKib();
  EXPECT_EQ(Only(deep).kind, Kind::kInvalid);
  EXPECT_EQ(Only(deep).Message(), "a.yaml:5:76: flow collections nested deeper than 64 levels");
  // The input itself and a copy are 16 MB; yaml-cpp's tree would be ~1 GB.
  EXPECT_LT(after - before, 128 * 1024);
  std::string compact;
  for (int i = 0; i < 70; ++i) compact += "- ";
  auto dashes = ParseManifestFile("d.yaml", head + "\n    " + compact + "x\n");
  EXPECT_THAT(Only(dashes).Message(), HasSubstr("block sequences nested deeper than 64 levels"));
  // Brackets inside quoted scalars and comments are text, not nesting.
  std::string many(70, '[');
  auto ok =
      ParseManifestFile("ok.yaml", head + "[\"" + many + "\", '" + many + "''" + many + "'] # " +
                                       many + "\n  region: SR006\n  image: i\n  instanceType: t\n");
  EXPECT_EQ(Only(ok).kind, Kind::kJob) << Only(ok).Message();
}

TEST(ParseObject, ValidatesApiBodies) {
  nlohmann::json obj = {
      {"apiVersion", "mlspace.io/v1alpha1"},
      {"kind", "MLSpaceJob"},
      {"metadata", {{"name", "api"}, {"namespace", "team"}}},
      {"spec", {{"region", "SR006"}, {"image", "i"}, {"instanceType", "t"}, {"command", {"x"}}}}};
  auto j = ParseObject(obj, "request");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j->key().ToString(), "team/api");
  EXPECT_EQ(j->spec.workers, 1);
  obj["spec"]["workers"] = 0;
  auto bad = ParseObject(obj, "request");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "request: spec.workers: must be >= 1");
}

// Prints the parse rate (the 10,000-manifest cold start depends on it) while
// checking every parse.
TEST(ParseManifest, ThroughputOfDistinctFiles) {
  const int n = 2000;
  ManifestCache cache;
  std::vector<ManifestFile> files;
  std::map<std::string, std::string> blobs;
  for (int i = 0; i < n; ++i) {
    std::string id = "blob" + std::to_string(i);
    blobs[id] = Job("job-" + std::to_string(i), "  workers: " + std::to_string(1 + i % 4) +
                                                    "\n  env: [{name: I, value: \"" +
                                                    std::to_string(i) + "\"}]\n");
    files.push_back({"jobs/" + std::to_string(i) + ".yaml", id});
  }
  auto start = std::chrono::steady_clock::now();
  auto set = cache.Update(
      files, [&](const std::string& id) -> Result<std::string> { return blobs.at(id); });
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->jobs.size(), static_cast<size_t>(n));
  EXPECT_TRUE(set->invalid.empty());
  std::cout << n << " manifests parsed, validated and assembled in " << secs * 1000 << " ms ("
            << static_cast<int>(n / secs) << "/s)\n";
}

}  // namespace
}  // namespace mlspace::api
