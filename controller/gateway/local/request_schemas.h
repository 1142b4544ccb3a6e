#pragma once

#include <string_view>

namespace mlspace::gateway::emulator {

// controller/gateway/schemas/gateway-v2-requests.json, embedded at build
// time so the emulator validates request bodies without locating files.
std::string_view RequestSchemasJson();

}  // namespace mlspace::gateway::emulator
