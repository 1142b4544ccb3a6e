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
    case ErrorKind::kNotFound: return "NotFound";
    case ErrorKind::kInvalid: return "Invalid";
    case ErrorKind::kUnauthorized: return "Unauthorized";
    case ErrorKind::kThrottled: return "Throttled";
    case ErrorKind::kUnavailable: return "Unavailable";
    case ErrorKind::kAmbiguous: return "Ambiguous";
    case ErrorKind::kInternal: return "Internal";
  }
  return "Internal";
}

Status Error::ToStatus() const {
  switch (kind) {
    case ErrorKind::kNotFound: return NotFoundError(message);
    case ErrorKind::kInvalid: return InvalidArgumentError(message);
    case ErrorKind::kUnauthorized: return UnauthenticatedError(message);
    case ErrorKind::kThrottled: return ResourceExhaustedError(message);
    case ErrorKind::kUnavailable: return UnavailableError(message);
    case ErrorKind::kAmbiguous: return AbortedError(message);
    case ErrorKind::kInternal: return InternalError(message);
  }
  return InternalError(message);
}

}  // namespace mlspace::gateway
