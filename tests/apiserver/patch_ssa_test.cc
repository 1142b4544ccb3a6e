// The JSON algorithms of the write verbs: merge patch, JSON patch, the
// server-side apply field sets, conflicts and force, and the YAML the API
// writes back to git.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controller/api/yaml_json.h"
#include "controller/apiserver/patch.h"
#include "controller/apiserver/ssa.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;

json Doc() {
  return json::parse(R"({"apiVersion":"mlspace.io/v1alpha1","kind":"MLSpaceJob",
    "metadata":{"name":"a","namespace":"ns","labels":{"team":"nlp"}},
    "spec":{"region":"SR006","image":"img","instanceType":"cpu","command":["python","t.py"],
            "workers":2}})");
}

TEST(PatchTypeTest, ContentTypes) {
  EXPECT_EQ(PatchTypeFromContentType("application/merge-patch+json"), PatchType::kMerge);
  EXPECT_EQ(PatchTypeFromContentType("Application/JSON-Patch+JSON; charset=utf-8"),
            PatchType::kJson);
  EXPECT_EQ(PatchTypeFromContentType("application/apply-patch+yaml"), PatchType::kApply);
  EXPECT_EQ(PatchTypeFromContentType("application/strategic-merge-patch+json"),
            PatchType::kStrategic);
  EXPECT_EQ(PatchTypeFromContentType("application/json"), PatchType::kUnknown);
}

TEST(MergePatchTest, SetsRemovesAndReplacesLists) {
  auto out = ApplyPatch(PatchType::kMerge, Doc(),
                        json::parse(R"({"metadata":{"labels":{"team":null,"size":"s"}},
                                        "spec":{"workers":null,"command":["bash"],
                                                "runPolicy":{"suspend":true}}})"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)["metadata"]["labels"], json({{"size", "s"}}));
  EXPECT_FALSE((*out)["spec"].contains("workers"));
  EXPECT_EQ((*out)["spec"]["command"], json::array({"bash"}));
  EXPECT_EQ((*out)["spec"]["runPolicy"]["suspend"], true);
  EXPECT_EQ((*out)["spec"]["region"], "SR006");
}

TEST(MergePatchTest, NonObjectPatchIsBadRequest) {
  auto out = ApplyPatch(PatchType::kMerge, Doc(), json::array());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
}

TEST(JsonPatchTest, OperationsApplyInOrder) {
  auto out = ApplyPatch(PatchType::kJson, Doc(), json::parse(R"([
      {"op":"test","path":"/spec/workers","value":2},
      {"op":"replace","path":"/spec/workers","value":4},
      {"op":"add","path":"/spec/command/-","value":"--lr"},
      {"op":"remove","path":"/metadata/labels/team"}])"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)["spec"]["workers"], 4);
  EXPECT_EQ((*out)["spec"]["command"], json::array({"python", "t.py", "--lr"}));
  EXPECT_TRUE((*out)["metadata"]["labels"].empty());
}

TEST(JsonPatchTest, FailedTestAndMissingPathAreUnprocessable) {
  auto failed = ApplyPatch(PatchType::kJson, Doc(),
                           json::parse(R"([{"op":"test","path":"/spec/workers","value":3}])"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kFailedPrecondition);
  auto missing = ApplyPatch(PatchType::kJson, Doc(),
                            json::parse(R"([{"op":"replace","path":"/spec/nope/x","value":1}])"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
}

TEST(JsonPatchTest, MalformedOperationIsBadRequest) {
  auto bad =
      ApplyPatch(PatchType::kJson, Doc(), json::parse(R"([{"op":"frobnicate","path":"/a"}])"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ApplyPatch(PatchType::kJson, Doc(), json::object()).ok());
}

TEST(ParseBodyTest, JsonAndYaml) {
  EXPECT_TRUE(ParseBody(R"({"a":1})", false).ok());
  auto bad = ParseBody("a: 1", false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not valid JSON"), std::string::npos);
  auto yaml = ParseBody("a: 1\nb: [x]\n", true);
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ(*yaml, json::parse(R"({"a":1,"b":["x"]})"));
  EXPECT_FALSE(ParseBody("a: 1\n---\nb: 2\n", true).ok());
}

TEST(YamlRoundTripTest, AmbiguousStringsAreQuoted) {
  json v = json::parse(R"({"a":"true","b":"1","c":"null","d":"yes","e":"0755","f":"1.5",
      "g":"plain text: with colon","h":"multi\nline","i":1.0,"j":2,"k":false,"l":null,
      "m":[],"n":{},"o":["", " lead", "#hash"],"p":".inf","q":"~"})");
  auto yaml = api::internal::JsonToYaml(v);
  ASSERT_TRUE(yaml.ok()) << yaml.status().message();
  auto back = api::internal::YamlToJson(*yaml);
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << *yaml;
  EXPECT_EQ(*back, v) << *yaml;
  EXPECT_TRUE((*back)["i"].is_number_float());
}

TEST(FieldSetTest, LeavesSkipServerMetadataAndStatus) {
  json d = Doc();
  d["metadata"]["resourceVersion"] = "7";
  d["status"] = {{"phase", "Running"}};
  FieldSet f = LeafFields(d);
  EXPECT_TRUE(f.count({"spec", "region"}));
  EXPECT_TRUE(f.count({"spec", "command"}));  // lists are atomic
  EXPECT_TRUE(f.count({"metadata", "labels", "team"}));
  EXPECT_FALSE(f.count({"metadata", "name"}));
  EXPECT_FALSE(f.count({"metadata", "resourceVersion"}));
  for (const auto& p : f) EXPECT_NE(p[0], "status");
  EXPECT_EQ(FromFieldsV1(ToFieldsV1(f)), f);
  EXPECT_EQ(ToFieldsV1({{"spec", "region"}}), json::parse(R"({"f:spec":{"f:region":{}}})"));
}

TEST(FieldSetTest, ListItemKeysMakeTheListAtomic) {
  json v1 = json::parse(R"({"f:spec":{"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:value":{}}},
                                      "f:region":{}}})");
  FieldSet f = FromFieldsV1(v1);
  EXPECT_EQ(f, (FieldSet{{"spec", "env"}, {"spec", "region"}}));
}

TEST(ManagedFieldsTest, RoundTripAndErrors) {
  std::vector<ManagedEntry> e{
      {"kubectl", "Apply", "mlspace.io/v1alpha1", "2026-01-01T00:00:00Z", {{"spec", "region"}}}};
  auto back = ParseManagedFields(ManagedFieldsToJson(e));
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].manager, "kubectl");
  EXPECT_EQ((*back)[0].fields, e[0].fields);
  auto bad = ParseManagedFields(json::parse(R"([{"manager":"x","operation":"Delete"}])"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("managedFields[0].operation"), std::string::npos);
}

constexpr char kV[] = "mlspace.io/v1alpha1";

TEST(ServerSideApplyTest, CreateOwnsEveryAppliedField) {
  ApplyOutcome out = ServerSideApply(nullptr, {}, Doc(), "kubectl", false, kV, "t1");
  ASSERT_TRUE(out.conflicts.empty());
  EXPECT_EQ(out.object["spec"]["workers"], 2);
  ASSERT_EQ(out.managed.size(), 1u);
  EXPECT_EQ(out.managed[0].manager, "kubectl");
  EXPECT_EQ(out.managed[0].operation, "Apply");
  EXPECT_EQ(out.managed[0].fields, LeafFields(Doc()));
}

TEST(ServerSideApplyTest, ConflictNamesFieldAndManagerUnlessSameValue) {
  json live = Doc();
  std::vector<ManagedEntry> managed{{kBeforeFirstApply, "Update", kV, "", LeafFields(live)}};
  json config = Doc();
  // Same values: shared ownership, no conflict.
  ApplyOutcome same = ServerSideApply(&live, managed, config, "kubectl", false, kV, "t");
  EXPECT_TRUE(same.conflicts.empty());
  config["spec"]["workers"] = 8;
  ApplyOutcome out = ServerSideApply(&live, managed, config, "kubectl", false, kV, "t");
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(FieldPathString(out.conflicts[0].path), ".spec.workers");
  EXPECT_EQ(ConflictMessage(out.conflicts),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using "
            "mlspace.io/v1alpha1: .spec.workers");
}

TEST(ServerSideApplyTest, ForceTakesTheFieldOver) {
  json live = Doc();
  std::vector<ManagedEntry> managed{{"other", "Apply", kV, "", LeafFields(live)}};
  json config = Doc();
  config["spec"]["workers"] = 8;
  ApplyOutcome out = ServerSideApply(&live, managed, config, "kubectl", true, kV, "t");
  ASSERT_TRUE(out.conflicts.empty());
  EXPECT_EQ(out.object["spec"]["workers"], 8);
  ASSERT_EQ(out.managed.size(), 2u);
  for (const auto& e : out.managed) {
    if (e.manager == "other") {
      EXPECT_FALSE(e.fields.count({"spec", "workers"}));
    } else {
      EXPECT_TRUE(e.fields.count({"spec", "workers"}));
    }
  }
}

TEST(ServerSideApplyTest, FieldDroppedFromApplyIsRemovedUnlessOtherwiseOwned) {
  json live = Doc();
  live["spec"]["workingDir"] = "/w";
  FieldSet mine = LeafFields(live);
  std::vector<ManagedEntry> managed{
      {"kubectl", "Apply", kV, "", mine},
      {"labeler", "Update", kV, "", {{"metadata", "labels", "team"}}}};
  json config = live;
  config["spec"].erase("workingDir");
  config["metadata"].erase("labels");
  ApplyOutcome out = ServerSideApply(&live, managed, config, "kubectl", false, kV, "t");
  ASSERT_TRUE(out.conflicts.empty());
  EXPECT_FALSE(out.object["spec"].contains("workingDir"));
  // Still owned by "labeler": kept.
  EXPECT_EQ(out.object["metadata"]["labels"]["team"], "nlp");
}

TEST(TrackUpdateTest, ChangedFieldsMoveToTheUpdater) {
  json before = Doc();
  std::vector<ManagedEntry> managed{{"kubectl", "Apply", kV, "", LeafFields(before)}};
  json after = before;
  after["spec"]["workers"] = 3;
  after["metadata"]["labels"]["new"] = "x";
  TrackUpdate(managed, before, after, "kubectl-label", kV, "t");
  ASSERT_EQ(managed.size(), 2u);
  EXPECT_FALSE(managed[0].fields.count({"spec", "workers"}));
  EXPECT_EQ(managed[1].manager, "kubectl-label");
  EXPECT_EQ(managed[1].operation, "Update");
  EXPECT_EQ(managed[1].fields, (FieldSet{{"spec", "workers"}, {"metadata", "labels", "new"}}));
}

}  // namespace
}  // namespace mlspace::apiserver
