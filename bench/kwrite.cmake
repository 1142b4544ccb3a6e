# kubectl writes end to end (issue 13): the real controller (--api-write=
# commit) with 10,000 objects and the emulator; kubectl apply → remote job
# submitted (p50/p99 over 50), 20 concurrent API writers for 30 s.
if(TARGET mlspace-controller AND TARGET mlspace-gateway-emulator AND TARGET mlspace::e2e_harness)
  mlspace_bench(kwrite
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/kwrite_bench.cc
    DEPS mlspace::e2e_harness GTest::gtest)  # controller_e2e_util.h includes gtest
  add_dependencies(bench_kwrite mlspace-controller mlspace-gateway-emulator)
  target_compile_definitions(bench_kwrite PRIVATE MLSPACE_BUILD_DIR="${PROJECT_BINARY_DIR}")
endif()
