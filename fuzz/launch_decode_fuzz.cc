// Fuzzes the launch decoder (DecodeArgv) with arbitrary command lines: the
// input is split into arguments at NUL bytes, so the fuzzer controls flag
// names, spellings, order and the base64/JSON payload alike. Every input must
// decode or fail with a one-line error of a known kind; a decoded spec must
// survive an encode/decode round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "controller/launchspec/launch_spec.h"

namespace ls = mlspace::launchspec;

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args;
  std::size_t begin = 0;
  while (begin <= input.size()) {
    std::size_t end = input.find('\0', begin);
    if (end == std::string::npos) end = input.size();
    args.push_back(input.substr(begin, end - begin));
    begin = end + 1;
  }
  // Also try the input as the JSON document behind one valid base64 part, as
  // version 1 and as the newest version (files and their "write"), so the
  // JSON and spec layers get deep coverage.
  for (int mode = 0; mode < 3; ++mode) {
    std::vector<std::string> argv = args;
    if (mode > 0) {
      const std::string b64 = ls::Base64Encode(input);
      const int version = mode == 1 ? 1 : ls::kSpecVersion;
      argv = {"--spec-version=" + std::to_string(version), "--spec-num-parts=1",
              "--spec-part-0=" + b64, "--spec-sha256=" + ls::Sha256Hex(b64)};
    }
    auto decoded = ls::DecodeArgv(argv);
    if (!decoded.ok()) {
      const std::string message = decoded.status().message();
      Check(ls::KindOf(decoded.status()) != ls::ErrorKind::kNone);
      Check(message.find('\n') == std::string::npos);
      continue;
    }
    Check(ls::Validate(*decoded).ok());
    auto again = ls::DecodeArgv(ls::FlagsToArgv(ls::EncodeFlags(*decoded)));
    Check(again.ok() && *again == *decoded);
    (void)ls::ToMaskedJson(*decoded);
  }
  return 0;
}
