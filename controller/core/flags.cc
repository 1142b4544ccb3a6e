#include "controller/core/flags.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include "controller/core/time_util.h"

namespace mlspace {
namespace {

std::string FormatDouble(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

FlagSet::FlagSet(std::string program, std::string summary, std::string env_prefix)
    : program_(std::move(program)),
      summary_(std::move(summary)),
      env_prefix_(std::move(env_prefix)) {}

void FlagSet::Add(Flag flag) {
  order_.push_back(flag.name);
  flags_[flag.name] = std::move(flag);
}

void FlagSet::String(std::string name, std::string* value, std::string help) {
  String(std::move(name), value, "VALUE", std::move(help));
}

void FlagSet::String(std::string name, std::string* value, std::string placeholder,
                     std::string help) {
  Add({std::move(name), std::move(help), *value, false,
       [value](std::string_view v) {
         *value = std::string(v);
         return OkStatus();
       },
       std::move(placeholder)});
}

void FlagSet::Int(std::string name, int* value, std::string help, int min, int max) {
  Add({std::move(name), std::move(help), std::to_string(*value), false,
       [value, min, max](std::string_view v) -> Status {
         int parsed = 0;
         auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
         if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
           return InvalidArgumentError("expected an integer");
         }
         if (parsed < min || parsed > max) {
           return InvalidArgumentError("must be between " + std::to_string(min) + " and " +
                                       std::to_string(max));
         }
         *value = parsed;
         return OkStatus();
       },
       "N"});
}

void FlagSet::Double(std::string name, double* value, std::string help, double min, double max) {
  Add({std::move(name), std::move(help), FormatDouble(*value), false,
       [value, min, max](std::string_view v) -> Status {
         std::string s(v);
         char* end = nullptr;
         double parsed = std::strtod(s.c_str(), &end);
         if (s.empty() || end != s.c_str() + s.size()) {
           return InvalidArgumentError("expected a number");
         }
         if (parsed < min || parsed > max) {
           return InvalidArgumentError("must be between " + FormatDouble(min) + " and " +
                                       FormatDouble(max));
         }
         *value = parsed;
         return OkStatus();
       },
       "N"});
}

void FlagSet::Bool(std::string name, bool* value, std::string help) {
  Add({std::move(name), std::move(help), *value ? "true" : "false", true,
       [value](std::string_view v) -> Status {
         if (v == "true" || v == "1" || v == "yes") {
           *value = true;
         } else if (v == "false" || v == "0" || v == "no") {
           *value = false;
         } else {
           return InvalidArgumentError("expected true or false");
         }
         return OkStatus();
       },
       ""});
}

void FlagSet::Dur(std::string name, Duration* value, std::string help) {
  Add({std::move(name), std::move(help), FormatDuration(*value), false,
       [value](std::string_view v) -> Status {
         auto d = ParseDuration(v);
         if (!d.ok()) return d.status();
         *value = *d;
         return OkStatus();
       },
       "DURATION"});
}

void FlagSet::Address(std::string name, HostPort* value, std::string help) {
  Add({std::move(name), std::move(help), value->ToString(), false,
       [value](std::string_view v) -> Status {
         auto hp = ParseHostPort(v, "");
         if (!hp.ok()) {
           // " \"v\": why (expected ...)"; Apply drops the quoted value.
           std::string why = hp.status().message();
           if (!why.empty() && why.front() == ' ') why.erase(0, 1);
           return InvalidArgumentError(why);
         }
         *value = *hp;
         return OkStatus();
       },
       "HOST:PORT"});
}

void FlagSet::Choice(std::string name, std::string* value, std::vector<std::string> choices,
                     std::string help) {
  std::string placeholder;
  for (const auto& c : choices) placeholder += (placeholder.empty() ? "" : "|") + c;
  Add({std::move(name), std::move(help), *value, false,
       [value, choices, placeholder](std::string_view v) -> Status {
         if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
           return InvalidArgumentError("expected one of " + placeholder);
         }
         *value = std::string(v);
         return OkStatus();
       },
       placeholder});
}

void FlagSet::Func(std::string name, std::string placeholder, std::string help,
                   std::function<Status(std::string_view)> set, std::string default_text) {
  Add({std::move(name), std::move(help), std::move(default_text), false, std::move(set),
       std::move(placeholder)});
}

void FlagSet::Alias(std::string alias, const std::string& target) {
  aliases_[std::move(alias)] = target;
}

void FlagSet::Section(std::string title) { order_.push_back("\n" + std::move(title)); }

const FlagSet::Flag* FlagSet::Find(const std::string& name) const {
  auto it = flags_.find(name);
  if (it != flags_.end()) return &it->second;
  auto alias = aliases_.find(name);
  if (alias == aliases_.end()) return nullptr;
  it = flags_.find(alias->second);
  return it == flags_.end() ? nullptr : &it->second;
}

std::string FlagSet::EnvName(const std::string& flag) const {
  std::string env = env_prefix_;
  for (char c : flag) {
    env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return env;
}

Status FlagSet::Apply(const Flag& flag, std::string_view value, std::string_view origin) {
  Status s = flag.set(value);
  if (!s.ok()) {
    // The setter may quote the value itself ("\"x\" is not a rule", "duration
    // \"x\": ..."); the prefix below already does, so keep only the reason.
    std::string why = s.message();
    const std::string quoted = "\"" + std::string(value) + "\"";
    for (const std::string& lead : {quoted + ": ", quoted + " ", "duration " + quoted + ": "}) {
      if (why.rfind(lead, 0) == 0) {
        why.erase(0, lead.size());
        break;
      }
    }
    return InvalidArgumentError(std::string(origin) + " " + quoted + ": " + why);
  }
  if (std::find(set_.begin(), set_.end(), flag.name) == set_.end()) set_.push_back(flag.name);
  return OkStatus();
}

Status FlagSet::Parse(int argc, const char* const* argv,
                      const std::function<const char*(const char*)>& getenv_fn) {
  auto env = getenv_fn ? getenv_fn : [](const char* n) -> const char* { return std::getenv(n); };
  if (!env_prefix_.empty()) {
    for (const auto& name : order_) {
      auto it = flags_.find(name);
      if (it == flags_.end()) continue;  // a section heading
      std::string var = EnvName(name);
      if (const char* v = env(var.c_str())) {
        MLSPACE_RETURN_IF_ERROR(Apply(it->second, v, var));
      }
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return OkStatus();
    }
    if (arg == "--version") {
      version_requested_ = true;
      return OkStatus();
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      positional_.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(2);
    auto eq = arg.find('=');
    std::string name(arg.substr(0, eq));
    const Flag* flag = Find(name);
    if (flag == nullptr) {
      return InvalidArgumentError("unknown flag --" + name + " (see --help)");
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (flag->is_bool) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return InvalidArgumentError("flag --" + name + " needs a value");
    }
    MLSPACE_RETURN_IF_ERROR(Apply(*flag, value, "--" + name));
  }
  return OkStatus();
}

bool FlagSet::IsSet(const std::string& name) const {
  return std::find(set_.begin(), set_.end(), name) != set_.end();
}

std::string FlagSet::Help() const {
  std::ostringstream os;
  os << "Usage: " << program_ << " [flags]\n\n" << summary_ << "\n\nFlags";
  if (!env_prefix_.empty()) os << " (each also settable as " << env_prefix_ << "<FLAG_NAME>)";
  os << ":\n";
  for (const auto& name : order_) {
    if (name.rfind('\n', 0) == 0) {
      os << name.substr(1) << ":\n";
      continue;
    }
    const Flag& f = flags_.at(name);
    os << "  --" << name;
    if (!f.is_bool) os << " " << f.placeholder;
    os << "\n      " << f.help;
    if (!f.default_text.empty()) os << " (default " << f.default_text << ")";
    os << "\n";
  }
  os << "  --help\n      print this text and exit\n"
     << "  --version\n      print the version, git commit and build date, and exit\n";
  return os.str();
}

}  // namespace mlspace
