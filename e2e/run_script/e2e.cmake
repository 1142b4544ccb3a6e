# scripts/run.sh (`make run`): settles on Removed records and a stuck
# Pending job, says where to watch, exits 0 on Ctrl-C (in a pty).
if(TARGET mlspace-controller AND TARGET mlspace-launch)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  add_test(NAME run_script_e2e_test
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/run_script_test.py)
  set_tests_properties(run_script_e2e_test PROPERTIES LABELS e2e TIMEOUT 900
    ENVIRONMENT "MLSPACE_SOURCE_DIR=${PROJECT_SOURCE_DIR};MLSPACE_CONTROLLER=$<TARGET_FILE:mlspace-controller>")
endif()
