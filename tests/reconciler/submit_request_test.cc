#include "controller/reconciler/submit_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "controller/api/codec.h"
#include "controller/api/manifest.h"
#include "controller/core/redact.h"
#include "controller/reconciler/marker.h"
#include "controller/reconciler/ssh_keys.h"

namespace mlspace::reconciler {
namespace {

using api::EnvVar;
using api::HealthCheck;
using api::JobSpec;
using api::ManifestDocument;
using api::MLSpaceJob;
using api::ParseManifestFile;
using api::SecretKeyRef;
using api::SpecHash;
using api::ToJson;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Env = std::vector<std::pair<std::string, std::string>>;
namespace fs = std::filesystem;

MLSpaceJob FullJob() {
  MLSpaceJob j;
  j.metadata.name = "llama-sft";
  j.metadata.namespace_name = "nlp";
  JobSpec& s = j.spec;
  s.region = "SR006";
  s.image = "cr.ai.cloud.ru/acme/pytorch:2.4";
  s.instance_type = "a100.8gpu";
  s.workers = 2;
  s.processes_per_worker = 8;
  s.type = "binary";
  s.command = {"python", "-m", "train", "--lr", "3e-4"};
  s.working_dir = "/home/jovyan/llama";
  s.env = {EnvVar{"WANDB_PROJECT", "llama", std::nullopt},
           EnvVar{"WANDB_API_KEY", std::nullopt, SecretKeyRef{"wandb", "api-key"}}};
  s.priority_class = "medium";
  s.internet = true;
  s.queue = "q1";
  s.allocation = "alloc1";
  s.health_check = HealthCheck{60, "restart", true};
  s.max_retry = 5;
  j.spec_hash = SpecHash(s);
  return j;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("mlspace_api_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  void Write(const std::string& rel, const std::string& content) const {
    fs::create_directories((path_ / rel).parent_path());
    std::ofstream(path_ / rel, std::ios::binary) << content;
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(BuildSubmitRequest, MapsEveryField) {
  MLSpaceJob j = FullJob();
  SubmitOptions o;
  o.marker = MakeMarker("prod", j.key(), j.spec_hash, 1);
  o.secret_values = {{"WANDB_API_KEY", "s3cr3t-value"}};
  auto r = BuildSubmitRequest(j, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->script, "/home/jovyan/.mlspace/bin/mlspace-launch");
  EXPECT_EQ(r->base_image, "cr.ai.cloud.ru/acme/pytorch:2.4");
  EXPECT_EQ(r->instance_type, "a100.8gpu");
  EXPECT_EQ(r->region, "SR006");
  EXPECT_EQ(r->type, "binary");
  EXPECT_EQ(r->n_workers, 2);
  EXPECT_EQ(r->processes_per_worker, 8);
  EXPECT_EQ(r->priority_class, "medium");
  EXPECT_EQ(r->queue_name, "q1");
  EXPECT_EQ(r->allocation_name, "alloc1");
  EXPECT_EQ(r->job_desc, "mlsj:prod:nlp/llama-sft/" + j.spec_hash.substr(0, 8) + "/1");
  EXPECT_EQ(r->max_retry, 5);
  ASSERT_TRUE(r->health_params.has_value());
  EXPECT_EQ(r->health_params->log_period, 60);
  EXPECT_EQ(r->health_params->action, "restart");
  EXPECT_THAT(r->health_params->sub_actions, ElementsAre("notify"));
  EXPECT_EQ(r->internet, true);
  EXPECT_EQ(r->env_variables,
            (std::map<std::string, std::string>{{"WANDB_API_KEY", "s3cr3t-value"}}));
  EXPECT_FALSE(r->checkpoint_dir.has_value());
  EXPECT_FALSE(r->logs_dir.has_value());
  EXPECT_FALSE(r->conda_env.has_value());
  EXPECT_FALSE(r->shm_size_class.has_value());
  // The flags are exactly the launch spec's encoding, and decode back to it.
  auto ls = BuildLaunchSpec(j, o.secret_values);
  ASSERT_TRUE(ls.ok());
  EXPECT_EQ(r->flags, launchspec::EncodeFlags(*ls));
  auto decoded = launchspec::DecodeArgv(launchspec::FlagsToArgv(r->flags));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, *ls);
  EXPECT_TRUE(gateway::ValidateSubmitRequest(*r).ok())
      << gateway::ValidateSubmitRequest(*r).ToString();
}

TEST(BuildSubmitRequest, MinimalSpecLeavesOptionalFieldsUnset) {
  auto parsed = ParseManifestFile(
      "m.yaml",
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata: {name: m}\n"
      "spec: {region: SR004, image: i, instanceType: cpu.2C.8G, command: [/bin/true]}\n");
  ASSERT_EQ(parsed.documents.at(0).kind, ManifestDocument::Kind::kJob);
  const MLSpaceJob& j = *parsed.documents[0].job;
  auto r = BuildSubmitRequest(j, SubmitOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->region, "SR004");
  EXPECT_EQ(r->n_workers, 1);
  EXPECT_EQ(r->type, "binary");
  EXPECT_FALSE(r->processes_per_worker.has_value());
  EXPECT_FALSE(r->priority_class.has_value());
  EXPECT_FALSE(r->queue_name.has_value());
  EXPECT_FALSE(r->allocation_name.has_value());
  EXPECT_FALSE(r->job_desc.has_value());
  EXPECT_FALSE(r->max_retry.has_value());
  EXPECT_FALSE(r->health_params.has_value());
  EXPECT_FALSE(r->internet.has_value());
}

TEST(BuildSubmitRequest, LauncherPathPrecedence) {
  MLSpaceJob j = FullJob();
  SubmitOptions o;
  o.launcher_path = "/home/jovyan/bin/launch";
  o.secret_values = {{"WANDB_API_KEY", "x"}};
  EXPECT_EQ(BuildSubmitRequest(j, o)->script, "/home/jovyan/bin/launch");
  j.spec.launcher_path = "/opt/mlspace/bin/mlspace-launch";
  EXPECT_EQ(BuildSubmitRequest(j, o)->script, "/opt/mlspace/bin/mlspace-launch");
}

TEST(BuildSubmitRequest, HealthCheckWithoutAction) {
  MLSpaceJob j = FullJob();
  j.spec.health_check = HealthCheck{20, "", true};
  SubmitOptions o;
  o.secret_values = {{"WANDB_API_KEY", "x"}};
  auto r = BuildSubmitRequest(j, o);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->health_params->action.has_value());
  EXPECT_THAT(r->health_params->sub_actions, ElementsAre("notify"));
  j.spec.health_check = HealthCheck{720, "delete", false};
  r = BuildSubmitRequest(j, o);
  EXPECT_EQ(r->health_params->action, "delete");
  EXPECT_TRUE(r->health_params->sub_actions.empty());
}

TEST(BuildLaunchSpec, CommandEnvAndWorkDir) {
  MLSpaceJob j = FullJob();
  auto ls = BuildLaunchSpec(j, {{"WANDB_API_KEY", "k-value"}});
  ASSERT_TRUE(ls.ok());
  EXPECT_EQ(ls->executable, "python");
  EXPECT_THAT(ls->args, ElementsAre("-m", "train", "--lr", "3e-4"));
  EXPECT_EQ(ls->env, (Env{{"WANDB_PROJECT", "llama"}}));
  EXPECT_THAT(ls->env_from, ElementsAre("WANDB_API_KEY"));
  EXPECT_EQ(ls->work_dir, "/home/jovyan/llama");
  EXPECT_FALSE(ls->shell);
  EXPECT_TRUE(launchspec::Validate(*ls).ok());
  // A secret that was not resolved is an error naming the variable only.
  auto missing = BuildLaunchSpec(j, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "nlp/llama-sft: env WANDB_API_KEY: secret wandb/api-key was not resolved");
  j.spec.command.clear();
  EXPECT_FALSE(BuildLaunchSpec(j, {{"WANDB_API_KEY", "x"}}).ok());
}

TEST(ResolveSecrets, ReadsMountedSecretLayout) {
  SecretRegistry::Get().ClearForTesting();
  TempDir dir;
  dir.Write("wandb/api-key", "wb-0123456789abcdef\n");
  dir.Write("hf/token", "hf_tok_no_newline");
  JobSpec s = FullJob().spec;
  s.env.push_back(EnvVar{"HF_TOKEN", std::nullopt, SecretKeyRef{"hf", "token"}});
  auto r = ResolveSecrets(s, DirectorySecretResolver(dir.path().string()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::map<std::string, std::string>{{"WANDB_API_KEY", "wb-0123456789abcdef"},
                                                    {"HF_TOKEN", "hf_tok_no_newline"}}));
  // Registered: any message that mentions the value is masked.
  EXPECT_EQ(Redact("token wb-0123456789abcdef leaked"), "token *** leaked");
  SecretRegistry::Get().ClearForTesting();
}

TEST(ResolveSecrets, ErrorsNameVariableAndRefNeverValue) {
  TempDir dir;
  JobSpec s = FullJob().spec;
  auto r = ResolveSecrets(s, DirectorySecretResolver(dir.path().string()));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("env WANDB_API_KEY: secret wandb/api-key: cannot read"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  auto none = ResolveSecrets(s, DirectorySecretResolver(""));
  EXPECT_THAT(none.status().message(), HasSubstr("no --secrets-dir"));
  // Traversal through a crafted key is refused even if the schema was bypassed.
  dir.Write("outside", "top-secret-value");
  s.env[1].secret_key_ref = SecretKeyRef{"wandb", ".."};
  auto trav = ResolveSecrets(s, DirectorySecretResolver(dir.path().string()));
  ASSERT_FALSE(trav.ok());
  EXPECT_THAT(trav.status().message(), Not(HasSubstr("top-secret-value")));
  s.env[1].secret_key_ref = SecretKeyRef{"..", "outside"};
  EXPECT_FALSE(ResolveSecrets(s, DirectorySecretResolver(dir.path().string())).ok());
  // No secret refs, no reads, no directory needed.
  JobSpec plain = FullJob().spec;
  plain.env.pop_back();
  auto empty = ResolveSecrets(plain, DirectorySecretResolver(""));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Secrets, TravelInEnvVariablesNeverInFlagsJobDescOrJson) {
  const std::string secret = "sk-live-9f8e7d6c5b4a";
  MLSpaceJob j = FullJob();
  SubmitOptions o;
  o.marker = MakeMarker("prod", j.key(), j.spec_hash, 3);
  o.secret_values = {{"WANDB_API_KEY", secret}};
  auto r = BuildSubmitRequest(j, o);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r->job_desc, Not(HasSubstr(secret)));
  // Only in env_variables: the launch spec (decoded, and its --print-spec
  // rendering) names the variable but never holds the value.
  EXPECT_EQ(r->env_variables.at("WANDB_API_KEY"), secret);
  EXPECT_EQ(r->env_variables.size(), 1u);
  EXPECT_EQ(r->flags.at("spec-version"), "2");
  for (const auto& [k, v] : r->flags) EXPECT_THAT(v, Not(HasSubstr(secret))) << k;
  auto decoded = launchspec::DecodeArgv(launchspec::FlagsToArgv(r->flags));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_THAT(launchspec::ToJson(*decoded), Not(HasSubstr(secret)));
  EXPECT_THAT(launchspec::ToMaskedJson(*decoded), Not(HasSubstr(secret)));
  EXPECT_THAT(decoded->env_from, ElementsAre("WANDB_API_KEY"));
  // A job without secrets keeps version 1 and an empty env_variables.
  MLSpaceJob plain = FullJob();
  plain.spec.env.pop_back();
  auto p = BuildSubmitRequest(plain, SubmitOptions{});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->env_variables.empty());
  EXPECT_EQ(p->flags.at("spec-version"), "1");
  // The object as served and the status never see resolved values.
  std::string served = ToJson(j).dump();
  EXPECT_THAT(served, Not(HasSubstr(secret)));
  EXPECT_THAT(served, HasSubstr(R"("secretKeyRef":{"key":"api-key","name":"wandb"})"));
}

TEST(Files, InlineInTheSpecSecretsInEnvVariablesAsBase64) {
  SecretRegistry::Get().ClearForTesting();
  const std::string secret = "machine x login u password p4ss-9f8e7d";
  TempDir dir;
  dir.Write("netrc/file", secret + "\n");
  MLSpaceJob j = FullJob();
  j.spec.files = {api::JobFile{"conf/a.yaml", "lr: 1\n", std::nullopt, std::nullopt},
                  api::JobFile{"~/.netrc", std::nullopt, SecretKeyRef{"netrc", "file"}, 0600}};
  dir.Write("wandb/api-key", "wb-key");
  auto values = ResolveSecrets(j.spec, DirectorySecretResolver(dir.path().string()));
  ASSERT_TRUE(values.ok()) << values.status().ToString();
  EXPECT_EQ(values->at("MLSPACE_SECRET_FILE_1"), secret);  // trimmed like every secret
  SubmitOptions o;
  o.secret_values = *values;
  auto r = BuildSubmitRequest(j, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->env_variables.at("MLSPACE_SECRET_FILE_1"), launchspec::Base64Encode(secret));
  EXPECT_EQ(r->env_variables.at("WANDB_API_KEY"), "wb-key");
  EXPECT_EQ(r->flags.at("spec-version"), "2");
  for (const auto& [k, v] : r->flags) EXPECT_THAT(v, Not(HasSubstr(secret))) << k;
  auto decoded = launchspec::DecodeArgv(launchspec::FlagsToArgv(r->flags));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->files.size(), 2u);
  EXPECT_EQ(decoded->files[0].path, "conf/a.yaml");
  EXPECT_EQ(decoded->files[0].content, "lr: 1\n");
  EXPECT_EQ(decoded->files[0].mode, 0644u);
  EXPECT_EQ(decoded->files[1].path, "~/.netrc");
  EXPECT_EQ(decoded->files[1].content, "");
  EXPECT_EQ(decoded->files[1].content_env, "MLSPACE_SECRET_FILE_1");
  EXPECT_EQ(decoded->files[1].mode, 0600u);
  EXPECT_THAT(launchspec::ToJson(*decoded), Not(HasSubstr(secret)));
  // Registered: a message that quotes it is masked.
  EXPECT_THAT(Redact("x " + secret), Not(HasSubstr(secret)));
  SecretRegistry::Get().ClearForTesting();
}

TEST(Files, SecretFileErrorsNameTheFileNeverTheValue) {
  TempDir dir;
  MLSpaceJob j = FullJob();
  j.spec.env.pop_back();
  j.spec.files = {api::JobFile{"k", std::nullopt, SecretKeyRef{"big", "key"}, std::nullopt}};
  auto missing = ResolveSecrets(j.spec, DirectorySecretResolver(dir.path().string()));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("files[0] k: secret big/key: cannot read"));
  dir.Write("big/key", std::string((64 << 10) + 1, 'z'));
  auto big = ResolveSecrets(j.spec, DirectorySecretResolver(dir.path().string()));
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(),
              HasSubstr("files[0] k: secret big/key: 65537 bytes; a secret file holds at most "
                        "65536"));
  EXPECT_THAT(big.status().message(), Not(HasSubstr("zzzz")));
  auto unresolved = BuildLaunchSpec(j, {});
  ASSERT_FALSE(unresolved.ok());
  EXPECT_THAT(unresolved.status().message(), HasSubstr("files[0] k: secret big/key was not"));
}

std::string RunCapture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(SshKeys, OpenSshReadsThePrivateKeyAndDerivesTheSamePublicKey) {
  auto pair = GenerateSshKeyPair("mlspace-job-nlp/x");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_TRUE(pair->private_key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
  EXPECT_TRUE(pair->public_line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
  EXPECT_TRUE(pair->public_line.ends_with(" mlspace-job-nlp/x\n"));
  TempDir dir;
  const fs::path key = dir.path() / "id_ed25519";
  std::ofstream(key) << pair->private_key;
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
  // ssh-keygen (openssh-client, installed by scripts/deps.sh) is the judge.
  const std::string derived = RunCapture("ssh-keygen -y -f '" + key.string() + "' 2>&1");
  const std::string pub = pair->public_line;
  const std::string without_comment = pub.substr(0, pub.find(' ', 12));
  EXPECT_TRUE(derived.starts_with(without_comment)) << derived << " vs " << pub;
  // Fresh every time.
  auto other = GenerateSshKeyPair("c");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->private_key, pair->private_key);
  // Registered: a message quoting the key is masked.
  EXPECT_THAT(Redact(pair->private_key), Not(HasSubstr("PRIVATE KEY-----\n")));
}

TEST(SshKeys, MultiWorkerJobsGetAFreshPairPerRequestInstalledThroughFiles) {
  MLSpaceJob j = FullJob();  // workers: 2
  j.spec.ssh_ephemeral_keys = true;
  SubmitOptions o;
  o.secret_values = {{"WANDB_API_KEY", "x"}};
  auto first = BuildSubmitRequest(j, o);
  auto second = BuildSubmitRequest(j, o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(second.ok());
  const std::string private_b64 = first->env_variables.at("MLSPACE_SECRET_FILE_0");
  auto private_key = launchspec::Base64Decode(private_b64);
  ASSERT_TRUE(private_key.ok());
  EXPECT_TRUE(private_key->starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
  // A resend builds a new request: a new pair, nothing kept in between.
  EXPECT_NE(second->env_variables.at("MLSPACE_SECRET_FILE_0"), private_b64);
  for (const auto& [k, v] : first->flags) {
    EXPECT_THAT(v, Not(HasSubstr(private_b64.substr(0, 40)))) << k;
  }
  auto spec = launchspec::DecodeArgv(launchspec::FlagsToArgv(first->flags));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  using launchspec::FileWrite;
  ASSERT_EQ(spec->files.size(), 5u);
  // The job's own copy, replaced per attempt (FullJob is nlp/llama-sft).
  const std::string own = std::string(kSshJobDir) + j.key().namespace_name + "." + j.key().name;
  EXPECT_EQ(spec->files[0].path, own + "/id_ed25519");
  EXPECT_EQ(spec->files[0].content_env, "MLSPACE_SECRET_FILE_0");
  EXPECT_EQ(spec->files[0].mode, 0600u);
  EXPECT_EQ(spec->files[0].write, FileWrite::kReplace);
  EXPECT_EQ(spec->files[1].path, own + "/id_ed25519.pub");
  EXPECT_EQ(spec->files[1].write, FileWrite::kReplace);
  // The usual places: a user's own key and config are kept, the public key
  // joins the lines already authorized.
  EXPECT_EQ(spec->files[2].path, "~/.ssh/id_ed25519");
  EXPECT_EQ(spec->files[2].content_env, "MLSPACE_SECRET_FILE_0");
  EXPECT_EQ(spec->files[2].write, FileWrite::kKeepExisting);
  EXPECT_EQ(spec->files[3].path, "~/.ssh/authorized_keys");
  EXPECT_EQ(spec->files[3].write, FileWrite::kAppendLines);
  EXPECT_EQ(spec->files[3].content, spec->files[1].content);
  EXPECT_THAT(spec->files[3].content, testing::StartsWith("ssh-ed25519 "));
  EXPECT_EQ(spec->files[4].path, "~/.ssh/config");
  EXPECT_EQ(spec->files[4].write, FileWrite::kKeepExisting);
  EXPECT_THAT(spec->files[4].content, HasSubstr("StrictHostKeyChecking accept-new"));
  // Keep and append need a version 3 launcher; an older one refuses the spec
  // instead of replacing the user's files.
  EXPECT_EQ(first->flags.at("spec-version"), "3");
  EXPECT_THAT(launchspec::ToMaskedJson(*spec), Not(HasSubstr("PRIVATE KEY")));
  // One worker: nothing to reach, no keys.
  j.spec.workers = 1;
  auto single = BuildSubmitRequest(j, o);
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE(single->env_variables.contains("MLSPACE_SECRET_FILE_0"));
  // Off: no keys either, and the spec (hash) is the same as before the field.
  j.spec.workers = 2;
  j.spec.ssh_ephemeral_keys = false;
  EXPECT_FALSE(api::SpecToJson(j.spec).contains("ssh"));
  EXPECT_FALSE(BuildSubmitRequest(j, o)->env_variables.contains("MLSPACE_SECRET_FILE_0"));
}

}  // namespace
}  // namespace mlspace::reconciler
