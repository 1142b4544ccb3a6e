#pragma once

// Command-line flags for the project's binaries: `--name=value` or
// `--name value`, each also settable by an environment variable
// (MLSPACE_<NAME> with dashes as underscores; the command line wins). Values
// are checked when parsed, so a bad flag is one line naming it, before any
// work starts. Every binary exits with kExitUsage after a usage error.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "controller/core/address.h"
#include "controller/core/clock.h"
#include "controller/core/result.h"

namespace mlspace {

// The exit code of a usage error (unknown flag, bad value, stray argument),
// as getopt-based tools use it.
inline constexpr int kExitUsage = 2;

class FlagSet {
 public:
  // `program` and `summary` head the --help text; `env_prefix` is the
  // environment variable prefix ("MLSPACE_"; "" disables the env lookup).
  FlagSet(std::string program, std::string summary, std::string env_prefix = "MLSPACE_");

  // Each registration binds a flag to a variable that already holds its
  // default. The pointer must outlive Parse(). `placeholder` is what --help
  // shows for the value (FILE, DIR, URL, ...); the typed registrations have
  // their own (N, DURATION, HOST:PORT), the three-argument String shows
  // VALUE and should be given a placeholder instead.
  void String(std::string name, std::string* value, std::string help);
  void String(std::string name, std::string* value, std::string placeholder, std::string help);
  void Int(std::string name, int* value, std::string help, int min, int max);
  void Double(std::string name, double* value, std::string help, double min, double max);
  void Bool(std::string name, bool* value, std::string help);
  void Dur(std::string name, Duration* value, std::string help);
  void Address(std::string name, HostPort* value, std::string help);
  // One of `choices`; the placeholder lists them ("text|json").
  void Choice(std::string name, std::string* value, std::vector<std::string> choices,
              std::string help);
  // A flag whose value `set` checks and stores; its error message follows
  // "--name \"value\": " in the Parse error. `default_text` is shown in help.
  void Func(std::string name, std::string placeholder, std::string help,
            std::function<Status(std::string_view)> set, std::string default_text = "");
  // Another spelling of `target` (registered already), accepted on the
  // command line and not listed in --help: for renamed flags.
  void Alias(std::string alias, const std::string& target);
  // A heading in --help before the flags registered next.
  void Section(std::string title);

  // Parses the environment first, then argv (argv[0] skipped). Unknown
  // flags, missing values and bad values are errors naming the flag.
  // `--help`/`-h` sets help_requested() and `--version` sets
  // version_requested(); either stops the parse. Positional arguments are
  // collected in positional().
  Status Parse(int argc, const char* const* argv,
               const std::function<const char*(const char*)>& getenv_fn = nullptr);

  bool help_requested() const { return help_requested_; }
  bool version_requested() const { return version_requested_; }
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
    std::string placeholder;
  };
  void Add(Flag flag);
  // `name` after alias resolution, or nullptr when unknown.
  const Flag* Find(const std::string& name) const;
  Status Apply(const Flag& flag, std::string_view value, std::string_view origin);

  std::string program_;
  std::string summary_;
  std::string env_prefix_;
  std::map<std::string, Flag> flags_;
  std::map<std::string, std::string> aliases_;  // alias -> flag name
  std::vector<std::string> order_;              // flag names; "\n" + title for a section
  std::vector<std::string> set_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
  bool version_requested_ = false;
};

}  // namespace mlspace
