# API write-back to git at 10,000 objects (issue 13): single-object Write
# latency (commit included) and 20 concurrent writers.
mlspace_bench(gitwrite
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gitwrite_bench.cc
  DEPS mlspace::source mlspace::core)
