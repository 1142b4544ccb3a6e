#pragma once

// mlspacectl's command line: `mlspacectl [GLOBAL FLAGS] COMMAND [ARGS]
// [FLAGS]`, kubectl's spelling (`--name=value`, `--name value`, short
// `-n NS`, `-oyaml`, `-A`). Global flags (connection, namespace) are
// accepted anywhere. A usage error is one line naming the flag or argument;
// the binary exits with kExitUsage (2) after it, as the project's other
// binaries do (controller/core/flags.h).

#include <map>
#include <string>
#include <vector>

#include "controller/core/result.h"

namespace mlspace::cli {

struct FlagSpec {
  std::string name;     // long name without dashes: "namespace"
  char short_name = 0;  // 'n', or 0
  enum class Type { kBool, kValue, kOptionalValue } type = Type::kValue;
  bool repeated = false;    // -f a -f b
  std::string placeholder;  // shown in --help: "NS"
  std::string help;
  // kOptionalValue: the value when the flag is given without `=value`.
  std::string implicit_value;
};

struct CommandSpec {
  std::string name;
  std::string usage;    // "get [NAME] [flags]"
  std::string summary;  // one line
  std::vector<FlagSpec> flags;
  int min_args = 0;
  int max_args = 0;  // -1: unlimited
  bool needs_server = true;
};

// Every command mlspacectl knows, in --help order.
const std::vector<CommandSpec>& Commands();
// Flags every command accepts (connection and namespace).
const std::vector<FlagSpec>& GlobalFlags();

struct CommandLine {
  std::string command;  // "" with --help/--version and no command
  std::vector<std::string> args;
  // Long flag name -> values in order (a bool flag holds "true"/"false").
  std::map<std::string, std::vector<std::string>> flags;
  bool help = false;
  bool version = false;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  // The last value of `name`, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  bool GetBool(const std::string& name) const { return Get(name, "false") == "true"; }
  std::vector<std::string> GetAll(const std::string& name) const;
};

// Parses argv (argv[0] skipped). Errors (unknown command or flag, missing
// value, wrong number of arguments) are kInvalidArgument with one line that
// names the culprit and where help is: "unknown flag --foo for \"get\" (see
// mlspacectl get --help)". Not thread-safe only in the sense that it
// allocates; no global state.
Result<CommandLine> ParseCommandLine(const std::vector<std::string>& argv);

// The --help text of one command ("" for the top-level help).
std::string HelpText(const std::string& command);

}  // namespace mlspace::cli
