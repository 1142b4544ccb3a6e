#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "controller/core/status.h"

namespace mlspace {

// Result<T> holds either a T or a non-ok Status (std::expected is not in
// g++ 12). Accessing value() of an error Result is a programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<T, Status>, "use Status directly");

  Result(const T& value) : data_(value) {}            // NOLINT: implicit by design
  Result(T&& value) : data_(std::move(value)) {}      // NOLINT
  Result(Status status) : data_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(data_).ok() && "Result from an ok Status");
    if (std::get<Status>(data_).ok()) {
      data_ = Status(StatusCode::kInternal, "Result built from an ok Status");
    }
  }

  bool ok() const { return std::holds_alternative<T>(data_); }

  // The error, or an ok Status when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(data_); }

  const T& value() const& { return std::get<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }

  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Status> data_;
};

}  // namespace mlspace

// MLSPACE_ASSIGN_OR_RETURN(auto x, Expr()): binds the value or returns the
// error Status from the enclosing function.
#define MLSPACE_ASSIGN_OR_RETURN(lhs, expr) \
  MLSPACE_ASSIGN_OR_RETURN_IMPL_(MLSPACE_STATUS_CONCAT_(mlspace_result_, __LINE__), lhs, expr)
// bugprone-macro-parentheses cannot apply here: `lhs` is a declaration
// (`auto x`) and `tmp` a declared name, neither of which may be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define MLSPACE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
