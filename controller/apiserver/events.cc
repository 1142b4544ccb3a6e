#include "controller/apiserver/events.h"

#include <cstdio>

#include "controller/api/types.h"
#include "controller/apiserver/object_codec.h"
#include "controller/core/time_util.h"

namespace mlspace::apiserver {

using nlohmann::json;

std::string EventName(const store::Event& e) {
  char hex[32];
  std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(e.id));
  return e.key.name + "." + hex;
}

json EventToJson(const store::Event& e, const std::string& uid) {
  // The store aggregates repeats: one row per (object, type, reason,
  // message) with its count, first and last time, as Kubernetes does.
  std::string ts = FormatRfc3339(e.time);
  std::string first = FormatRfc3339(e.first_time == TimePoint{} ? e.time : e.first_time);
  json involved{{"kind", api::kKind},
                {"apiVersion", api::kApiVersion},
                {"name", e.key.name},
                {"namespace", e.key.namespace_name}};
  if (!uid.empty()) involved["uid"] = uid;
  return json{{"kind", "Event"},
              {"apiVersion", "v1"},
              {"metadata",
               {{"name", EventName(e)},
                {"namespace", e.key.namespace_name},
                {"resourceVersion", std::to_string(e.id)},
                {"creationTimestamp", first}}},
              {"involvedObject", std::move(involved)},
              {"reason", e.reason},
              {"message", e.message},
              {"type", e.type},
              {"count", e.count},
              {"firstTimestamp", first},
              {"lastTimestamp", ts},
              {"eventTime", nullptr},
              {"reportingComponent", "mlspace-controller"},
              {"reportingInstance", ""},
              {"source", {{"component", "mlspace-controller"}}}};
}

json EventList(json items, const std::string& resource_version) {
  return json{{"kind", "EventList"},
              {"apiVersion", "v1"},
              {"metadata", {{"resourceVersion", resource_version}}},
              {"items", std::move(items)}};
}

json EventTable(const json& items, TimePoint now, const std::string& resource_version) {
  json columns = json::array({
      {{"name", "Last Seen"}, {"type", "string"}},
      {{"name", "Type"}, {"type", "string"}},
      {{"name", "Reason"}, {"type", "string"}},
      {{"name", "Object"}, {"type", "string"}},
      {{"name", "Subobject"}, {"type", "string"}, {"priority", 1}},
      {{"name", "Source"}, {"type", "string"}, {"priority", 1}},
      {{"name", "Message"}, {"type", "string"}},
      {{"name", "First Seen"}, {"type", "string"}, {"priority", 1}},
      {{"name", "Count"}, {"type", "string"}, {"priority", 1}},
      {{"name", "Name"}, {"type", "string"}, {"format", "name"}, {"priority", 1}},
  });
  auto age = [&](const json& ts) {
    auto t = ParseRfc3339(ts.get<std::string>());
    return t.ok() ? FormatAge(now - *t) : std::string("<unknown>");
  };
  json rows = json::array();
  for (const auto& e : items) {
    const json& obj = e["involvedObject"];
    rows.push_back(
        {{"cells", json::array({age(e["lastTimestamp"]), e["type"], e["reason"],
                                "mlspacejob/" + obj["name"].get<std::string>(), "",
                                e["source"]["component"], e["message"], age(e["firstTimestamp"]),
                                std::to_string(e["count"].get<int64_t>()), e["metadata"]["name"]})},
         {"object",
          {{"kind", "PartialObjectMetadata"},
           {"apiVersion", "meta.k8s.io/v1"},
           {"metadata", e["metadata"]}}}});
  }
  return json{{"kind", "Table"},
              {"apiVersion", "meta.k8s.io/v1"},
              {"metadata", {{"resourceVersion", resource_version}}},
              {"columnDefinitions", std::move(columns)},
              {"rows", std::move(rows)}};
}

}  // namespace mlspace::apiserver
