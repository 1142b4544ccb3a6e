# mlspacectl end to end: the real binary against the real controller (https
# with a token) and the real emulator running jobs through mlspace-launch.
# Included by e2e/CMakeLists.txt.
set(_dir ${CMAKE_CURRENT_LIST_DIR})
mlspace_test(cli_e2e_test
  SOURCES ${_dir}/cli_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 240)
add_dependencies(cli_e2e_test mlspacectl mlspace-controller mlspace-gateway-emulator
                 mlspace-launch)

# The write verbs (apply, diff, suspend/resume, delete) through mlspacectl:
# each a git commit the controller acts on.
mlspace_test(cli_write_e2e_test
  SOURCES ${_dir}/cli_write_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 240)
add_dependencies(cli_write_e2e_test mlspacectl mlspace-controller mlspace-gateway-emulator)
