# Wrong gateway credentials end to end: the real controller binary against
# the real emulator binary requiring an API key. Included by
# e2e/CMakeLists.txt; LABELS e2e. The 401 backoff is >= 30 s, so the test
# takes about 40 s.
mlspace_test(gateway_auth_e2e_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gateway_auth_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 180)
add_dependencies(gateway_auth_e2e_test mlspace-controller mlspace-gateway-emulator)
