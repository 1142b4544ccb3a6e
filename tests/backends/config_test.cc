#include "controller/backends/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "controller/backends/registry.h"

namespace mlspace::backends {
namespace {

using ::testing::HasSubstr;

class BackendsConfigTest : public ::testing::Test {
 protected:
  BackendsConfigTest() { RegisterBuiltinTypes(types_); }
  Result<BackendsConfig> Parse(const std::string& text) {
    return ParseBackends(text, "backends.yaml", types_);
  }
  // The error lines of a config that must fail.
  std::string Errors(const std::string& text) {
    auto r = Parse(text);
    EXPECT_FALSE(r.ok()) << "accepted:\n" << text;
    return r.ok() ? "" : r.status().message();
  }
  TypeRegistry types_;
};

constexpr char kTwo[] = R"(backends:
  - name: emu
    type: mlspace
    url: http://127.0.0.1:8000
    insecure: true
    regions: [SR006, A100-MT]
    instanceTypes:
      a100.1gpu: a100plus.1gpu.80vG.12C.96G
  - name: lab
    type: local
    default: true
    maxRunning: 2
    maxWorkers: 1
    regions:
      lab: DGX2-MT
)";

TEST_F(BackendsConfigTest, ParsesBackendsTablesAndTheDefault) {
  auto r = Parse(kTwo);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->backends.size(), 2u);
  EXPECT_EQ(r->default_name, "lab");
  EXPECT_TRUE(r->qualified);
  const BackendConfig& emu = r->backends[0];
  EXPECT_EQ(emu.type, "mlspace");
  EXPECT_FALSE(emu.is_default);
  EXPECT_EQ(emu.regions.Map("SR006"), "SR006");
  EXPECT_EQ(emu.regions.Map("lab"), std::nullopt);
  EXPECT_EQ(emu.instance_types.Map("a100.1gpu"), "a100plus.1gpu.80vG.12C.96G");
  EXPECT_EQ(emu.instance_types.Map("cpu"), std::nullopt);
  EXPECT_EQ(emu.where, "backends.yaml:2");
  const BackendConfig& lab = r->backends[1];
  EXPECT_TRUE(lab.is_default);
  EXPECT_EQ(lab.regions.Map("lab"), "DGX2-MT");
  EXPECT_TRUE(lab.instance_types.any);
  EXPECT_EQ(lab.max_workers, 1);
}

TEST_F(BackendsConfigTest, TopLevelDefaultAndALoneBackend) {
  auto top =
      Parse("default: b\nbackends:\n  - {name: a, type: local}\n  - {name: b, type: local}\n");
  ASSERT_TRUE(top.ok()) << top.status().message();
  EXPECT_EQ(top->default_name, "b");
  auto lone = Parse("backends:\n  - name: only\n    type: local\n");
  ASSERT_TRUE(lone.ok()) << lone.status().message();
  EXPECT_EQ(lone->default_name, "only");
}

TEST_F(BackendsConfigTest, ErrorsNameFileLineAndField) {
  EXPECT_EQ(
      Errors("backends:\n  - name: a\n    type: lsf\n"),
      "backends.yaml:3: backends[a].type: unknown type \"lsf\" (one of local, mlspace, slurm)");
  EXPECT_EQ(Errors("backends:\n  - name: Bad_Name\n    type: local\n"),
            "backends.yaml:2: backends[0].name: expected a DNS-1123 label (1-63 of a-z, 0-9 and "
            "'-', alphanumeric at both ends)");
  EXPECT_EQ(Errors("backends:\n  - name: a\n    type: mlspace\n    url: ftp://x\n"),
            "backends.yaml:4: backends[a].url: expected an http:// or https:// URL");
  EXPECT_EQ(Errors("backends:\n  - name: a\n    type: mlspace\n"),
            "backends.yaml:2: backends[a].url: required: the Gateway v2 base URL, e.g. "
            "https://api.ai.cloud.ru");
  EXPECT_EQ(Errors("backends:\n  - name: a\n    type: local\n    maxRunning: lots\n"),
            "backends.yaml:4: backends[a].maxRunning: expected a number in 1..1024");
  EXPECT_EQ(Errors("backends:\n  - name: a\n    type: local\n    url: http://x\n"),
            "backends.yaml:4: backends[a].url: unknown field for type local (known: default, "
            "instanceTypes, launcher, maxRunning, maxWorkers, name, regions, stateDir, type)");
  EXPECT_EQ(Errors("backends:\n  - name: a\n    type: local\n    regions: []\n"),
            "backends.yaml:4: backends[a].regions: empty: omit it to accept every name");
  EXPECT_EQ(Errors("backends:\n  - name: a\n    type: local\n    maxWorkers: 0\n"),
            "backends.yaml:4: backends[a].maxWorkers: expected an integer >= 1");
  EXPECT_EQ(Errors("backend:\n  - name: a\n"),
            "backends.yaml:1: backend: unknown field (known: backends, default)\n"
            "backends.yaml:1: backends: required: a list of backends");
}

TEST_F(BackendsConfigTest, DefaultMustBeOneAndNamed) {
  EXPECT_EQ(Errors("backends:\n  - {name: a, type: local}\n  - {name: b, type: local}\n"),
            "backends.yaml:2: default: none: mark one backend default: true or set default: "
            "NAME at the top");
  EXPECT_EQ(Errors("backends:\n  - {name: a, type: local, default: true}\n"
                   "  - {name: b, type: local, default: true}\n"),
            "backends.yaml:2: backends: more than one default: true (a, b)");
  EXPECT_EQ(Errors("default: c\nbackends:\n  - {name: a, type: local}\n"),
            "backends.yaml:1: default: names no backend: \"c\" (backends: a)");
  EXPECT_EQ(Errors("default: a\nbackends:\n  - {name: a, type: local}\n"
                   "  - {name: b, type: local, default: true}\n"),
            "backends.yaml:1: default: \"a\" but backend b says default: true");
  EXPECT_EQ(Errors("backends:\n  - {name: a, type: local}\n  - {name: a, type: local}\n"),
            "backends.yaml:3: backends[1].name: duplicate name \"a\" (first at backends.yaml:2)");
}

TEST_F(BackendsConfigTest, EveryProblemIsReportedAndYamlSyntaxHasALine) {
  std::string all = Errors(
      "backends:\n  - name: a\n    type: nope\n  - name: b\n    type: local\n    maxRunning: 0\n");
  EXPECT_THAT(all, HasSubstr("backends.yaml:3: backends[a].type"));
  EXPECT_THAT(all, HasSubstr("backends.yaml:6: backends[b].maxRunning"));
  EXPECT_THAT(Errors("backends:\n  - name: [a\n"), HasSubstr("backends.yaml:"));
  EXPECT_THAT(Errors("- a\n- b\n"), HasSubstr("expected a mapping with \"backends\""));
  auto missing = LoadBackendsFile("/nonexistent/backends.yaml", types_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "--backends \"/nonexistent/backends.yaml\": cannot be read");
}

TEST_F(BackendsConfigTest, RegistryRefusesDuplicatesAndTypesWithoutFactory) {
  TypeRegistry r;
  RegisterBuiltinTypes(r);
  EXPECT_EQ(r.Names(), (std::vector<std::string>{"local", "mlspace", "slurm"}));
  EXPECT_FALSE(r.Register("local", {{}, {}, nullptr, r.Find("local")->make, nullptr}).ok());
  EXPECT_FALSE(r.Register("other", BackendType{}).ok());
}

TEST(GatewayRegionsTest, GatewayRegionsAreTheOpenApiEnum) {
  // What an mlspace/local backend without a regions table accepts must be
  // the service's own list (the CRD no longer enumerates regions).
  std::ifstream in(std::string(std::getenv("MLSPACE_SOURCE_DIR")) +
                   "/tests/schema/testdata/gateway-v2-jobs-openapi-subset.json");
  ASSERT_TRUE(in.good());
  auto openapi = nlohmann::json::parse(in);
  auto want = openapi["components"]["schemas"]["ModelTrainingRegion"]["enum"]
                  .get<std::vector<std::string>>();
  EXPECT_EQ(gateway::GatewayRegions(), want);
  TypeRegistry types;
  RegisterBuiltinTypes(types);
  for (const char* t : {"mlspace", "local"}) {
    EXPECT_EQ(types.Find(t)->default_regions, want) << t;
  }
}

TEST_F(BackendsConfigTest, SingleBackendFromFlagsUsesPlainLocations) {
  BackendsConfig c = SingleBackend("default", "mlspace");
  EXPECT_FALSE(c.qualified);
  EXPECT_EQ(c.Default().name, "default");
  EXPECT_TRUE(c.Default().regions.any);
  TypeRegistry types;
  RegisterBuiltinTypes(types);
  BackendsConfig typed = SingleBackend("default", "mlspace", &types);
  EXPECT_FALSE(typed.Default().regions.any);
  EXPECT_EQ(typed.Default().regions.Map("SR006"), "SR006");
  EXPECT_EQ(typed.Default().regions.Map("SR001"), std::nullopt);
}

}  // namespace
}  // namespace mlspace::backends
