#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "controller/core/result.h"

namespace mlspace {

// A bind or connect address as the flags spell it: "host:port", ":port"
// (all interfaces), "[::1]:port". Port 0 means "any free port".
struct HostPort {
  std::string host;  // empty = all interfaces (0.0.0.0)
  uint16_t port = 0;

  std::string ToString() const;
  // True for 127.0.0.0/8, ::1 and "localhost".
  bool IsLoopback() const;
};

// `flag` names the flag in the error, e.g. "--api-bind-address".
Result<HostPort> ParseHostPort(std::string_view text, std::string_view flag);

}  // namespace mlspace
