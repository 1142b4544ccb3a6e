# mlspace-gateway-emulator: Gateway v2 on loopback (controller/gateway/local).
add_executable(mlspace-gateway-emulator ${CMAKE_CURRENT_LIST_DIR}/emulator_main.cc)
target_link_libraries(mlspace-gateway-emulator PRIVATE
  mlspace::gateway_local mlspace::core mlspace::build_flags Threads::Threads)
