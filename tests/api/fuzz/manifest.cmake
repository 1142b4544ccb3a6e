# libFuzzer target for the manifest parser, meant to be included from
# fuzz/CMakeLists.txt (after mlspace_fuzz_target and add_compile_options are
# defined):
#   include(${PROJECT_SOURCE_DIR}/tests/api/fuzz/manifest.cmake)
# Seeds: tests/api/fuzz/corpus/manifest (scripts/test.sh reads
# fuzz/corpus/<name>; copy or link them there).
#
# The parser's sources are rebuilt here so the fuzzer sees their coverage.
add_library(fuzz_api_objects OBJECT
  ${PROJECT_SOURCE_DIR}/controller/api/types.cc
  ${PROJECT_SOURCE_DIR}/controller/api/crd.cc
  ${PROJECT_SOURCE_DIR}/controller/api/codec.cc
  ${PROJECT_SOURCE_DIR}/controller/api/manifest.cc
  ${PROJECT_SOURCE_DIR}/controller/api/yaml_json.cc
  ${PROJECT_BINARY_DIR}/controller/api/crd_embedded.cc
  ${PROJECT_SOURCE_DIR}/controller/schema/validator.cc)
target_include_directories(fuzz_api_objects PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(fuzz_api_objects
  PUBLIC mlspace::core nlohmann_json::nlohmann_json yaml-cpp OpenSSL::Crypto
  PRIVATE mlspace::build_flags)

mlspace_fuzz_target(manifest
  SOURCES ${PROJECT_SOURCE_DIR}/tests/api/fuzz/manifest_fuzz.cc
  DEPS fuzz_api_objects mlspace::core yaml-cpp OpenSSL::Crypto)
