# mlspace-controller: the operator. Wiring of every library (this is the
# only target that links them all).
add_executable(mlspace-controller
  ${CMAKE_CURRENT_LIST_DIR}/controller_main.cc
  ${CMAKE_CURRENT_LIST_DIR}/metrics_bridge.cc)
target_link_libraries(mlspace-controller PRIVATE
  mlspace::reconciler mlspace::backends mlspace::apiserver mlspace::metrics mlspace::source
  mlspace::store_sqlite mlspace::gateway_http mlspace::gateway_local mlspace::gateway_slurm mlspace::core
  mlspace::build_flags Threads::Threads)
# The local gateway runs jobs through mlspace-launch, found beside the
# controller or in the build tree; build it with the controller.
add_dependencies(mlspace-controller mlspace-launch)
