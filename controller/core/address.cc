#include "controller/core/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace mlspace {

std::string HostPort::ToString() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

bool HostPort::IsLoopback() const {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Result<HostPort> ParseHostPort(std::string_view text, std::string_view flag) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(std::string(flag) + " \"" + std::string(text) +
                                "\": " + std::string(why) + " (expected host:port or :port)");
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("missing port");
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("IPv6 hosts need brackets");
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

std::string BoundAddress(const HostPort& bind, int port) {
  HostPort bound{bind.host.empty() ? "0.0.0.0" : bind.host, static_cast<uint16_t>(port)};
  return bound.ToString();
}

namespace {

// 0 when a TCP socket binds to `hp` (with SO_REUSEADDR, as every listener
// here does), else the errno of the failure; -1 when the host is not an IP
// literal (names are not resolved here).
int ProbeBind(const HostPort& hp) {
  std::string host = hp.host.empty() ? "0.0.0.0" : hp.host;
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(hp.port);
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(hp.port);
    len = sizeof(*v6);
  } else {
    return -1;
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int err = bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 ? 0 : errno;
  // A busy port whose owner set SO_REUSEADDR too still binds; listen fails.
  if (err == 0 && listen(fd, 1) != 0) err = errno;
  close(fd);
  return err;
}

}  // namespace

Status ListenError(std::string_view flag, const HostPort& bind, std::string_view library_detail) {
  std::string reason(library_detail);
  if (int err = ProbeBind(bind); err > 0) {
    reason = std::strerror(err);
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
  }
  return UnavailableError(std::string(flag) + " " + bind.ToString() + ": cannot listen: " + reason);
}

}  // namespace mlspace
