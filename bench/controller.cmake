# mlspace-controller at scale against mlspace-gateway-emulator (issue 5's
# and issue 6's benchmarks in one run): 10,000 manifests, cold start, one
# changed file per commit, steady state, /metrics with 10,000 objects, and
# submission pacing under a 600/minute limit. Real processes on loopback.
if(TARGET mlspace-controller AND TARGET mlspace-gateway-emulator AND TARGET mlspace::e2e_harness)
  mlspace_bench(controller
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/controller_bench.cc
    DEPS mlspace::e2e_harness)
  add_dependencies(bench_controller mlspace-controller mlspace-gateway-emulator)
  target_compile_definitions(bench_controller PRIVATE
    MLSPACE_CONTROLLER_BINARY="$<TARGET_FILE:mlspace-controller>"
    MLSPACE_EMULATOR_BINARY="$<TARGET_FILE:mlspace-gateway-emulator>")
endif()
