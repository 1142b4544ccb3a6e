# GatewayClient vs a raw keep-alive loop, 6,000-job list parsing, emulator
# sustained req/s: all against an in-process emulator on loopback.
if(TARGET mlspace::gateway_http AND TARGET mlspace::gateway_local)
  find_package(Poco REQUIRED COMPONENTS Foundation Net)
  mlspace_bench(gateway
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/gateway_bench.cc
    DEPS mlspace::gateway_http mlspace::gateway_local Poco::Net Poco::Foundation
         Threads::Threads)
endif()
