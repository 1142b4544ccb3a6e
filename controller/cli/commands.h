#pragma once

// mlspacectl's commands, callable in-process: RunMlspacectl is main()
// without the process (tests drive it with their own streams and
// environment, against real servers on loopback).

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace mlspace::cli {

struct Io {
  std::istream* in = nullptr;   // `-f -`
  std::ostream* out = nullptr;  // results
  std::ostream* err = nullptr;  // errors, warnings, "No resources found"
  // The environment (MLSPACE_SERVER, MLSPACE_TOKEN, KUBECONFIG, HOME).
  std::function<const char*(const char*)> getenv;
};

// Runs one command line (argv[0] is the program). Returns the exit code:
// 0 success; 1 an error (printed as one line: "error: ..." or "Error from
// server (Reason): ..."), `diff` finding differences, `validate` finding
// invalid manifests; 2 a usage error naming the flag or argument.
int RunMlspacectl(const std::vector<std::string>& argv, const Io& io);

// The shell completion script for "bash" or "zsh" ("" for another shell).
std::string CompletionScript(const std::string& shell);

}  // namespace mlspace::cli
