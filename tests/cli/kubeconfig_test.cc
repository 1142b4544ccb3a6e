#include "controller/cli/kubeconfig.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace mlspace::cli {
namespace {

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mlspacectl-kc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    env_["HOME"] = dir_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(dir_ + "/" + rel).parent_path());
    std::ofstream(dir_ + "/" + rel) << text;
  }
  GetEnv Env() {
    return [this](const char* n) -> const char* {
      auto it = env_.find(n);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
  }
  Result<Connection> Resolve(const ConnectionFlags& f = {}) { return ResolveConnection(f, Env()); }

  std::string dir_;
  std::map<std::string, std::string> env_;
};

constexpr char kConfig[] = R"(apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {cluster: dev-cluster, user: alice, namespace: team-a}
- name: prod
  context: {cluster: prod-cluster, user: bob}
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:8443/
    certificate-authority: certs/ca.crt
- name: prod-cluster
  cluster:
    server: https://prod.example:443
    # "-----BEGIN CERTIFICATE-----\nhello\n-----END CERTIFICATE-----\n"
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmhlbGxvCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    insecure-skip-tls-verify: true
users:
- name: alice
  user: {token: alice-token}
- name: bob
  user: {tokenFile: bob.token}
)";

TEST_F(KubeconfigTest, CurrentContextOfDefaultFile) {
  Write(".kube/config", kConfig);
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "https://127.0.0.1:8443");  // trailing slash dropped
  EXPECT_EQ(c->token, "alice-token");
  EXPECT_EQ(c->ca_file, dir_ + "/.kube/certs/ca.crt");  // relative to the kubeconfig
  EXPECT_EQ(c->namespace_, "team-a");
  EXPECT_FALSE(c->namespace_explicit);
  EXPECT_FALSE(c->insecure_skip_tls_verify);
}

TEST_F(KubeconfigTest, ContextFlagTokenFileAndCaData) {
  Write("kc/config", kConfig);
  Write("kc/bob.token", "bob-token\n");
  ConnectionFlags f;
  f.kubeconfig = dir_ + "/kc/config";
  f.context = "prod";
  auto c = Resolve(f);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "https://prod.example:443");
  EXPECT_EQ(c->token, "bob-token");
  EXPECT_EQ(c->ca_pem, "-----BEGIN CERTIFICATE-----\nhello\n-----END CERTIFICATE-----\n");
  EXPECT_TRUE(c->insecure_skip_tls_verify);
  EXPECT_EQ(c->namespace_, "default");
}

TEST_F(KubeconfigTest, FlagsThenEnvironmentThenKubeconfig) {
  Write(".kube/config", kConfig);
  env_["MLSPACE_SERVER"] = "http://127.0.0.1:9000";
  env_["MLSPACE_TOKEN"] = "env-token";
  auto env = Resolve();
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->server, "http://127.0.0.1:9000");
  EXPECT_EQ(env->token, "env-token");
  EXPECT_EQ(env->namespace_, "team-a");  // the rest still from the context
  ConnectionFlags f;
  f.server = "http://127.0.0.1:9001";
  f.token = "flag-token";
  f.namespace_ = "other";
  f.insecure_skip_tls_verify = true;
  f.certificate_authority = "/etc/ca.pem";
  auto flags = Resolve(f);
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->server, "http://127.0.0.1:9001");
  EXPECT_EQ(flags->token, "flag-token");
  EXPECT_EQ(flags->namespace_, "other");
  EXPECT_TRUE(flags->namespace_explicit);
  EXPECT_TRUE(flags->insecure_skip_tls_verify);
  EXPECT_EQ(flags->ca_file, "/etc/ca.pem");
}

TEST_F(KubeconfigTest, KubeconfigListFirstFileWins) {
  Write("a.yaml", "current-context: second\n");
  Write("b.yaml", kConfig);
  Write("c.yaml",
        "contexts:\n- name: second\n  context: {cluster: dev-cluster, user: carol}\n"
        "users:\n- name: carol\n  user: {token: carol-token}\n");
  env_["KUBECONFIG"] =
      dir_ + "/a.yaml:" + dir_ + "/missing.yaml:" + dir_ + "/b.yaml:" + dir_ + "/c.yaml";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "https://127.0.0.1:8443");
  EXPECT_EQ(c->token, "carol-token");
}

TEST_F(KubeconfigTest, ErrorsNameTheSource) {
  auto none = Resolve();
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no API server"), std::string::npos);

  ConnectionFlags missing;
  missing.kubeconfig = dir_ + "/nope";
  auto m = Resolve(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("--kubeconfig " + dir_ + "/nope: no such file"),
            std::string::npos);

  Write(".kube/config", kConfig);
  ConnectionFlags ctx;
  ctx.context = "staging";
  auto s = Resolve(ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("--context staging"), std::string::npos);

  ConnectionFlags bad;
  bad.server = "ftp://x";
  auto b = Resolve(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("--server \"ftp://x\""), std::string::npos);

  Write(".kube/config", "clusters: [\n");
  auto y = Resolve();
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find(dir_ + "/.kube/config:"), std::string::npos)
      << y.status().message();
}

}  // namespace
}  // namespace mlspace::cli
