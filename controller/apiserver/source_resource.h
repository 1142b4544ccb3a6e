#pragma once

// The MLSpaceSource resource of the API: the controller's manifest source
// status (api::SourceStatus), cluster-scoped and read-only, so
// `kubectl get mlspacesources` (short name msrc) shows revision, readiness
// and the invalid manifest files. Pure functions; ApiHandler routes to them.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/api/source_status.h"
#include "controller/apiserver/handler.h"
#include "controller/core/clock.h"

namespace mlspace::apiserver {

// Answers GET /apis/mlspace.io/v1alpha1/mlspacesources[/{name}] (list and
// get, JSON or Table). `parts` is the split path, parts[3] == kSourcePlural.
// `status` null: the controller has no source status (an empty list, 404 on
// get). Other methods: 405; other sub-paths and watch: 404/405.
ApiResponse HandleSourceRequest(const ApiRequest& req, const std::vector<std::string>& parts,
                                const api::SourceStatus* status, TimePoint now);

// The MLSpaceSource object: spec (url, ref) and status (revision, times,
// Ready condition, manifest counts, invalid files). Messages pass Redact().
nlohmann::json SourceToObject(const api::SourceStatus& status);

// meta.k8s.io/v1 Table: Name, Source, Revision, Ready, Message, Age.
nlohmann::json SourcesToTable(const std::vector<const api::SourceStatus*>& statuses, TimePoint now);

// Its entries in aggregated discovery (apidiscovery.k8s.io/v2) and in the
// legacy APIResourceList.
nlohmann::json SourceDiscoveryResource();
nlohmann::json SourceApiResource();

}  // namespace mlspace::apiserver
