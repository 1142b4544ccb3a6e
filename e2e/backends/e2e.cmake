# Backends by name end to end: the real controller with a --backends file
# naming the real emulator (type mlspace) and a LocalGateway (type local),
# one job on each. Included by e2e/CMakeLists.txt; LABELS e2e.
mlspace_test(backends_e2e_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/backends_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 180)
add_dependencies(backends_e2e_test mlspace-controller mlspace-gateway-emulator mlspace-launch)
