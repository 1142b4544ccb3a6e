# mlspace_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s] [TSAN]): one
# GoogleTest binary, registered with CTest as one test. Unit tests carry the
# label "unit"; slow suites pass LABELS e2e so `ctest -L e2e` selects them and
# `ctest -LE e2e` keeps the default run lean.
function(mlspace_test name)
  cmake_parse_arguments(ARG "TSAN" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main
                        mlspace::build_flags Threads::Threads)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  # Aggregate targets let sanitizer builds compile test binaries only:
  # unit_tests (ASan+UBSan) and tsan_tests (the concurrent code).
  if("unit" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY MLSPACE_UNIT_TESTS ${name})
  endif()
  if(ARG_TSAN)
    list(APPEND ARG_LABELS tsan)
    set_property(GLOBAL APPEND PROPERTY MLSPACE_TSAN_TESTS ${name})
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "MLSPACE_SOURCE_DIR=${PROJECT_SOURCE_DIR};MLSPACE_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# Called once at the end of the top-level CMakeLists.
function(mlspace_test_aggregates)
  get_property(unit GLOBAL PROPERTY MLSPACE_UNIT_TESTS)
  get_property(tsan GLOBAL PROPERTY MLSPACE_TSAN_TESTS)
  add_custom_target(unit_tests)
  add_custom_target(tsan_tests)
  if(unit)
    add_dependencies(unit_tests ${unit})
  endif()
  if(tsan)
    add_dependencies(tsan_tests ${tsan})
  endif()
endfunction()
