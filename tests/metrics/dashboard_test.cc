// Structural checks of charts/mlspace-operator/dashboards/mlspace-operator.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "controller/metrics/metrics.h"

namespace mlspace::metrics {
namespace {

using nlohmann::json;

std::string SourceDir() {
  const char* d = std::getenv("MLSPACE_SOURCE_DIR");
  return d != nullptr ? d : ".";
}

json LoadDashboard() {
  std::ifstream in(SourceDir() + "/charts/mlspace-operator/dashboards/mlspace-operator.json");
  EXPECT_TRUE(in.good()) << "dashboard not found under MLSPACE_SOURCE_DIR";
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    ADD_FAILURE() << "dashboard JSON: " << e.what();
    return json::object();
  }
}

// Panels including those nested in collapsed rows.
std::vector<json> AllPanels(const json& dash) {
  std::vector<json> out;
  for (const auto& p : dash.value("panels", json::array())) {
    out.push_back(p);
    for (const auto& c : p.value("panels", json::array())) out.push_back(c);
  }
  return out;
}

// Metric names a PromQL expression selects: identifiers left after removing
// strings, label matchers, ranges, grouping/matching clauses, function calls
// and keywords.
std::set<std::string> MetricNamesIn(std::string expr) {
  static const std::regex kStrings(R"("(?:[^"\\]|\\.)*")");
  static const std::regex kBraces(R"(\{[^}]*\})");
  static const std::regex kRanges(R"(\[[^\]]*\])");
  static const std::regex kClauses(
      R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))");
  static const std::regex kIdent(R"([a-zA-Z_:][a-zA-Z0-9_:]*)");
  static const std::set<std::string> kKeywords = {
      "by", "without", "on",   "ignoring", "group_left", "group_right", "and",
      "or", "unless",  "bool", "offset",   "inf",        "nan"};
  expr = std::regex_replace(expr, kStrings, " ");
  expr = std::regex_replace(expr, kBraces, " ");
  expr = std::regex_replace(expr, kRanges, " ");
  expr = std::regex_replace(expr, kClauses, " ");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kIdent);
       it != std::sregex_iterator(); ++it) {
    std::string id = it->str();
    size_t end = static_cast<size_t>(it->position() + it->length());
    while (end < expr.size() && expr[end] == ' ') ++end;
    bool is_call = end < expr.size() && expr[end] == '(';
    bool after_digit = it->position() > 0 && std::isdigit(expr[it->position() - 1]);
    if (is_call || after_digit || kKeywords.count(id)) continue;
    out.insert(id);
  }
  return out;
}

// Series names the registry exposes: families plus histogram suffixes.
std::set<std::string> ExposedSeriesNames() {
  std::set<std::string> out;
  for (const FamilyDesc& f : Metrics::Families()) {
    out.insert(f.name);
    if (f.type == prometheus::MetricType::Histogram) {
      for (const char* s : {"_bucket", "_sum", "_count"}) out.insert(f.name + s);
    }
  }
  return out;
}

TEST(DashboardTest, MetricNameExtractionIgnoresLabelsFunctionsAndClauses) {
  EXPECT_EQ(
      MetricNamesIn("histogram_quantile(0.99, sum by (le, verb) "
                    "(rate(rest_client_request_duration_seconds_bucket{host=~\"a|b\"}[5m])))"),
      std::set<std::string>{"rest_client_request_duration_seconds_bucket"});
  EXPECT_EQ(MetricNamesIn("count by (phase) (x{namespace=~\"$namespace\"} * on(namespace, name) "
                          "group_left(region) y) or vector(0)"),
            (std::set<std::string>{"x", "y"}));
  EXPECT_EQ(MetricNamesIn("time() - gitops_source_last_sync_timestamp_seconds > 600"),
            std::set<std::string>{"gitops_source_last_sync_timestamp_seconds"});
  EXPECT_EQ(MetricNamesIn("1e-3 * a"), std::set<std::string>{"a"});
}

TEST(DashboardTest, HeaderVariablesAndRows) {
  json d = LoadDashboard();
  EXPECT_EQ(d.value("uid", ""), "mlspace-operator");
  EXPECT_EQ(d.value("schemaVersion", 0), 39);
  std::map<std::string, json> vars;
  for (const auto& v : d["templating"]["list"]) vars[v.value("name", "")] = v;
  ASSERT_TRUE(vars.count("datasource"));
  EXPECT_EQ(vars["datasource"]["type"], "datasource");
  EXPECT_EQ(vars["datasource"]["query"], "prometheus");
  for (const char* name : {"namespace", "region"}) {
    ASSERT_TRUE(vars.count(name)) << name;
    EXPECT_EQ(vars[name]["type"], "query");
    EXPECT_EQ(vars[name]["datasource"]["uid"], "${datasource}");
    std::string q = vars[name]["definition"];
    EXPECT_NE(q.find("label_values(mlspacejob_info"), std::string::npos) << q;
  }
  std::vector<std::string> rows;
  for (const auto& p : AllPanels(d)) {
    if (p.value("type", "") == "row") rows.push_back(p.value("title", ""));
  }
  EXPECT_EQ(rows, (std::vector<std::string>{"Jobs", "Gateway", "Controller", "GitOps", "Process"}));
}

TEST(DashboardTest, PanelIdsAreUniqueAndGridPositionsDoNotOverlap) {
  json d = LoadDashboard();
  std::set<int> ids;
  struct Rect {
    int x, y, w, h;
    std::string title;
  };
  std::vector<Rect> rects;
  for (const auto& p : AllPanels(d)) {
    ASSERT_TRUE(p.contains("id") && p["id"].is_number_integer()) << p.value("title", "");
    EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate id " << p["id"];
    const json& g = p["gridPos"];
    Rect r{g.value("x", -1), g.value("y", -1), g.value("w", 0), g.value("h", 0),
           p.value("title", "")};
    EXPECT_GE(r.x, 0) << r.title;
    EXPECT_GE(r.y, 0) << r.title;
    EXPECT_GT(r.w, 0) << r.title;
    EXPECT_GT(r.h, 0) << r.title;
    EXPECT_LE(r.x + r.w, 24) << r.title;
    for (const Rect& o : rects) {
      bool overlap = r.x < o.x + o.w && o.x < r.x + r.w && r.y < o.y + o.h && o.y < r.y + r.h;
      EXPECT_FALSE(overlap) << "'" << r.title << "' overlaps '" << o.title << "'";
    }
    rects.push_back(r);
  }
  EXPECT_GE(ids.size(), 25u);
}

TEST(DashboardTest, EveryTargetUsesTheDatasourceVariable) {
  json d = LoadDashboard();
  const json want = {{"type", "prometheus"}, {"uid", "${datasource}"}};
  int targets = 0;
  for (const auto& p : AllPanels(d)) {
    if (p.value("type", "") == "row") continue;
    std::string title = p.value("title", "");
    EXPECT_EQ(p.value("datasource", json()), want) << title;
    ASSERT_TRUE(p.contains("targets") && !p["targets"].empty()) << title;
    std::set<std::string> ref_ids;
    for (const auto& t : p["targets"]) {
      ++targets;
      EXPECT_EQ(t.value("datasource", json()), want) << title;
      EXPECT_FALSE(t.value("expr", "").empty()) << title;
      EXPECT_TRUE(ref_ids.insert(t.value("refId", "")).second) << "duplicate refId in " << title;
    }
  }
  EXPECT_GT(targets, 30);
}

TEST(DashboardTest, QueriesOnlyUseRegisteredMetricsAndCoverEveryFamily) {
  json d = LoadDashboard();
  std::set<std::string> exposed = ExposedSeriesNames();
  std::set<std::string> used;
  for (const auto& p : AllPanels(d)) {
    for (const auto& t : p.value("targets", json::array())) {
      for (const std::string& name : MetricNamesIn(t.value("expr", ""))) {
        EXPECT_TRUE(exposed.count(name))
            << "panel '" << p.value("title", "") << "' queries unknown metric " << name;
        used.insert(name);
      }
    }
  }
  // label_values(<selector>, <label>): only the selector names metrics.
  static const std::regex kLabelValues(R"(^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$)");
  for (const auto& v : d["templating"]["list"]) {
    if (v.value("type", "") != "query") continue;
    std::string def = v.value("definition", "");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(def, m, kLabelValues)) << def;
    std::set<std::string> names = MetricNamesIn(m[1].str());
    EXPECT_EQ(names.size(), 1u) << def;
    for (const std::string& name : names) {
      EXPECT_TRUE(exposed.count(name)) << "variable queries unknown metric " << name;
    }
  }
  // Every family appears on the dashboard (as itself or a histogram series).
  for (const FamilyDesc& f : Metrics::Families()) {
    bool seen = used.count(f.name) || used.count(f.name + "_bucket");
    EXPECT_TRUE(seen) << "family not on the dashboard: " << f.name;
  }
}

// Issue 15: the gateway families carry `backend`; every panel query of them
// filters by the $backend variable and keeps the label in its grouping (or
// lists it), so two backends never add up into one line.
TEST(DashboardTest, GatewayQueriesFilterAndGroupByBackend) {
  json d = LoadDashboard();
  std::map<std::string, json> vars;
  for (const auto& v : d["templating"]["list"]) vars[v.value("name", "")] = v;
  ASSERT_TRUE(vars.count("backend"));
  EXPECT_EQ(vars["backend"]["type"], "query");
  EXPECT_EQ(vars["backend"]["definition"], "label_values(mlspace_gateway_up, backend)");
  EXPECT_EQ(vars["backend"]["includeAll"], true);
  EXPECT_EQ(vars["backend"]["multi"], true);

  std::set<std::string> with_backend;
  for (const FamilyDesc& f : Metrics::Families()) {
    if (std::find(f.labels.begin(), f.labels.end(), "backend") != f.labels.end()) {
      with_backend.insert(f.name);
      if (f.type == prometheus::MetricType::Histogram) with_backend.insert(f.name + "_bucket");
    }
  }
  for (const char* f : {"mlspace_gateway_up", "mlspace_gateway_requests_total",
                        "mlspace_gateway_throttled_total", "mlspace_gateway_auth_failures_total",
                        "rest_client_requests_total", "rest_client_request_duration_seconds"}) {
    EXPECT_TRUE(with_backend.count(f)) << f << " has no backend label";
  }
  static const std::regex kBy(R"(\bby\s*\(([^)]*)\))");
  int checked = 0;
  for (const auto& p : AllPanels(d)) {
    for (const auto& t : p.value("targets", json::array())) {
      std::string expr = t.value("expr", "");
      bool gateway = false;
      for (const std::string& name : MetricNamesIn(expr)) gateway |= with_backend.count(name) > 0;
      if (!gateway) continue;
      ++checked;
      std::string title = p.value("title", "");
      EXPECT_NE(expr.find("backend=~\"$backend\""), std::string::npos) << title << ": " << expr;
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kBy);
           it != std::sregex_iterator(); ++it) {
        EXPECT_NE((*it)[1].str().find("backend"), std::string::npos)
            << title << ": aggregates backends together: " << expr;
      }
      EXPECT_NE(t.value("legendFormat", "").find("{{backend}}"), std::string::npos) << title;
    }
  }
  EXPECT_GE(checked, 9);
}

}  // namespace
}  // namespace mlspace::metrics
