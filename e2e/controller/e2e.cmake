# mlspace-controller end to end: the real controller binary against the real
# emulator binary over loopback, with real git repositories. Included by
# e2e/CMakeLists.txt; every test is LABELS e2e with its own TIMEOUT.
set(_dir ${CMAKE_CURRENT_LIST_DIR})
set(_bins mlspace-controller mlspace-gateway-emulator)

mlspace_test(controller_e2e_test
  SOURCES ${_dir}/controller_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 240)
add_dependencies(controller_e2e_test ${_bins})

# 300 manifests, >= 20 SIGKILLs, faults on: about 1-2 minutes.
mlspace_test(controller_crash_e2e_test
  SOURCES ${_dir}/controller_crash_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 400)
add_dependencies(controller_crash_e2e_test ${_bins})

# Instance identity: two controllers on one emulator; the legacy-v2 fixture
# (fixtures/legacy-v2, produced by the previous version) taken over.
if(TARGET mlspace::store_sqlite)
  mlspace_test(controller_instance_e2e_test
    SOURCES ${_dir}/controller_instance_e2e_test.cc
    DEPS mlspace::e2e_harness mlspace::reconciler mlspace::store_sqlite
    LABELS e2e
    TIMEOUT 240)
  add_dependencies(controller_instance_e2e_test ${_bins} mlspace-launch)
endif()

# A new broken file, an alias bomb and other kinds beside valid manifests:
# WARN lines, gitops_manifests, the MLSpaceSource status via API and kubectl.
mlspace_test(source_status_e2e_test
  SOURCES ${_dir}/source_status_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 120)
add_dependencies(source_status_e2e_test ${_bins})

# The real kubectl against the controller's API (skipped without kubectl).
mlspace_test(kubectl_e2e_test
  SOURCES ${_dir}/kubectl_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 240)
add_dependencies(kubectl_e2e_test ${_bins})
# State is never silently lost (issue 11): a lost state directory adopted
# without POSTs (60 jobs), a 0-byte state.db refused, a deleted lock file.
mlspace_test(controller_state_e2e_test
  SOURCES ${_dir}/controller_state_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 240)
add_dependencies(controller_state_e2e_test ${_bins})
# Slow gateway (issue 11): SIGTERM during a dripped start-up list, and
# --gateway-timeout ending dripped answers (a dripping server in the test).
mlspace_test(slow_gateway_e2e_test
  SOURCES ${_dir}/slow_gateway_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 180)
add_dependencies(slow_gateway_e2e_test ${_bins})

# spec.files and secrets through the controller, the emulator's local
# execution and the real launcher: files written, secrets nowhere else.
mlspace_test(creds_e2e_test
  SOURCES ${_dir}/creds_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 120)
add_dependencies(creds_e2e_test ${_bins} mlspace-launch)

# Upgrade (issue 14): version N's binaries (built once from this repository's
# history and cached under MLSPACE_TOOLS_DIR/upgrade; the first run costs a
# build) write a state directory, then this version takes it over. Labels
# e2e;upgrade: `ctest -L upgrade` runs it alone.
if(TARGET controller_instance_e2e_test)
  add_test(NAME upgrade_e2e_test COMMAND ${_dir}/upgrade_e2e_test.sh)
  set_tests_properties(upgrade_e2e_test PROPERTIES LABELS "e2e;upgrade" TIMEOUT 3600
    RUN_SERIAL TRUE
    ENVIRONMENT "MLSPACE_SOURCE_DIR=${PROJECT_SOURCE_DIR};MLSPACE_BINARY_DIR=${PROJECT_BINARY_DIR}")
endif()
