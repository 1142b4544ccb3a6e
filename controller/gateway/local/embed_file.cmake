# cmake -DIN=file -DOUT=file.cc -P embed_file.cmake: writes RequestSchemasJson()
# returning IN's bytes (a byte array, so no string-literal length limits).
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(LENGTH "${hex}" hex_len)
math(EXPR len "${hex_len} / 2")
file(WRITE ${OUT}.tmp
"// Generated from ${IN} by embed_file.cmake. Do not edit.
#include \"controller/gateway/local/request_schemas.h\"

namespace mlspace::gateway::emulator {
namespace {
const unsigned char kData[] = {${bytes}};
}  // namespace

std::string_view RequestSchemasJson() {
  return std::string_view(reinterpret_cast<const char*>(kData), ${len});
}

}  // namespace mlspace::gateway::emulator
")
file(RENAME ${OUT}.tmp ${OUT})
