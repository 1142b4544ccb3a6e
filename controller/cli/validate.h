#pragma once

// `mlspacectl validate`: manifests checked offline exactly as the controller
// checks a revision (controller/api: YAML parsing with positions, the
// embedded CRD schema, defaulting, identity and duplicate names across all
// the files given), for pre-commit hooks and CI.

#include <ostream>
#include <string>
#include <vector>

namespace mlspace::cli {

struct ValidateSummary {
  int files = 0;
  int jobs = 0;     // valid MLSpaceJobs
  int invalid = 0;  // invalid documents, duplicates included
  int ignored = 0;  // other kinds (a warning each)
  int errors = 0;   // error lines printed (missing paths included)
};

// Checks every PATH (a file, or a directory walked recursively for .yaml,
// .yml and .json files, skipping dot-directories such as .git). Prints one
// `file:line:col: field: message` line per error to `out`, a warning line
// per ignored document to `err`, and a summary line to `out`. A file is
// named as reached from the PATH given. Returns the exit code: 0 when
// every manifest is valid, 1 otherwise (also when a PATH does not exist or
// nothing was found to check). Thread-compatible.
int RunValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err,
                ValidateSummary* summary = nullptr);

}  // namespace mlspace::cli
