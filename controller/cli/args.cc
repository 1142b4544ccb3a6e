#include "controller/cli/args.h"

#include <algorithm>
#include <optional>
#include <sstream>

namespace mlspace::cli {
namespace {

using Type = FlagSpec::Type;

FlagSpec Bool(std::string name, char s, std::string help) {
  return FlagSpec{std::move(name), s, Type::kBool, false, "", std::move(help), ""};
}
FlagSpec Value(std::string name, char s, std::string placeholder, std::string help,
               bool repeated = false) {
  return FlagSpec{std::move(name), s, Type::kValue, repeated, std::move(placeholder),
                  std::move(help), ""};
}

FlagSpec OutputFlag(std::string choices) {
  return Value("output", 'o', std::move(choices), "output format");
}
FlagSpec FileFlag(std::string help) { return Value("filename", 'f', "FILE|DIR|-", help, true); }
FlagSpec SelectorFlag() {
  return Value("selector", 'l', "SELECTOR", "label selector (k=v, k!=v, k, !k; comma-separated)");
}
FlagSpec DryRunFlag() {
  return FlagSpec{"dry-run",
                  0,
                  Type::kOptionalValue,
                  false,
                  "none|client|server",
                  "only show what would happen (client: nothing sent; server: "
                  "dryRun=All, validated by the server)",
                  "client"};
}

std::vector<CommandSpec> BuildCommands() {
  std::vector<CommandSpec> c;
  c.push_back({"apply",
               "apply -f FILE|DIR|- [flags]",
               "create or update MLSpaceJobs from manifests (each write is a git commit)",
               {FileFlag("manifest file, directory (recursive) or - for stdin"), DryRunFlag(),
                Bool("server-side", 0, "server-side apply (application/apply-patch+yaml)"),
                Bool("force-conflicts", 0, "server-side: take fields other managers own"),
                Value("field-manager", 0, "NAME", "manager name (default mlspacectl)")},
               0,
               0});
  c.push_back(
      {"get",
       "get [NAME] [flags]",
       "list MLSpaceJobs, or show one",
       {OutputFlag("wide|yaml|json|name"), SelectorFlag(),
        Bool("all-namespaces", 'A', "every namespace"), Bool("watch", 'w', "keep printing changes"),
        Bool("no-headers", 0, "omit the header row")},
       0,
       1});
  c.push_back({"describe",
               "describe NAME",
               "spec, status, conditions and events of one MLSpaceJob",
               {},
               1,
               1});
  c.push_back(
      {"delete",
       "delete NAME... | -f FILE | -l SELECTOR",
       "delete MLSpaceJobs (removes their manifests from git)",
       {FileFlag("delete the objects these manifests declare"), SelectorFlag(), DryRunFlag()},
       0,
       -1});
  c.push_back({"diff",
               "diff -f FILE|DIR|-",
               "what apply would change (server dry run vs live), unified diff; exit 1 when "
               "different",
               {FileFlag("manifest file, directory or -"),
                Bool("server-side", 0, "diff a server-side apply"),
                Bool("force-conflicts", 0, "server-side: take fields other managers own"),
                Value("field-manager", 0, "NAME", "manager name (default mlspacectl)")},
               0,
               0});
  c.push_back({"logs",
               "logs NAME [flags]",
               "the job's output (proxied from the gateway)",
               {Bool("follow", 'f', "keep streaming until the job ends"),
                Value("tail", 0, "N", "last N lines only"),
                Value("attempt", 0, "K", "attempt K of the current generation"),
                Bool("previous", 'p', "the attempt before the current one")},
               1,
               1});
  c.push_back({"wait",
               "wait NAME --for=condition=Complete|Failed [--timeout D]",
               "wait until a condition of the object is True",
               {Value("for", 0, "condition=TYPE", "the condition to wait for"),
                Value("timeout", 0, "DURATION", "give up after this long (default 30s)")},
               1,
               1});
  c.push_back({"suspend",
               "suspend NAME...",
               "set spec.runPolicy.suspend (cancels the remote job)",
               {DryRunFlag()},
               1,
               -1});
  c.push_back({"resume", "resume NAME...", "clear spec.runPolicy.suspend", {DryRunFlag()}, 1, -1});
  c.push_back({"reconcile", "reconcile", "ask the controller to sync git and poll now", {}, 0, 0});
  c.push_back({"version",
               "version [--client]",
               "client and server versions",
               {Bool("client", 0, "the client version only")},
               0,
               0});
  c.push_back({"validate",
               "validate PATH...",
               "check manifests offline with the controller's parser and CRD schema; exit 1 on "
               "any error",
               {},
               1,
               -1,
               false});
  c.push_back({"completion",
               "completion bash|zsh",
               "shell completion script (source <(mlspacectl completion bash))",
               {},
               1,
               1,
               false});
  return c;
}

std::vector<FlagSpec> BuildGlobals() {
  return {Value("namespace", 'n', "NS", "namespace (default: the context's, else default)"),
          Value("server", 's', "URL", "API server URL (env MLSPACE_SERVER)"),
          Value("token", 0, "TOKEN", "bearer token (env MLSPACE_TOKEN)"),
          Value("certificate-authority", 0, "FILE", "CA bundle (PEM) to trust for https"),
          Bool("insecure-skip-tls-verify", 0, "do not verify the server's certificate"),
          Value("kubeconfig", 0, "FILE", "kubeconfig (default $KUBECONFIG or ~/.kube/config)"),
          Value("context", 0, "NAME", "kubeconfig context (default: current-context)"),
          Value("request-timeout", 0, "DURATION", "per-request timeout (default 30s)")};
}

const CommandSpec* FindCommand(const std::string& name) {
  for (const auto& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const FlagSpec* FindFlag(const CommandSpec* cmd, const std::string& name, char short_name) {
  auto match = [&](const FlagSpec& f) {
    return short_name ? f.short_name == short_name : f.name == name;
  };
  if (cmd) {
    for (const auto& f : cmd->flags) {
      if (match(f)) return &f;
    }
  }
  for (const auto& f : GlobalFlags()) {
    if (match(f)) return &f;
  }
  return nullptr;
}

std::string SeeHelp(const std::string& command) {
  // The top level says it as the project's other binaries do.
  return command.empty() ? "(see --help)" : "(see mlspacectl " + command + " --help)";
}

}  // namespace

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> commands = BuildCommands();
  return commands;
}

const std::vector<FlagSpec>& GlobalFlags() {
  static const std::vector<FlagSpec> flags = BuildGlobals();
  return flags;
}

std::string CommandLine::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) return fallback;
  return it->second.back();
}

std::vector<std::string> CommandLine::GetAll(const std::string& name) const {
  auto it = flags.find(name);
  return it == flags.end() ? std::vector<std::string>{} : it->second;
}

Result<CommandLine> ParseCommandLine(const std::vector<std::string>& argv) {
  CommandLine cl;
  const CommandSpec* cmd = nullptr;
  bool only_args = false;  // after "--"
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (only_args || a == "-" || a.size() < 2 || a[0] != '-') {
      if (!cmd && !only_args) {
        cmd = FindCommand(a);
        if (!cmd) {
          return InvalidArgumentError("unknown command \"" + a + "\" " + SeeHelp(""));
        }
        cl.command = a;
      } else {
        cl.args.push_back(a);
      }
      continue;
    }
    if (a == "--") {
      only_args = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      cl.help = true;
      continue;
    }
    if (a == "--version" && !cmd) {
      cl.version = true;
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::string shown;  // the flag as the user wrote it, for messages
    std::optional<std::string> value;
    if (a[1] == '-') {
      std::string name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      shown = "--" + name;
      spec = FindFlag(cmd, name, 0);
    } else {
      shown = a.substr(0, 2);
      spec = FindFlag(cmd, "", a[1]);
      if (a.size() > 2) value = a.substr(a[2] == '=' ? 3 : 2);  // -oyaml, -n=ns
    }
    if (!spec) {
      std::string where = cmd ? " for \"" + cmd->name + "\"" : "";
      return InvalidArgumentError("unknown flag " + shown + where + " " + SeeHelp(cl.command));
    }
    switch (spec->type) {
      case Type::kBool:
        if (value && *value != "true" && *value != "false") {
          return InvalidArgumentError("flag " + shown + " \"" + *value +
                                      "\": expected true or false");
        }
        cl.flags[spec->name] = {value.value_or("true")};
        break;
      case Type::kOptionalValue:
        cl.flags[spec->name] = {value.value_or(spec->implicit_value)};
        break;
      case Type::kValue:
        if (!value) {
          if (i + 1 >= argv.size()) {
            return InvalidArgumentError("flag " + shown + " needs a value " + SeeHelp(cl.command));
          }
          value = argv[++i];
        }
        if (spec->repeated) {
          cl.flags[spec->name].push_back(*value);
        } else {
          cl.flags[spec->name] = {*value};
        }
        break;
    }
  }
  if (cl.help || cl.version) return cl;
  if (!cmd) return InvalidArgumentError("no command given " + SeeHelp(""));
  int n = static_cast<int>(cl.args.size());
  if (n < cmd->min_args) {
    return InvalidArgumentError("\"" + cmd->name + "\" needs " +
                                (cmd->min_args == 1
                                     ? std::string("an argument")
                                     : std::to_string(cmd->min_args) + " arguments") +
                                ": mlspacectl " + cmd->usage + " " + SeeHelp(cmd->name));
  }
  if (cmd->max_args >= 0 && n > cmd->max_args) {
    return InvalidArgumentError("unexpected argument \"" + cl.args[cmd->max_args] + "\" for \"" +
                                cmd->name + "\" " + SeeHelp(cmd->name));
  }
  return cl;
}

std::string HelpText(const std::string& command) {
  std::ostringstream out;
  auto flag_lines = [&](const std::vector<FlagSpec>& flags) {
    for (const auto& f : flags) {
      std::string left = "  ";
      left += f.short_name ? std::string("-") + f.short_name + ", " : std::string("    ");
      left += "--" + f.name;
      if (f.type == Type::kValue) left += " " + f.placeholder;
      if (f.type == Type::kOptionalValue) left += "[=" + f.placeholder + "]";
      if (left.size() < 40) left.resize(40, ' ');
      out << left << " " << f.help << "\n";
    }
  };
  const CommandSpec* cmd = FindCommand(command);
  if (!cmd) {
    out << "mlspacectl: a small client of mlspace-controller's API, and an offline manifest "
           "validator.\n\nUsage: mlspacectl [flags] COMMAND [args]\n\nCommands:\n";
    for (const auto& c : Commands()) {
      std::string left = "  " + c.name;
      left.resize(14, ' ');
      out << left << c.summary << "\n";
    }
    out << "\nConnection: --server/--token/--certificate-authority flags, MLSPACE_SERVER and "
           "MLSPACE_TOKEN,\nelse the current kubeconfig context. Exit codes: 0 ok, 1 error, 2 "
           "usage error.\n\nGlobal flags:\n";
    flag_lines(GlobalFlags());
    out << "  -h, --help                               help (also: mlspacectl COMMAND --help)\n"
           "      --version                            the client version\n";
    return out.str();
  }
  out << cmd->summary << "\n\nUsage: mlspacectl " << cmd->usage << "\n";
  if (!cmd->flags.empty()) {
    out << "\nFlags:\n";
    flag_lines(cmd->flags);
  }
  if (cmd->needs_server) {
    out << "\nGlobal flags:\n";
    flag_lines(GlobalFlags());
  }
  return out.str();
}

}  // namespace mlspace::cli
