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

// "host:port" as a bound listener is reached: the empty host (all
// interfaces) is shown as 0.0.0.0, `port` is the port actually bound.
std::string BoundAddress(const HostPort& bind, int port);

// The error for a listener that could not be opened on `bind`:
// "<flag> <host:port>: cannot listen: <reason>". HTTP libraries report a
// busy port in their own words (civetweb: "null context when constructing
// CivetServer"), so the reason is found by binding a TCP socket to the same
// address once more, e.g. "address already in use"; when that bind succeeds
// (the failure was elsewhere), `library_detail` is the reason. Thread-safe.
Status ListenError(std::string_view flag, const HostPort& bind, std::string_view library_detail);

}  // namespace mlspace
