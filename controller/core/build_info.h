#pragma once

// What was built: the CMake project version, the git commit and the build
// date, generated at build time (cmake/GenerateBuildInfo.cmake). Every
// binary prints it for --version and the controller exports it as the
// build_info metric, so the two always agree.

#include <string>
#include <string_view>

namespace mlspace {

struct BuildVersion {
  std::string_view version;  // "0.1.0"
  std::string_view commit;   // short git hash, or "unknown" outside git
  std::string_view date;     // "2026-12-04" (UTC)
};

// The values compiled into this binary. Thread-safe; no allocation.
BuildVersion GetBuildVersion();

// The one-line --version answer: "<program> 0.1.0 (commit 1a2b3c4, built
// 2026-12-04)".
std::string VersionLine(std::string_view program);

}  // namespace mlspace
