# SqliteStateStore Write() throughput (synchronous commits) and read latency.
if(TARGET mlspace::store_sqlite)
  mlspace_bench(store
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_bench.cc
    DEPS mlspace::store_sqlite)
endif()
