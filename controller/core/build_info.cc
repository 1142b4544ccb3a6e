#include "controller/core/build_info.h"

#include "mlspace_build_info_values.h"  // generated into the build tree

namespace mlspace {

BuildVersion GetBuildVersion() {
  return {MLSPACE_BUILD_VERSION, MLSPACE_BUILD_COMMIT, MLSPACE_BUILD_DATE};
}

std::string VersionLine(std::string_view program) {
  BuildVersion v = GetBuildVersion();
  std::string line(program);
  line.append(" ").append(v.version).append(" (commit ").append(v.commit);
  line.append(", built ").append(v.date).append(")");
  return line;
}

}  // namespace mlspace
