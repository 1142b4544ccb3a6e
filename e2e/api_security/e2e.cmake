# The API's read side for a failed job and its security, with the real
# kubectl (1.32), curl and the openssl CLI: a controller over https with
# tokens against the emulator running jobs through the real mlspace-launch.
# Included by e2e/CMakeLists.txt.
set(_dir ${CMAKE_CURRENT_LIST_DIR})
mlspace_test(api_security_e2e_test
  SOURCES ${_dir}/api_security_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 180)
add_dependencies(api_security_e2e_test mlspace-controller mlspace-gateway-emulator mlspace-launch)
