#include "controller/gateway/launch_args.h"

namespace mlspace::gateway {

std::vector<std::string> LaunchFlagArgs(const SubmitRequest& req) {
  std::vector<std::string> args;
  args.reserve(req.flags.size());
  for (const auto& [k, v] : req.flags) {
    std::string arg = "--";
    arg.append(k).append("=").append(v);
    args.push_back(std::move(arg));
  }
  return args;
}

}  // namespace mlspace::gateway
