// Cross-check: our validator's verdict equals python3-jsonschema's on a
// generated corpus of valid and invalid documents (RunJobRequest and friends
// from the Gateway v2 OpenAPI, plus a keyword-dense synthetic schema).

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/schema/validator.h"

namespace mlspace::schema {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Case {
  std::string schema;
  json instance;
};

fs::path SourceDir() {
  const char* s = std::getenv("MLSPACE_SOURCE_DIR");
  return s ? fs::path(s) : fs::path(MLSPACE_TEST_SOURCE_DIR);
}

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << p;
  return json::parse(in);
}

json ValidRunJob() {
  return json::parse(R"({
    "script": "/home/jovyan/.mlspace/bin/mlspace-launch",
    "base_image": "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40",
    "instance_type": "a100.1gpu",
    "region": "SR006",
    "type": "binary",
    "n_workers": 2,
    "processes_per_worker": 8,
    "job_desc": "mlsj:default/hello/0123abcd/1",
    "internet": true,
    "max_retry": 3,
    "priority_class": "medium",
    "queue_name": "q1",
    "allocation_name": "alloc",
    "health_params": {"log_period": 60, "action": "restart", "sub_actions": ["notify"]},
    "flags": {"spec-version": "1", "spec-part-0": "e30="},
    "env_variables": {"A": "1"},
    "shm_size_class": "small",
    "include_nodes": ["n1"]
  })");
}

// Values of every JSON type and a few boundary numbers: each property is
// set to each of them, so every type/enum/range rule is probed both ways.
std::vector<json> Probes() {
  return {nullptr,
          true,
          false,
          0,
          -1,
          1,
          2.0,
          1.5,
          20,
          720,
          721,
          "",
          "x",
          "default",
          "SR006",
          "binary",
          "medium",
          "restart",
          "notify",
          json::array(),
          json::array({"a"}),
          json::array({1}),
          json::object(),
          json{{"a", 1}},
          json{{"log_period", 20}}};
}

std::vector<Case> BuildCorpus() {
  std::vector<Case> cases;
  const std::string run = "#/components/schemas/RunJobRequest";
  json base = ValidRunJob();
  cases.push_back({run, base});
  cases.push_back({run, json{{"script", "s"}, {"base_image", "b"}, {"instance_type", "i"}}});
  // Every property set to every probe, and removed.
  for (auto it = base.begin(); it != base.end(); ++it) {
    for (const auto& p : Probes()) {
      json m = base;
      m[it.key()] = p;
      cases.push_back({run, m});
    }
    json m = base;
    m.erase(it.key());
    cases.push_back({run, m});
  }
  // Properties absent from the base, each set to a few probes.
  for (const char* k : {"tmp_storage", "conda_env", "checkpoint_dir", "logs_dir", "pytorch_use_env",
                        "elastic_min_workers", "elastic_max_restarts", "stop_timer",
                        "exclude_nodes", "preflight_check", "cuda11"}) {
    for (const json& p :
         {json(nullptr), json(true), json(3), json(-2), json("default"), json::array({"a"})}) {
      json m = base;
      m[k] = p;
      cases.push_back({run, m});
    }
  }
  // Extra keys at each object level.
  for (const char* k : {"extra", "nWorkers", "env"}) {
    json m = base;
    m[k] = 1;
    cases.push_back({run, m});
    json h = base;
    h["health_params"][k] = "x";
    cases.push_back({run, h});
  }
  // health_params in depth.
  for (const auto& p : Probes()) {
    for (const char* k : {"log_period", "action", "sub_actions"}) {
      json m = base;
      m["health_params"][k] = p;
      cases.push_back({run, m});
    }
    json s = base;
    s["health_params"]["sub_actions"] = json::array({p});
    cases.push_back({run, s});
  }
  {
    json m = base;
    m["health_params"].erase("log_period");
    cases.push_back({run, m});
  }
  // Random combinations of mutations (fixed seed: reproducible corpus).
  std::mt19937 rng(20240501);
  std::vector<std::string> keys;
  for (auto it = base.begin(); it != base.end(); ++it) keys.push_back(it.key());
  keys.push_back("bogus");
  const auto probes = Probes();
  for (int i = 0; i < 150; ++i) {
    json m = base;
    int n = 1 + static_cast<int>(rng() % 3);
    for (int j = 0; j < n; ++j) {
      const auto& k = keys[rng() % keys.size()];
      if (rng() % 4 == 0) {
        m.erase(k);
      } else {
        m[k] = probes[rng() % probes.size()];
      }
    }
    cases.push_back({run, m});
  }
  // Other request bodies.
  for (const auto& p : Probes()) {
    cases.push_back({"#/components/schemas/RestartJobRequest", json{{"job_name", p}}});
    cases.push_back(
        {"#/components/schemas/ServiceAccount", json{{"client_id", "id"}, {"client_secret", p}}});
    cases.push_back({"#/components/schemas/HealthParams", json{{"log_period", p}}});
    cases.push_back({"#/components/schemas/RestartJobRequest", p});
  }
  cases.push_back({"#/components/schemas/RestartJobRequest", json{{"job_name", "j"}, {"x", 1}}});
  cases.push_back({"#/components/schemas/RestartJobRequest", json::object()});
  cases.push_back({"#/components/schemas/ServiceAccount",
                   json{{"client_id", "id"}, {"client_secret", "s"}, {"extra", 1}}});
  cases.push_back({"#/components/schemas/ServiceAccount", json{{"client_id", "id"}}});
  return cases;
}

// A synthetic schema dense in the keywords RunJobRequest does not use.
json KeywordSchema() {
  return json::parse(R"({
    "$defs": {"name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"}},
    "definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
    "type": "object",
    "properties": {
      "name": {"$ref": "#/$defs/name"},
      "port": {"$ref": "#/definitions/port"},
      "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
      "step": {"type": "number", "multipleOf": 0.5},
      "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3,
               "uniqueItems": true},
      "either": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]},
      "some": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
      "all": {"allOf": [{"type": "integer"}, {"minimum": 3}]},
      "notnull": {"not": {"type": "null"}},
      "maybe": {"type": ["string", "null"]},
      "fixed": {"const": {"a": [1, 2]}},
      "color": {"enum": ["red", "green", 3, null]},
      "never": false,
      "anything": true,
      "labels": {"type": "object", "additionalProperties": {"type": "string"},
                 "maxProperties": 2},
      "nested": {"type": "object", "required": ["x"], "properties": {"x": {"type": "integer"}},
                 "additionalProperties": false, "minProperties": 1}
    },
    "required": ["name"]
  })");
}

std::vector<Case> BuildKeywordCorpus() {
  std::vector<Case> cases;
  json base = {{"name", "abc"}};
  cases.push_back({"", base});
  cases.push_back({"", json::object()});
  const std::vector<json> values = {nullptr,
                                    true,
                                    0,
                                    1,
                                    2,
                                    3,
                                    9.5,
                                    10,
                                    10.5,
                                    0.5,
                                    1.0,
                                    -0.0,
                                    65535,
                                    65536,
                                    "",
                                    "a",
                                    "ab",
                                    "abcdef",
                                    "AB",
                                    "red",
                                    "\xc3\xa9\xc3\xa9",
                                    json::array(),
                                    json::array({"a", "a"}),
                                    json::array({"a", "b"}),
                                    json::array({"a", "b", "c", "d"}),
                                    json::array({1}),
                                    json::object(),
                                    json{{"x", 1}},
                                    json{{"x", "1"}},
                                    json{{"x", 1}, {"y", 2}},
                                    json{{"a", "b"}, {"c", "d"}, {"e", "f"}},
                                    json{{"a", 1}},
                                    json{{"a", {1, 2}}},
                                    json{{"a", {1, 2.0}}}};
  const json schema = KeywordSchema();
  for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it) {
    for (const auto& v : values) {
      json m = base;
      m[it.key()] = v;
      cases.push_back({"", m});
    }
  }
  for (const auto& v : values) {
    json m = base;
    m["unlisted"] = v;
    cases.push_back({"", m});
    cases.push_back({"", v});
  }
  return cases;
}

// Runs python3-jsonschema on the corpus; returns its verdicts.
std::vector<bool> PythonVerdicts(const json& doc, const std::vector<Case>& cases,
                                 const std::string& tag) {
  fs::path dir = fs::temp_directory_path() /
                 ("mlspace_schema_xcheck_" + std::to_string(::getpid()) + "_" + tag);
  fs::create_directories(dir);
  {
    std::ofstream(dir / "schema.json") << doc.dump();
    std::ofstream out(dir / "cases.jsonl");
    for (const auto& c : cases)
      out << json{{"schema", c.schema}, {"instance", c.instance}}.dump() << "\n";
  }
  fs::path script = SourceDir() / "tests/schema/jsonschema_check.py";
  std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" +
                    (dir / "schema.json").string() + "' '" + (dir / "cases.jsonl").string() +
                    "' '" + (dir / "out.txt").string() + "'";
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  std::vector<bool> verdicts;
  std::ifstream in(dir / "out.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) verdicts.push_back(line == "valid");
  }
  fs::remove_all(dir);
  return verdicts;
}

void CrossCheck(const json& doc, const std::vector<Case>& cases, const std::string& tag) {
  auto v = Validator::Create(doc);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  std::vector<bool> theirs = PythonVerdicts(doc, cases, tag);
  ASSERT_EQ(theirs.size(), cases.size());
  int valid = 0, invalid = 0, mismatches = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto errors = v->Validate(cases[i].instance, cases[i].schema);
    bool ours = errors.empty();
    (theirs[i] ? valid : invalid)++;
    if (ours != theirs[i] && ++mismatches <= 20) {
      ADD_FAILURE() << "case " << i << " " << cases[i].schema << " " << cases[i].instance.dump()
                    << ": ours=" << (ours ? "valid" : "invalid")
                    << " python=" << (theirs[i] ? "valid" : "invalid")
                    << " errors: " << JoinErrors(errors);
    }
  }
  EXPECT_EQ(mismatches, 0);
  // The corpus must exercise both verdicts substantially.
  EXPECT_GE(valid, 30) << tag;
  EXPECT_GE(invalid, 100) << tag;
  std::cout << tag << ": " << cases.size() << " cases, " << valid << " valid, " << invalid
            << " invalid, all verdicts equal to python3-jsonschema\n";
}

TEST(ValidatorCrossCheck, GatewayRequestBodiesAgreeWithPythonJsonschema) {
  json doc = ReadJson(SourceDir() / "tests/schema/testdata/gateway-v2-jobs-openapi-subset.json");
  auto cases = BuildCorpus();
  ASSERT_GE(cases.size(), 200u);
  CrossCheck(doc, cases, "openapi");
}

TEST(ValidatorCrossCheck, KeywordSchemaAgreesWithPythonJsonschema) {
  auto cases = BuildKeywordCorpus();
  ASSERT_GE(cases.size(), 200u);
  CrossCheck(KeywordSchema(), cases, "keywords");
}

}  // namespace
}  // namespace mlspace::schema
