# Hostile HTTP clients against the real controller (issue 11, "Slow and
# hostile peers"): raw sockets on loopback, dripping heads, 10,000 idle
# connections, 1 MB targets and headers; about 10 s. Included by
# e2e/CMakeLists.txt.
set(_dir ${CMAKE_CURRENT_LIST_DIR})
mlspace_test(api_hostile_e2e_test
  SOURCES ${_dir}/api_hostile_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 60)
add_dependencies(api_hostile_e2e_test mlspace-controller)
