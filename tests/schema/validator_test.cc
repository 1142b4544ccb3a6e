#include "controller/schema/validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace mlspace::schema {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

Validator Make(const char* schema) {
  auto v = Validator::Create(json::parse(schema));
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return std::move(v).value();
}

std::vector<std::string> Errors(const Validator& v, const json& inst, std::string_view ptr = "") {
  std::vector<std::string> out;
  for (const auto& e : v.Validate(inst, ptr)) out.push_back(e.ToString());
  return out;
}

fs::path SourceDir() {
  const char* s = std::getenv("MLSPACE_SOURCE_DIR");
  return s ? fs::path(s) : fs::path(MLSPACE_TEST_SOURCE_DIR);
}

TEST(Validator, TypeKeyword) {
  auto v = Make(R"({"type": "integer"})");
  EXPECT_TRUE(v.IsValid(3));
  EXPECT_TRUE(v.IsValid(3.0));  // draft 6+: integral floats are integers
  EXPECT_THAT(Errors(v, 3.5), ElementsAre("must be of type integer, got number"));
  EXPECT_THAT(Errors(v, "3"), ElementsAre("must be of type integer, got string"));
  EXPECT_THAT(Errors(v, true), ElementsAre("must be of type integer, got boolean"));
  auto n = Make(R"({"type": "number"})");
  EXPECT_TRUE(n.IsValid(3.5));
  EXPECT_TRUE(n.IsValid(-2));
  EXPECT_FALSE(n.IsValid(nullptr));
  for (const char* t : {"string", "boolean", "array", "object", "null"}) {
    auto s = Make((std::string(R"({"type": ")") + t + "\"}").c_str());
    int valid = 0;
    for (const json& x : {json("s"), json(false), json::array(), json::object(), json(nullptr)})
      valid += s.IsValid(x);
    EXPECT_EQ(valid, 1) << t;
  }
}

TEST(Validator, TypeArrayOpenApi31AndNullable30) {
  auto v = Make(R"({"type": ["string", "null"]})");
  EXPECT_TRUE(v.IsValid("a"));
  EXPECT_TRUE(v.IsValid(nullptr));
  EXPECT_THAT(Errors(v, 1), ElementsAre("must be of type string or null, got integer"));
  auto n = Make(R"({"type": "string", "nullable": true, "minLength": 2})");
  EXPECT_TRUE(n.IsValid(nullptr));
  EXPECT_FALSE(n.IsValid("a"));
  EXPECT_FALSE(n.IsValid(1));
  auto nn = Make(R"({"type": "string", "nullable": false})");
  EXPECT_FALSE(nn.IsValid(nullptr));
  // nullable beside a $ref (the OpenAPI's priority_class form).
  auto r = Make(R"({"$defs": {"P": {"type": "string", "enum": ["low", "high"]}},
                    "properties": {"p": {"$ref": "#/$defs/P", "nullable": true}}})");
  EXPECT_TRUE(r.IsValid(json{{"p", nullptr}}));
  EXPECT_TRUE(r.IsValid(json{{"p", "low"}}));
  EXPECT_FALSE(r.IsValid(json{{"p", "mid"}}));
}

TEST(Validator, Required) {
  auto v = Make(R"({"type": "object", "required": ["a", "b"],
                    "properties": {"s": {"type": "object", "required": ["region"]}}})");
  EXPECT_TRUE(v.IsValid(json{{"a", 1}, {"b", nullptr}}));
  EXPECT_THAT(Errors(v, json{{"a", 1}}), ElementsAre("b: is required"));
  EXPECT_THAT(Errors(v, json{{"a", 1}, {"b", 1}, {"s", json::object()}}),
              ElementsAre("s.region: is required"));
  EXPECT_TRUE(v.IsValid(json::array()) == false);  // required applies only to objects,
  EXPECT_TRUE(Make(R"({"required": ["a"]})").IsValid(json::array()));  // type does the rest
}

TEST(Validator, EnumAndConst) {
  auto v = Make(R"({"enum": ["delete", "restart", 3, null]})");
  EXPECT_TRUE(v.IsValid("delete"));
  EXPECT_TRUE(v.IsValid(3.0));
  EXPECT_TRUE(v.IsValid(nullptr));
  EXPECT_THAT(
      Errors(v, "stop"),
      ElementsAre(R"(unsupported value "stop": must be one of "delete", "restart", 3, null)"));
  EXPECT_FALSE(v.IsValid(true));
  auto c = Make(R"({"const": {"a": [1]}})");
  EXPECT_TRUE(c.IsValid(json::parse(R"({"a": [1]})")));
  EXPECT_THAT(Errors(c, json::parse(R"({"a": [2]})")),
              ElementsAre(R"(must be equal to {"a":[1]})"));
}

TEST(Validator, NumericRanges) {
  auto v = Make(R"({"properties": {
      "w": {"type": "integer", "minimum": 1},
      "p": {"type": "integer", "minimum": 20, "maximum": 720},
      "x": {"type": "integer", "exclusiveMinimum": 0.0},
      "y": {"type": "number", "exclusiveMaximum": 1},
      "o": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
      "m": {"type": "number", "multipleOf": 0.25}}})");
  EXPECT_TRUE(v.IsValid(json{{"w", 1}, {"p", 20}, {"x", 1}, {"y", 0.99}, {"o", 0.1}, {"m", 1.75}}));
  EXPECT_THAT(Errors(v, json{{"w", 0}}), ElementsAre("w: must be >= 1"));
  EXPECT_THAT(Errors(v, json{{"p", 721}}), ElementsAre("p: must be <= 720"));
  EXPECT_THAT(Errors(v, json{{"p", 19}}), ElementsAre("p: must be >= 20"));
  EXPECT_THAT(Errors(v, json{{"x", 0}}), ElementsAre("x: must be > 0"));
  EXPECT_THAT(Errors(v, json{{"y", 1}}), ElementsAre("y: must be < 1"));
  EXPECT_THAT(Errors(v, json{{"o", 0}}), ElementsAre("o: must be > 0"));
  EXPECT_THAT(Errors(v, json{{"m", 0.3}}), ElementsAre("m: must be a multiple of 0.25"));
  // Large integers compare exactly.
  auto big = Make(R"({"maximum": 9007199254740993})");
  EXPECT_TRUE(big.IsValid(json(int64_t{9007199254740993})));
  EXPECT_FALSE(big.IsValid(json(int64_t{9007199254740994})));
}

TEST(Validator, StringLengthAndPattern) {
  auto v = Make(R"({"type": "string", "minLength": 2, "maxLength": 3,
                    "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"})");
  EXPECT_TRUE(v.IsValid("ab"));
  EXPECT_THAT(Errors(v, "a"), ElementsAre("must be at least 2 characters long"));
  EXPECT_THAT(Errors(v, "abcd"), ElementsAre("must be at most 3 characters long"));
  EXPECT_THAT(Errors(v, "A-"),
              ElementsAre(R"(must match pattern "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")"));
  // Length is in code points: two 2-byte characters are 2 long.
  EXPECT_TRUE(Make(R"({"maxLength": 2})").IsValid("\xc3\xa9\xc3\xa9"));
  // Patterns search (JSON schema semantics), they are not anchored.
  EXPECT_TRUE(Make(R"({"pattern": "b+"})").IsValid("abbc"));
}

TEST(Validator, ItemsAndArrayBounds) {
  auto v = Make(R"({"type": "array", "items": {"type": "string"}, "minItems": 1,
                    "maxItems": 3, "uniqueItems": true})");
  EXPECT_TRUE(v.IsValid(json::array({"a", "b"})));
  EXPECT_THAT(Errors(v, json::array({"a", 1})),
              ElementsAre("[1]: must be of type string, got integer"));
  EXPECT_THAT(Errors(v, json::array()), ElementsAre("must have at least 1 items"));
  EXPECT_THAT(Errors(v, json::array({"a", "b", "c", "d"})),
              ElementsAre("must have at most 3 items"));
  EXPECT_THAT(Errors(v, json::array({"a", "a"})), ElementsAre("[1]: duplicate of item 0"));
  auto nested = Make(R"({"properties": {"env": {"items": {"required": ["name"]}}}})");
  EXPECT_THAT(Errors(nested, json::parse(R"({"env": [{"name": "A"}, {}]})")),
              ElementsAre("env[1].name: is required"));
}

TEST(Validator, PropertiesAndAdditionalProperties) {
  auto closed =
      Make(R"({"properties": {"a": {"type": "integer"}}, "additionalProperties": false})");
  EXPECT_TRUE(closed.IsValid(json{{"a", 1}}));
  auto errs = closed.Validate(json{{"a", 1}, {"wrokers", 2}});
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].kind, ErrorKind::kUnknownField);
  EXPECT_EQ(errs[0].path, "wrokers");
  EXPECT_EQ(errs[0].ToString(), R"(unknown field "wrokers")");
  auto typed = Make(R"({"properties": {"a": {}}, "additionalProperties": {"type": "string"}})");
  EXPECT_TRUE(typed.IsValid(json{{"a", 1}, {"b", "x"}}));
  EXPECT_THAT(Errors(typed, json{{"b", 2}}), ElementsAre("b: must be of type string, got integer"));
  auto open = Make(R"({"properties": {"a": {}}})");
  EXPECT_TRUE(open.IsValid(json{{"zzz", 1}}));
  auto bounds = Make(R"({"minProperties": 1, "maxProperties": 1})");
  EXPECT_FALSE(bounds.IsValid(json::object()));
  EXPECT_FALSE(bounds.IsValid(json{{"a", 1}, {"b", 2}}));
}

TEST(Validator, StrictModeClosesStructuralObjects) {
  auto v = Make(R"({"properties": {
      "spec": {"type": "object", "properties": {"workers": {"type": "integer"}}},
      "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
               "properties": {"a": {}}},
      "labels": {"type": "object", "additionalProperties": {"type": "string"}}}})");
  json inst = json::parse(R"({"spec": {"wrokers": 1}, "free": {"b": 1}, "labels": {"x": "y"}})");
  EXPECT_TRUE(v.IsValid(inst));  // plain JSON schema: open objects
  ValidateOptions strict;
  strict.reject_unknown_fields = true;
  auto errs = v.Validate(inst, "", strict);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].ToString(), R"(unknown field "spec.wrokers")");
}

TEST(Validator, Combinators) {
  auto any = Make(R"({"anyOf": [{"type": "integer"}, {"type": "string", "const": "default"}]})");
  EXPECT_TRUE(any.IsValid(8));
  EXPECT_TRUE(any.IsValid("default"));
  auto errs = Errors(any, "eight");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0], HasSubstr("must match one of the alternatives"));
  EXPECT_THAT(errs[0], HasSubstr("must be of type integer"));
  auto one = Make(R"({"oneOf": [{"type": "integer"}, {"minimum": 5}]})");
  EXPECT_TRUE(one.IsValid(3));
  EXPECT_TRUE(one.IsValid(5.5));
  EXPECT_THAT(Errors(one, 7), ElementsAre("must match exactly one of the alternatives, matches 2"));
  EXPECT_FALSE(one.IsValid(2.5));
  auto all = Make(R"({"allOf": [{"type": "integer"}, {"minimum": 3}, {"maximum": 5}]})");
  EXPECT_TRUE(all.IsValid(4));
  EXPECT_THAT(Errors(all, 6), ElementsAre("must be <= 5"));
  auto no = Make(R"({"not": {"type": "null"}})");
  EXPECT_TRUE(no.IsValid(1));
  EXPECT_THAT(Errors(no, nullptr), ElementsAre("must not match the excluded schema"));
  auto f = Make(R"({"properties": {"never": false, "ok": true}})");
  EXPECT_TRUE(f.IsValid(json{{"ok", 1}}));
  EXPECT_THAT(Errors(f, json{{"never", 1}}), ElementsAre("never: is not allowed"));
}

TEST(Validator, RefsWithinDocument) {
  auto v = Make(R"({
    "components": {"schemas": {"R": {"type": "string", "enum": ["SR006"]},
                               "Req": {"type": "object", "required": ["region"],
                                       "properties": {"region": {"allOf": [{"$ref": "#/components/schemas/R"}]}}}}},
    "definitions": {"a~b": {"type": "integer"}, "sp ace": {"type": "boolean"}},
    "properties": {"t": {"$ref": "#/definitions/a~0b"}, "u": {"$ref": "#/definitions/sp%20ace"}}})");
  EXPECT_TRUE(v.IsValid(json{{"region", "SR006"}}, "#/components/schemas/Req"));
  EXPECT_TRUE(v.IsValid(json{{"region", "SR006"}}, "/components/schemas/Req"));
  EXPECT_THAT(Errors(v, json{{"region", "SR001"}}, "#/components/schemas/Req"),
              ElementsAre(R"(region: unsupported value "SR001": must be one of "SR006")"));
  EXPECT_FALSE(v.IsValid(json{{"t", "x"}}));
  EXPECT_FALSE(v.IsValid(json{{"u", 1}}));
  EXPECT_THAT(Errors(v, 1, "#/components/schemas/Nope"),
              ElementsAre(R"(no schema at "#/components/schemas/Nope")"));

  auto bad = Validator::Create(json::parse(R"({"properties": {"a": {"$ref": "#/nope"}}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("#/nope"));
  EXPECT_FALSE(Validator::Create(json::parse(R"({"$ref": "http://x/y.json"})")).ok());
  auto unsupported = Validator::Create(json::parse(R"({"pattern": "(?<!-)x"})"));
  ASSERT_TRUE(unsupported.ok());
  EXPECT_THAT(unsupported->unsupported_patterns(), ElementsAre("(?<!-)x"));
  EXPECT_TRUE(unsupported->IsValid("-x"));  // skipped, not guessed
  // Python's "{,n}" is understood.
  auto upto = Make(R"({"pattern": "^a{,2}$"})");
  EXPECT_TRUE(upto.unsupported_patterns().empty());
  EXPECT_TRUE(upto.IsValid("aa"));
  EXPECT_FALSE(upto.IsValid("aaa"));
  EXPECT_FALSE(Validator::Create(json(3)).ok());
}

TEST(Validator, RecursiveRefsTerminate) {
  auto tree = Make(R"({"$defs": {"node": {"type": "object", "properties": {
                         "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                         "additionalProperties": false}},
                       "$ref": "#/$defs/node"})");
  EXPECT_TRUE(tree.IsValid(json::parse(R"({"kids": [{"kids": [{}]}]})")));
  EXPECT_THAT(Errors(tree, json::parse(R"({"kids": [{"kids": [{"x": 1}]}]})")),
              ElementsAre(R"(unknown field "kids[0].kids[0].x")"));
  auto loop = Make(R"({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})");
  auto errs = loop.Validate(1);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].kind, ErrorKind::kSchema);
}

TEST(Validator, RootPathAndMaxErrors) {
  auto v = Make(R"({"properties": {"n_workers": {"type": "integer", "exclusiveMinimum": 0}},
                    "required": ["a", "b"]})");
  ValidateOptions o;
  o.root_path = "body";
  auto errs = v.Validate(json{{"n_workers", 0}}, "", o);
  EXPECT_THAT(JoinErrors(errs),
              "body.a: is required; body.b: is required; body.n_workers: must be > 0");
  o.max_errors = 1;
  EXPECT_EQ(v.Validate(json{{"n_workers", 0}}, "", o).size(), 1u);
}

TEST(Validator, KubernetesExtensionsIgnored) {
  auto v = Make(R"({"type": "object", "x-kubernetes-map-type": "atomic",
                    "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map",
                                         "x-kubernetes-list-map-keys": ["name"],
                                         "items": {"type": "object"}}}})");
  EXPECT_TRUE(v.IsValid(json::parse(R"({"l": [{"name": "a"}]})")));
  EXPECT_FALSE(v.IsValid(json::parse(R"({"l": [1]})")));
}

TEST(Validator, ApplyDefaults) {
  auto v = Make(R"({
    "$defs": {"Type": {"type": "string", "enum": ["binary", "horovod"]}},
    "type": "object",
    "properties": {
      "spec": {"type": "object", "default": {},
               "properties": {
                 "workers": {"type": "integer", "default": 1},
                 "type": {"allOf": [{"$ref": "#/$defs/Type"}], "default": "binary"},
                 "runPolicy": {"type": "object", "default": {},
                               "properties": {"suspend": {"type": "boolean", "default": false},
                                              "backoffLimit": {"type": "integer", "default": 3}}},
                 "env": {"type": "array", "items": {"type": "object",
                         "properties": {"value": {"type": "string", "default": ""}}}},
                 "labels": {"type": "object", "additionalProperties": {
                         "type": "object", "properties": {"v": {"default": 7}}}}}}}})");
  json inst = json::parse(R"({"spec": {"workers": 4, "env": [{"name": "A"}, {"value": "x"}],
                                        "labels": {"k": {}}}})");
  ASSERT_TRUE(v.ApplyDefaults(inst).ok());
  EXPECT_EQ(inst, json::parse(R"({"spec": {"workers": 4, "type": "binary",
      "runPolicy": {"suspend": false, "backoffLimit": 3},
      "env": [{"name": "A", "value": ""}, {"value": "x"}], "labels": {"k": {"v": 7}}}})"));
  // Defaults apply inside objects that were themselves defaulted.
  json empty = json::object();
  ASSERT_TRUE(v.ApplyDefaults(empty).ok());
  EXPECT_EQ(empty["spec"]["runPolicy"]["backoffLimit"], 3);
  EXPECT_EQ(empty["spec"]["workers"], 1);
  // Present values are never overwritten, not even null.
  json keep = json::parse(R"({"spec": {"workers": null}})");
  ASSERT_TRUE(v.ApplyDefaults(keep).ok());
  EXPECT_TRUE(keep["spec"]["workers"].is_null());
  EXPECT_FALSE(v.ApplyDefaults(keep, "#/nope").ok());
}

// The OpenAPI 3.1 forms the gateway emulator relies on, checked on the full
// reference document, vendored under tests/testdata/gateway-v2/.
class ReferenceOpenApi : public ::testing::Test {
 protected:
  static json Load(const fs::path& p) {
    std::ifstream in(p);
    EXPECT_TRUE(in.good()) << "missing " << p;
    return in.good() ? json::parse(in) : json::object();
  }
};

TEST_F(ReferenceOpenApi, SubsetMatchesReferenceAndValidatesRequestBodies) {
  json full = Load(SourceDir() / "tests/testdata/gateway-v2/mlspace-public-v2-openapi.json");
  json subset = Load(SourceDir() / "tests/schema/testdata/gateway-v2-jobs-openapi-subset.json");
  ASSERT_TRUE(full.contains("components"));
  // The checked-in subset is what the cross-check corpus runs on; it must
  // stay equal to the reference.
  for (auto it = subset["components"]["schemas"].begin();
       it != subset["components"]["schemas"].end(); ++it) {
    EXPECT_EQ(it.value(), full["components"]["schemas"][it.key()]) << it.key();
  }
  auto v = Validator::Create(full);
  ASSERT_TRUE(v.ok()) << v.status().ToString();  // every $ref in the document resolves
  const char* run = "#/components/schemas/RunJobRequest";
  ValidateOptions o;
  o.root_path = "body";
  json ok = {{"script", "/home/jovyan/x"},
             {"base_image", "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40"},
             {"instance_type", "a100.1gpu"},
             {"region", "SR006"},
             {"type", "binary"},
             {"n_workers", 1},
             {"processes_per_worker", "default"},
             {"priority_class", nullptr},
             {"max_retry", nullptr},
             {"health_params", {{"log_period", 20}, {"action", "delete"}}},
             {"flags", {{"spec-part-0", "abc"}}}};
  EXPECT_EQ(JoinErrors(v->Validate(ok, run, o)), "");
  json bad = ok;
  bad["n_workers"] = 0;
  bad["extra"] = true;
  bad["region"] = "SR999";
  bad["health_params"]["sub_actions"] = {"page"};
  bad.erase("script");
  EXPECT_EQ(JoinErrors(v->Validate(bad, run, o)),
            "body.script: is required; unknown field \"body.extra\"; "
            "body.health_params.sub_actions[0]: unsupported value \"page\": must be one of "
            "\"notify\"; body.n_workers: must be > 0; body.region: unsupported value \"SR999\": "
            "must be one of \"DGX2-MT\", \"A100-MT\", \"SR003\", \"SR004\", \"SR005\", "
            "\"SR006\", \"SR008\"");
  EXPECT_TRUE(
      v->IsValid(json{{"job_name", "lm-mpi-job-1"}}, "#/components/schemas/RestartJobRequest"));
  EXPECT_FALSE(
      v->IsValid(json{{"job_name", "j"}, {"x", 1}}, "#/components/schemas/RestartJobRequest"));
  EXPECT_TRUE(v->IsValid(json{{"client_id", "a"}, {"client_secret", "b"}},
                         "#/components/schemas/ServiceAccount"));
  EXPECT_FALSE(v->IsValid(json{{"client_id", "a"}}, "#/components/schemas/ServiceAccount"));
  EXPECT_FALSE(v->IsValid(json{{"log_period", 20}, {"x", 1}}, "#/components/schemas/HealthParams"));
}

}  // namespace
}  // namespace mlspace::schema
