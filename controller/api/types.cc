#include "controller/api/types.h"

#include <algorithm>

namespace mlspace::api {

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kPending:
      return "Pending";
    case Phase::kSubmitted:
      return "Submitted";
    case Phase::kRunning:
      return "Running";
    case Phase::kSucceeded:
      return "Succeeded";
    case Phase::kFailed:
      return "Failed";
    case Phase::kSuspended:
      return "Suspended";
    case Phase::kRemoved:
      return "Removed";
    case Phase::kInvalid:
      return "Invalid";
  }
  return "Pending";
}

std::optional<Phase> ParsePhase(std::string_view name) {
  for (Phase p : {Phase::kPending, Phase::kSubmitted, Phase::kRunning, Phase::kSucceeded,
                  Phase::kFailed, Phase::kSuspended, Phase::kRemoved, Phase::kInvalid}) {
    if (PhaseName(p) == name) return p;
  }
  return std::nullopt;
}

void SetCondition(std::vector<Condition>& conditions, Condition c, TimePoint now) {
  auto it = std::find_if(conditions.begin(), conditions.end(),
                         [&](const Condition& x) { return x.type == c.type; });
  if (it == conditions.end()) {
    c.last_transition_time = now;
    conditions.push_back(std::move(c));
    return;
  }
  if (it->status != c.status) {
    it->last_transition_time = now;
    it->status = c.status;
  }
  it->reason = std::move(c.reason);
  it->message = std::move(c.message);
}

const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

}  // namespace mlspace::api
