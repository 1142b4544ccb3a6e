# issue 13: the real kubectl 1.32 against the real controller writing to a
# real git repository (--api-write=commit) and the real emulator. Each write
# is checked as a commit and as the controller acting on it. Needs kubectl
# 1.32: MLSPACE_KUBECTL, /usr/bin/kubectl or the one scripts/tools.sh
# fetches. Included by e2e/CMakeLists.txt.
set(_dir ${CMAKE_CURRENT_LIST_DIR})
mlspace_test(kubectl_write_e2e_test
  SOURCES ${_dir}/kubectl_write_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 300)
add_dependencies(kubectl_write_e2e_test mlspace-controller mlspace-gateway-emulator)
