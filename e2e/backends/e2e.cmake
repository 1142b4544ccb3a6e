# Backends by name end to end: the real controller with a --backends file
# naming the real emulator (type mlspace) and a LocalGateway (type local),
# one job on each; and two mlspace backends on one emulator, one with a wrong
# key (health and metrics per backend, recovery after fixing the key file:
# ~40 s of it waits for the 30 s probe). Included by e2e/CMakeLists.txt;
# LABELS e2e.
mlspace_test(backends_e2e_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/backends_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 240)
add_dependencies(backends_e2e_test mlspace-controller mlspace-gateway-emulator mlspace-launch)
