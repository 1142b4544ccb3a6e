# The real controller against the real gateway emulator, scraped by a real
# Prometheus: every dashboard panel query must return data (issue 6).
if(TARGET mlspace-controller AND TARGET mlspace-gateway-emulator AND TARGET mlspace-launch)
  mlspace_test(metrics_controller_e2e_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/metrics_controller_e2e_test.cc
    DEPS mlspace::e2e_harness
    LABELS e2e
    TIMEOUT 300)
  add_dependencies(metrics_controller_e2e_test
    mlspace-controller mlspace-gateway-emulator mlspace-launch)
endif()
