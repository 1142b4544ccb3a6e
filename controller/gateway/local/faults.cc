#include "controller/gateway/local/faults.h"

#include <charconv>
#include <vector>

#include "controller/core/time_util.h"

namespace mlspace::gateway::emulator {
namespace {

const std::set<std::string>& KnownOps() {
  static const std::set<std::string> ops{"auth", "ping",   "submit",  "list",
                                         "get",  "delete", "restart", "logs"};
  return ops;
}

Result<int> ParseInt(std::string_view v, int min) {
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < min) {
    return InvalidArgumentError("\"" + std::string(v) +
                                "\" is not an integer >= " + std::to_string(min));
  }
  return n;
}

}  // namespace

bool FaultRule::Matches(std::string_view op) const {
  if (!enabled()) return false;
  if (ops.empty()) return op != "auth" && op != "ping";
  return ops.count(std::string(op)) > 0;
}

std::string FaultRule::ToString() const {
  std::string s;
  if (every > 0) {
    s = "every:" + std::to_string(every);
  } else {
    s = std::to_string(probability);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  char sep = '@';
  for (const auto& op : ops) {
    s += sep;
    s += op;
    sep = '+';
  }
  return s;
}

Result<FaultRule> ParseFaultRule(std::string_view text) {
  FaultRule rule;
  std::string_view rate = text;
  const size_t at = text.find('@');
  if (at != std::string_view::npos) {
    rate = text.substr(0, at);
    std::string_view rest = text.substr(at + 1);
    while (!rest.empty()) {
      const size_t plus = rest.find('+');
      std::string op(rest.substr(0, plus));
      if (KnownOps().count(op) == 0) {
        return InvalidArgumentError("unknown operation \"" + op +
                                    "\" (auth ping submit list get delete restart logs)");
      }
      rule.ops.insert(op);
      if (plus == std::string_view::npos) break;
      rest.remove_prefix(plus + 1);
    }
  }
  if (rate.rfind("every:", 0) == 0) {
    MLSPACE_ASSIGN_OR_RETURN(rule.every, ParseInt(rate.substr(6), 1));
    return rule;
  }
  try {
    size_t used = 0;
    const std::string r(rate);
    rule.probability = std::stod(r, &used);
    if (used != r.size() || rule.probability < 0 || rule.probability > 1) throw std::exception();
  } catch (const std::exception&) {
    return InvalidArgumentError("\"" + std::string(text) +
                                "\" is not a rule: want a probability 0..1 or every:N, "
                                "optionally @op+op");
  }
  return rule;
}

const std::vector<std::string>& FaultKeys() {
  static const std::vector<std::string> keys{"429",          "500",
                                             "502",          "503",
                                             "after-create", "after-create-code",
                                             "latency",      "latency-rule",
                                             "drop",         "drop-after-create",
                                             "hide-polls",   "retry-after"};
  return keys;
}

Status ApplyFaultSetting(FaultConfig& c, std::string_view key, std::string_view value) {
  auto rule = [&](FaultRule& out) -> Status {
    auto r = ParseFaultRule(value);
    if (!r.ok()) return r.status();
    out = *r;
    return OkStatus();
  };
  if (key == "429") return rule(c.status_429);
  if (key == "500") return rule(c.status_500);
  if (key == "502") return rule(c.status_502);
  if (key == "503") return rule(c.status_503);
  if (key == "after-create") return rule(c.after_create);
  if (key == "drop") return rule(c.drop);
  if (key == "drop-after-create") return rule(c.drop_after_create);
  if (key == "latency-rule") return rule(c.latency_rule);
  if (key == "after-create-code") {
    MLSPACE_ASSIGN_OR_RETURN(c.after_create_code, ParseInt(value, 100));
    if (c.after_create_code > 599) return InvalidArgumentError("not an HTTP code");
    return OkStatus();
  }
  if (key == "hide-polls") {
    MLSPACE_ASSIGN_OR_RETURN(c.hide_polls, ParseInt(value, 0));
    return OkStatus();
  }
  if (key == "retry-after") {
    MLSPACE_ASSIGN_OR_RETURN(c.retry_after_seconds, ParseInt(value, 0));
    return OkStatus();
  }
  if (key == "latency") {
    auto d = ParseDuration(value);
    if (!d.ok()) return d.status();
    c.latency = *d;
    if (!c.latency_rule.enabled()) c.latency_rule.probability = 1;
    return OkStatus();
  }
  return InvalidArgumentError("unknown fault \"" + std::string(key) + "\"");
}

Result<FaultConfig> FaultConfigFromJson(const nlohmann::json& body) {
  if (!body.is_object()) return InvalidArgumentError("faults: expected a JSON object");
  FaultConfig c;
  // latency-rule must win over the default that "latency" sets.
  for (const bool rules_pass : {false, true}) {
    for (const auto& [k, v] : body.items()) {
      if ((k == "latency-rule") != rules_pass) continue;
      std::string text;
      if (v.is_string()) {
        text = v.get<std::string>();
      } else if (v.is_number_integer()) {
        text = std::to_string(v.get<int64_t>());
      } else if (v.is_number()) {
        text = std::to_string(v.get<double>());
      } else {
        return InvalidArgumentError("faults." + k + ": expected a string or a number");
      }
      if (Status s = ApplyFaultSetting(c, k, text); !s.ok()) return s.WithContext("faults." + k);
    }
  }
  return c;
}

nlohmann::json FaultConfigToJson(const FaultConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  auto put = [&](const char* k, const FaultRule& r) {
    if (r.enabled()) j[k] = r.ToString();
  };
  put("429", c.status_429);
  put("500", c.status_500);
  put("502", c.status_502);
  put("503", c.status_503);
  put("after-create", c.after_create);
  if (c.after_create.enabled()) j["after-create-code"] = c.after_create_code;
  if (c.latency.count() > 0) {
    j["latency"] = FormatDuration(c.latency);
    put("latency-rule", c.latency_rule);
  }
  put("drop", c.drop);
  put("drop-after-create", c.drop_after_create);
  if (c.hide_polls > 0) j["hide-polls"] = c.hide_polls;
  j["retry-after"] = c.retry_after_seconds;
  return j;
}

}  // namespace mlspace::gateway::emulator
