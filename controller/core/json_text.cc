#include "controller/core/json_text.h"

#include <cstdint>
#include <cstring>

namespace mlspace {

JsonTextBytes ClassifyJsonBytes(std::string_view text) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kHigh = 0x8080808080808080;
  uint64_t high = 0;
  uint64_t control = 0;
  const char* p = text.data();
  size_t n = text.size();
  const auto add = [&](uint64_t w) {
    high |= w;
    // A byte b < 0x80 is in 0x1a..0x1f when b + 0x66 reaches 0x80 and
    // b + 0x60 does not (no carries cross bytes while every b < 0x80).
    control |= (w + 0x66 * kOnes) & ~(w + 0x60 * kOnes) & kHigh;
  };
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    add(w);
  }
  if (n > 0) {
    uint64_t w = 0x2020202020202020;  // spaces: neither high nor control
    std::memcpy(&w, p, n);
    add(w);
  }
  return {(high & kHigh) != 0, control != 0};
}

bool MayHaveLowSurrogateEscape(std::string_view text) {
  for (size_t at = text.find("\\u"); at != std::string_view::npos; at = text.find("\\u", at + 2)) {
    if (at + 3 >= text.size()) return true;
    const char c1 = text[at + 2];
    const char c2 = text[at + 3];
    if ((c1 == 'd' || c1 == 'D') && ((c2 >= 'c' && c2 <= 'f') || (c2 >= 'C' && c2 <= 'F'))) {
      return true;
    }
  }
  return false;
}

}  // namespace mlspace
