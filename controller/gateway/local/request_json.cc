#include "controller/gateway/local/request_json.h"

#include <string>

namespace mlspace::gateway::local {
namespace {

using nlohmann::json;

Status Want(const json& body, const char* key, json::value_t type, const char* type_name) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return OkStatus();
  bool ok = it->type() == type;
  if (type == json::value_t::number_integer) ok = it->is_number_integer();
  if (!ok) return InvalidArgumentError(std::string("body.") + key + ": expected " + type_name);
  return OkStatus();
}

template <typename T>
Status ReadOpt(const json& body, const char* key, std::optional<T>& out) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return OkStatus();
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return InvalidArgumentError(std::string("body.") + key + ": wrong type");
  }
  return OkStatus();
}

Status ReadStringMap(const json& body, const char* key, std::map<std::string, std::string>& out) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return OkStatus();
  if (!it->is_object())
    return InvalidArgumentError(std::string("body.") + key + ": expected object");
  for (const auto& [k, v] : it->items()) {
    // The service stringifies scalar flag values on the command line.
    if (v.is_string()) {
      out[k] = v.get<std::string>();
    } else if (v.is_boolean() || v.is_number()) {
      out[k] = v.dump();
    } else {
      return InvalidArgumentError(std::string("body.") + key + "." + k + ": expected a scalar");
    }
  }
  return OkStatus();
}

}  // namespace

json SubmitRequestToJson(const SubmitRequest& req) {
  json j = json::object();
  j["script"] = req.script;
  j["base_image"] = req.base_image;
  j["instance_type"] = req.instance_type;
  if (req.region) j["region"] = *req.region;
  if (req.type) j["type"] = *req.type;
  if (req.n_workers) j["n_workers"] = *req.n_workers;
  if (req.processes_per_worker) j["processes_per_worker"] = *req.processes_per_worker;
  if (req.priority_class) j["priority_class"] = *req.priority_class;
  if (req.queue_name) j["queue_name"] = *req.queue_name;
  if (req.allocation_name) j["allocation_name"] = *req.allocation_name;
  if (req.job_desc) j["job_desc"] = *req.job_desc;
  if (req.max_retry) j["max_retry"] = *req.max_retry;
  if (req.health_params) {
    json h = json::object();
    h["log_period"] = req.health_params->log_period;
    if (req.health_params->action) h["action"] = *req.health_params->action;
    if (!req.health_params->sub_actions.empty()) h["sub_actions"] = req.health_params->sub_actions;
    j["health_params"] = std::move(h);
  }
  if (req.checkpoint_dir) j["checkpoint_dir"] = *req.checkpoint_dir;
  if (req.logs_dir) j["logs_dir"] = *req.logs_dir;
  if (req.conda_env) j["conda_env"] = *req.conda_env;
  if (req.internet) j["internet"] = *req.internet;
  if (!req.env_variables.empty()) j["env_variables"] = req.env_variables;
  if (!req.flags.empty()) j["flags"] = req.flags;
  if (req.shm_size_class) j["shm_size_class"] = *req.shm_size_class;
  return j;
}

Result<SubmitRequest> SubmitRequestFromJson(const json& body) {
  if (!body.is_object()) return InvalidArgumentError("body: expected an object");
  SubmitRequest req;
  for (const char* key : {"script", "base_image", "instance_type"}) {
    const auto it = body.find(key);
    if (it == body.end() || !it->is_string()) {
      return InvalidArgumentError(std::string("body.") + key + ": expected a string");
    }
  }
  req.script = body["script"].get<std::string>();
  req.base_image = body["base_image"].get<std::string>();
  req.instance_type = body["instance_type"].get<std::string>();
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "region", req.region));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "type", req.type));
  MLSPACE_RETURN_IF_ERROR(Want(body, "n_workers", json::value_t::number_integer, "an integer"));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "n_workers", req.n_workers));
  if (auto it = body.find("processes_per_worker"); it != body.end() && it->is_number_integer()) {
    req.processes_per_worker = it->get<int>();
  }
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "priority_class", req.priority_class));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "queue_name", req.queue_name));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "allocation_name", req.allocation_name));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "job_desc", req.job_desc));
  MLSPACE_RETURN_IF_ERROR(Want(body, "max_retry", json::value_t::number_integer, "an integer"));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "max_retry", req.max_retry));
  if (auto it = body.find("health_params"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return InvalidArgumentError("body.health_params: expected an object");
    HealthParams h;
    std::optional<int> period;
    MLSPACE_RETURN_IF_ERROR(ReadOpt(*it, "log_period", period));
    h.log_period = period.value_or(0);
    MLSPACE_RETURN_IF_ERROR(ReadOpt(*it, "action", h.action));
    std::optional<std::vector<std::string>> subs;
    MLSPACE_RETURN_IF_ERROR(ReadOpt(*it, "sub_actions", subs));
    if (subs) h.sub_actions = *subs;
    req.health_params = std::move(h);
  }
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "checkpoint_dir", req.checkpoint_dir));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "logs_dir", req.logs_dir));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "conda_env", req.conda_env));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "internet", req.internet));
  MLSPACE_RETURN_IF_ERROR(ReadStringMap(body, "env_variables", req.env_variables));
  MLSPACE_RETURN_IF_ERROR(ReadStringMap(body, "flags", req.flags));
  MLSPACE_RETURN_IF_ERROR(ReadOpt(body, "shm_size_class", req.shm_size_class));
  return req;
}

}  // namespace mlspace::gateway::local
