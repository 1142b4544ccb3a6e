#pragma once

// Core v1 Events for MLSpaceJobs, as kubectl describe / get events /
// kubectl events read them. The store keeps the events; this shapes them.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/core/clock.h"
#include "controller/store/state_store.h"

namespace mlspace::apiserver {

// One v1 Event. `uid` is the involved object's uid ("" when unknown).
nlohmann::json EventToJson(const store::Event& e, const std::string& uid);

// v1 EventList of `events` (each already encoded by EventToJson), at
// `resource_version` (where a watch of events starts; "" when none).
nlohmann::json EventList(nlohmann::json items, const std::string& resource_version = "");

// meta.k8s.io/v1 Table as kube-apiserver prints events: Last Seen, Type,
// Reason, Object, Message; -o wide adds Source, First Seen, Count, Name.
nlohmann::json EventTable(const nlohmann::json& items, TimePoint now,
                          const std::string& resource_version = "");

// The v1 Event's name: <object>.<id in hex>, unique per stored event.
std::string EventName(const store::Event& e);

}  // namespace mlspace::apiserver
