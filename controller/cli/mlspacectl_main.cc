// mlspacectl: a small client of mlspace-controller's Kubernetes-style API
// and an offline manifest validator (docs/mlspacectl.md).

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "controller/cli/commands.h"

int main(int argc, char** argv) {
  // A closed pipe (mlspacectl get | head) ends the write, not the process
  // with a signal in the middle of a line.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv, argv + argc);
  mlspace::cli::Io io;
  io.in = &std::cin;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.getenv = [](const char* name) -> const char* { return std::getenv(name); };
  int rc = mlspace::cli::RunMlspacectl(args, io);
  std::cout.flush();
  return rc;
}
