#pragma once

// Command-line flags for the project's binaries: `--name=value` or
// `--name value`, each also settable by an environment variable
// (MLSPACE_<NAME> with dashes as underscores; the command line wins). Values
// are checked when parsed, so a bad flag is one line naming it, before any
// work starts.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "controller/core/address.h"
#include "controller/core/clock.h"
#include "controller/core/result.h"

namespace mlspace {

class FlagSet {
 public:
  // `program` and `summary` head the --help text; `env_prefix` is the
  // environment variable prefix ("MLSPACE_"; "" disables the env lookup).
  FlagSet(std::string program, std::string summary, std::string env_prefix = "MLSPACE_");

  // Each registration binds a flag to a variable that already holds its
  // default. The pointer must outlive Parse().
  void String(std::string name, std::string* value, std::string help);
  void Int(std::string name, int* value, std::string help, int min, int max);
  void Double(std::string name, double* value, std::string help, double min, double max);
  void Bool(std::string name, bool* value, std::string help);
  void Dur(std::string name, Duration* value, std::string help);
  void Address(std::string name, HostPort* value, std::string help);

  // Parses the environment first, then argv (argv[0] skipped). Unknown
  // flags, missing values and bad values are errors naming the flag.
  // `--help`/`-h` sets help_requested() and stops. Positional arguments are
  // collected in positional().
  Status Parse(int argc, const char* const* argv,
               const std::function<const char*(const char*)>& getenv_fn = nullptr);

  bool help_requested() const { return help_requested_; }
  const std::vector<std::string>& positional() const { return positional_; }
  // Whether the flag was given (argv or env) rather than defaulted.
  bool IsSet(const std::string& name) const;
  std::string Help() const;
  std::string EnvName(const std::string& flag) const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<Status(std::string_view)> set;
  };
  void Add(Flag flag);
  Status Apply(const std::string& name, std::string_view value, std::string_view origin);

  std::string program_;
  std::string summary_;
  std::string env_prefix_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> order_;
  std::vector<std::string> set_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
};

}  // namespace mlspace
