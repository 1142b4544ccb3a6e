# The API read side at 10,000 objects (issue 12): list answer times, keep-alive
# GET rate, 100 concurrent watchers (commit -> watcher latency, RSS) and the
# commit -> submit latency with them connected. Real processes on loopback.
if(TARGET mlspace-controller AND TARGET mlspace-gateway-emulator AND TARGET mlspace::e2e_harness)
  find_package(Poco REQUIRED COMPONENTS Foundation Net)
  mlspace_bench(api
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/api_bench.cc
    DEPS mlspace::e2e_harness Poco::Net Poco::Foundation)
  add_dependencies(bench_api mlspace-controller mlspace-gateway-emulator)
  target_compile_definitions(bench_api PRIVATE
    MLSPACE_CONTROLLER_BINARY="$<TARGET_FILE:mlspace-controller>"
    MLSPACE_EMULATOR_BINARY="$<TARGET_FILE:mlspace-gateway-emulator>")
endif()
