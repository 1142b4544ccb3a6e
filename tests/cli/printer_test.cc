#include "controller/cli/printer.h"

#include <gtest/gtest.h>

#include "controller/api/yaml_json.h"
#include "controller/cli/merge_patch.h"

namespace mlspace::cli {
namespace {

using nlohmann::json;

json SampleTable() {
  return json::parse(R"({"kind":"Table","apiVersion":"meta.k8s.io/v1",
    "columnDefinitions":[{"name":"Name","type":"string","format":"name"},
      {"name":"Region","type":"string"},{"name":"Attempts","type":"integer"},
      {"name":"Image","type":"string","priority":1},{"name":"Age","type":"date"}],
    "rows":[
      {"cells":["train-long-name","SR006",1,"img:1","5m"],
       "object":{"metadata":{"name":"train-long-name","namespace":"team-a"}}},
      {"cells":["b",null,12,"img:2","3h12m"],
       "object":{"metadata":{"name":"b","namespace":"default"}}}]})");
}

TEST(PrinterTest, TableAlignedLikeKubectl) {
  // Columns: widest cell + 3 spaces (at least 6); priority>0 hidden; null blank.
  EXPECT_EQ(FormatTable(SampleTable(), {}),
            "NAME              REGION   ATTEMPTS   AGE\n"
            "train-long-name   SR006    1          5m\n"
            "b                          12         3h12m\n");
}

TEST(PrinterTest, TableWideNamespaceNoHeaders) {
  TableOptions o;
  o.wide = true;
  o.with_namespace = true;
  EXPECT_EQ(FormatTable(SampleTable(), o),
            "NAMESPACE   NAME              REGION   ATTEMPTS   IMAGE   AGE\n"
            "team-a      train-long-name   SR006    1          img:1   5m\n"
            "default     b                          12         img:2   3h12m\n");
  o.headers = false;
  o.wide = false;
  o.with_namespace = false;
  EXPECT_EQ(FormatTable(SampleTable(), o),
            "train-long-name   SR006   1     5m\n"  // a column is at least 6 wide
            "b                         12    3h12m\n");
  json empty = SampleTable();
  empty["rows"] = json::array();
  EXPECT_EQ(FormatTable(empty, {}), "");
}

TEST(PrinterTest, YamlRoundTripsTypes) {
  json v = json::parse(R"({"metadata":{"name":"x","labels":{"team":"a","n":"123"}},
    "spec":{"workers":2,"ratio":0.5,"suspend":false,"flag":"true","empty":"","none":null,
      "command":["/bin/sh","-c","echo hi: there"],"env":[{"name":"A","value":"on"}],
      "script":"line1\nline2\n","nested":{},"list":[]}})");
  std::string y = ToYaml(v);
  EXPECT_NE(y.find("workers: 2"), std::string::npos) << y;
  EXPECT_NE(y.find("flag: \"true\""), std::string::npos) << y;
  EXPECT_NE(y.find("\"n\": \"123\""), std::string::npos) << y;  // n is a YAML 1.1 bool
  auto back = api::internal::ParseYamlStream(y);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << y;
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].value, v) << y;
}

TEST(MergePatchTest, ThreeWayKeepsServerFieldsRemovesDroppedOnes) {
  json original = json::parse(R"({"spec":{"image":"a","workers":2,"labels":{"x":"1"}}})");
  json modified = json::parse(R"({"spec":{"image":"b","labels":{}}})");
  json current = json::parse(
      R"({"spec":{"image":"a","workers":2,"labels":{"x":"1"},"backoffLimit":3},"status":{}})");
  json patch = ThreeWayMergePatch(original, modified, current);
  EXPECT_EQ(patch, json::parse(R"({"spec":{"image":"b","workers":null,"labels":{"x":null}}})"));
  json applied = ApplyMergePatch(current, patch);
  EXPECT_EQ(applied["spec"], json::parse(R"({"image":"b","labels":{},"backoffLimit":3})"));
  // Nothing to do: the live object already holds the manifest.
  EXPECT_TRUE(ThreeWayMergePatch(modified, modified, applied).empty());
  // A field dropped from the manifest that the live object lost already.
  EXPECT_TRUE(
      ThreeWayMergePatch(original, json::parse(R"({"spec":{}})"), json::parse(R"({"spec":{}})"))
          .empty());
}

TEST(MergePatchTest, ArraysReplacedWhole) {
  json patch = ThreeWayMergePatch(json::object(), json::parse(R"({"a":[1,2]})"),
                                  json::parse(R"({"a":[1,2,3]})"));
  EXPECT_EQ(patch, json::parse(R"({"a":[1,2]})"));
  EXPECT_EQ(ApplyMergePatch(json::parse(R"({"a":[1,2,3],"b":1})"), patch),
            json::parse(R"({"a":[1,2],"b":1})"));
}

}  // namespace
}  // namespace mlspace::cli
