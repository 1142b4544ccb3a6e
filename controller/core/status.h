#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace mlspace {

// Canonical error space, a subset of absl/grpc codes the project needs. Kept
// small on purpose: callers branch on the code, humans read the message.
enum class StatusCode {
  kOk = 0,
  kCancelled,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kDeadlineExceeded,
  kUnavailable,
  kDataLoss,
  kInternal,
  kUnknown,
};

std::string_view StatusCodeName(StatusCode code);

// An error as a value. A Status is cheap to copy when ok (no allocation) and
// carries a one-line, human-readable message otherwise.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>", so an error gains
  // the file, object or request it concerns as it travels up.
  Status WithContext(std::string_view context) const;

  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) {
  return {StatusCode::kAlreadyExists, std::move(m)};
}
inline Status FailedPreconditionError(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status DeadlineExceededError(std::string m) {
  return {StatusCode::kDeadlineExceeded, std::move(m)};
}
inline Status UnauthenticatedError(std::string m) {
  return {StatusCode::kUnauthenticated, std::move(m)};
}
inline Status PermissionDeniedError(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status ResourceExhaustedError(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status AbortedError(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status CancelledError(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

}  // namespace mlspace

#define MLSPACE_STATUS_CONCAT_INNER_(a, b) a##b
#define MLSPACE_STATUS_CONCAT_(a, b) MLSPACE_STATUS_CONCAT_INNER_(a, b)

// Evaluates expr (a Status) and returns it from the caller when not ok.
#define MLSPACE_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::mlspace::Status mlspace_status_ = (expr);        \
    if (!mlspace_status_.ok()) return mlspace_status_; \
  } while (false)
