#pragma once

// The launcher's command line from a submit request, shared by every
// gateway that starts mlspace-launch itself (LocalGateway, the Slurm
// gateway), so the launch spec protocol has one spelling.

#include <string>
#include <vector>

#include "controller/gateway/job_gateway.h"

namespace mlspace::gateway {

// One "--key=value" per entry of req.flags, in the map's order (the launch
// spec's --spec-* flags built by launchspec::EncodeFlags).
std::vector<std::string> LaunchFlagArgs(const SubmitRequest& req);

}  // namespace mlspace::gateway
