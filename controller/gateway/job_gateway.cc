#include "controller/gateway/job_gateway.h"

#include <array>
#include <cctype>

namespace mlspace::gateway {
namespace {

struct StatusSpelling {
  RemoteStatus status;
  std::string_view name;
};

constexpr std::array<StatusSpelling, 11> kStatuses{{
    {RemoteStatus::kPending, "Pending"},
    {RemoteStatus::kRunning, "Running"},
    {RemoteStatus::kCompleting, "Completing"},
    {RemoteStatus::kCompleted, "Completed"},
    {RemoteStatus::kSucceeded, "Succeeded"},
    {RemoteStatus::kFailed, "Failed"},
    {RemoteStatus::kStopped, "Stopped"},
    {RemoteStatus::kDeleted, "Deleted"},
    {RemoteStatus::kTerminated, "Terminated"},
    {RemoteStatus::kTerminating, "Terminating"},
    {RemoteStatus::kRestarting, "Restarting"},
}};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view RemoteStatusName(RemoteStatus s) {
  for (const auto& e : kStatuses) {
    if (e.status == s) return e.name;
  }
  return "Unknown";
}

RemoteStatus ParseRemoteStatus(std::string_view s) {
  for (const auto& e : kStatuses) {
    if (EqualsIgnoreCase(e.name, s)) return e.status;
  }
  return RemoteStatus::kUnknown;
}

bool IsFinished(RemoteStatus s) {
  switch (s) {
    case RemoteStatus::kCompleted:
    case RemoteStatus::kSucceeded:
    case RemoteStatus::kFailed:
    case RemoteStatus::kStopped:
    case RemoteStatus::kDeleted:
    case RemoteStatus::kTerminated:
      return true;
    default:
      return false;
  }
}

bool IsSuccess(RemoteStatus s) {
  return s == RemoteStatus::kCompleted || s == RemoteStatus::kSucceeded;
}

std::string_view ErrorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kNotFound:
      return "NotFound";
    case ErrorKind::kInvalid:
      return "Invalid";
    case ErrorKind::kUnauthorized:
      return "Unauthorized";
    case ErrorKind::kThrottled:
      return "Throttled";
    case ErrorKind::kUnavailable:
      return "Unavailable";
    case ErrorKind::kAmbiguous:
      return "Ambiguous";
    case ErrorKind::kInternal:
      return "Internal";
  }
  return "Internal";
}

Status Error::ToStatus() const {
  switch (kind) {
    case ErrorKind::kNotFound:
      return NotFoundError(message);
    case ErrorKind::kInvalid:
      return InvalidArgumentError(message);
    case ErrorKind::kUnauthorized:
      return UnauthenticatedError(message);
    case ErrorKind::kThrottled:
      return ResourceExhaustedError(message);
    case ErrorKind::kUnavailable:
      return UnavailableError(message);
    case ErrorKind::kAmbiguous:
      return AbortedError(message);
    case ErrorKind::kInternal:
      return InternalError(message);
  }
  return InternalError(message);
}

}  // namespace mlspace::gateway

namespace mlspace::gateway {
namespace {

// Enum values of the RunJobRequest schema (OpenAPI 2.8.1).
constexpr std::array<std::string_view, 7> kRegions{"DGX2-MT", "A100-MT", "SR003", "SR004",
                                                   "SR005",   "SR006",   "SR008"};
constexpr std::array<std::string_view, 8> kJobTypes{"binary",   "horovod",   "pytorch",
                                                    "pytorch2", "torchrun",  "pytorch_elastic",
                                                    "nogpu",    "binary_exp"};
constexpr std::array<std::string_view, 5> kPriorities{"shared-low", "shared-medium", "low",
                                                      "medium", "high"};
constexpr std::array<std::string_view, 3> kShmClasses{"small", "medium", "large"};
constexpr std::array<std::string_view, 2> kHealthActions{"delete", "restart"};
constexpr std::array<std::string_view, 1> kHealthSubActions{"notify"};

template <size_t N>
Status CheckEnum(std::string_view field, const std::string& value,
                 const std::array<std::string_view, N>& allowed) {
  for (auto a : allowed) {
    if (a == value) return OkStatus();
  }
  std::string list;
  for (auto a : allowed) {
    if (!list.empty()) list += ", ";
    list += a;
  }
  return InvalidArgumentError(std::string(field) + ": \"" + value + "\" is not one of " + list);
}

Status CheckRange(std::string_view field, int value, int lo, int hi) {
  if (value < lo || value > hi) {
    return InvalidArgumentError(std::string(field) + ": " + std::to_string(value) +
                                " is out of range " + std::to_string(lo) + ".." +
                                std::to_string(hi));
  }
  return OkStatus();
}

Status CheckUnderJovyan(std::string_view field, const std::string& path) {
  constexpr std::string_view kHome = "/home/jovyan";
  if (path.compare(0, kHome.size(), kHome) != 0 ||
      (path.size() > kHome.size() && path[kHome.size()] != '/')) {
    return InvalidArgumentError(std::string(field) + ": \"" + path +
                                "\" must be under /home/jovyan");
  }
  return OkStatus();
}

}  // namespace

std::vector<std::string> GatewayRegions() { return {kRegions.begin(), kRegions.end()}; }

Status ValidateSubmitRequest(const SubmitRequest& req) {
  if (req.script.empty()) return InvalidArgumentError("script: required");
  if (req.base_image.empty()) return InvalidArgumentError("base_image: required");
  if (req.instance_type.empty()) return InvalidArgumentError("instance_type: required");
  if (req.region) MLSPACE_RETURN_IF_ERROR(CheckEnum("region", *req.region, kRegions));
  if (req.type) MLSPACE_RETURN_IF_ERROR(CheckEnum("type", *req.type, kJobTypes));
  if (req.n_workers && *req.n_workers < 1) {
    return InvalidArgumentError("n_workers: must be >= 1, got " + std::to_string(*req.n_workers));
  }
  if (req.processes_per_worker && *req.processes_per_worker < 1) {
    return InvalidArgumentError("processes_per_worker: must be >= 1, got " +
                                std::to_string(*req.processes_per_worker));
  }
  if (req.priority_class) {
    MLSPACE_RETURN_IF_ERROR(CheckEnum("priority_class", *req.priority_class, kPriorities));
  }
  if (req.max_retry) MLSPACE_RETURN_IF_ERROR(CheckRange("max_retry", *req.max_retry, 3, 100));
  if (req.health_params) {
    const HealthParams& h = *req.health_params;
    MLSPACE_RETURN_IF_ERROR(CheckRange("health_params.log_period", h.log_period, 20, 720));
    if (h.action) {
      MLSPACE_RETURN_IF_ERROR(CheckEnum("health_params.action", *h.action, kHealthActions));
    } else if (h.sub_actions.empty()) {
      return InvalidArgumentError(
          "health_params: sub_actions must not be empty when action is not set");
    }
    for (const auto& a : h.sub_actions) {
      MLSPACE_RETURN_IF_ERROR(CheckEnum("health_params.sub_actions", a, kHealthSubActions));
    }
  }
  if (req.checkpoint_dir) {
    MLSPACE_RETURN_IF_ERROR(CheckUnderJovyan("checkpoint_dir", *req.checkpoint_dir));
  }
  if (req.logs_dir) MLSPACE_RETURN_IF_ERROR(CheckUnderJovyan("logs_dir", *req.logs_dir));
  if (req.shm_size_class) {
    MLSPACE_RETURN_IF_ERROR(CheckEnum("shm_size_class", *req.shm_size_class, kShmClasses));
  }
  for (const auto& [k, v] : req.env_variables) {
    if (k.empty()) return InvalidArgumentError("env_variables: empty variable name");
  }
  for (const auto& [k, v] : req.flags) {
    if (k.empty()) return InvalidArgumentError("flags: empty flag name");
  }
  return OkStatus();
}

}  // namespace mlspace::gateway
