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
  Add({std::move(name), std::move(help), *value, false, [value](std::string_view v) {
         *value = std::string(v);
         return OkStatus();
       }});
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
       }});
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
       }});
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
       }});
}

void FlagSet::Dur(std::string name, Duration* value, std::string help) {
  Add({std::move(name), std::move(help), FormatDuration(*value), false,
       [value](std::string_view v) -> Status {
         auto d = ParseDuration(v);
         if (!d.ok()) return d.status();
         *value = *d;
         return OkStatus();
       }});
}

void FlagSet::Address(std::string name, HostPort* value, std::string help) {
  Add({std::move(name), std::move(help), value->ToString(), false,
       [value](std::string_view v) -> Status {
         auto hp = ParseHostPort(v, "");
         if (!hp.ok()) return InvalidArgumentError("expected host:port or :port");
         *value = *hp;
         return OkStatus();
       }});
}

std::string FlagSet::EnvName(const std::string& flag) const {
  std::string env = env_prefix_;
  for (char c : flag) {
    env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return env;
}

Status FlagSet::Apply(const std::string& name, std::string_view value, std::string_view origin) {
  auto it = flags_.find(name);
  if (it == flags_.end()) {
    return InvalidArgumentError("unknown flag --" + name + " (see --help)");
  }
  Status s = it->second.set(value);
  if (!s.ok()) {
    return InvalidArgumentError(std::string(origin) + " \"" + std::string(value) +
                                "\": " + s.message());
  }
  if (std::find(set_.begin(), set_.end(), name) == set_.end()) set_.push_back(name);
  return OkStatus();
}

Status FlagSet::Parse(int argc, const char* const* argv,
                      const std::function<const char*(const char*)>& getenv_fn) {
  auto env = getenv_fn ? getenv_fn : [](const char* n) -> const char* { return std::getenv(n); };
  if (!env_prefix_.empty()) {
    for (const auto& name : order_) {
      std::string var = EnvName(name);
      if (const char* v = env(var.c_str())) {
        MLSPACE_RETURN_IF_ERROR(Apply(name, v, var));
      }
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return OkStatus();
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      positional_.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(2);
    auto eq = arg.find('=');
    std::string name(arg.substr(0, eq));
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return InvalidArgumentError("unknown flag --" + name + " (see --help)");
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (it->second.is_bool) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return InvalidArgumentError("flag --" + name + " needs a value");
    }
    MLSPACE_RETURN_IF_ERROR(Apply(name, value, "--" + name));
  }
  return OkStatus();
}

bool FlagSet::IsSet(const std::string& name) const {
  return std::find(set_.begin(), set_.end(), name) != set_.end();
}

std::string FlagSet::Help() const {
  std::ostringstream os;
  os << "Usage: " << program_ << " [flags]\n\n"
     << summary_ << "\n\nFlags (each also settable as "
     << (env_prefix_.empty() ? "" : env_prefix_ + "<FLAG_NAME>") << "):\n";
  for (const auto& name : order_) {
    const Flag& f = flags_.at(name);
    os << "  --" << name;
    if (!f.is_bool) os << " VALUE";
    os << "\n      " << f.help;
    if (!f.default_text.empty()) os << " (default " << f.default_text << ")";
    os << "\n";
  }
  return os.str();
}

}  // namespace mlspace
