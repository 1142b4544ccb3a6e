#pragma once

// Helpers shared by the launchspec sources; not part of the public API.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "controller/core/status.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::launchspec {

// A Status of the given kind: "<prefix>: <detail>".
Status KindError(ErrorKind kind, std::string_view detail);

// "'x'" or "0x1f" for one byte.
std::string DescribeByte(char c);

struct Base64Problem {
  std::size_t offset;  // of the offending character in the text
  std::string reason;
};
std::optional<Base64Problem> FindBase64Problem(std::string_view text);

}  // namespace mlspace::launchspec
