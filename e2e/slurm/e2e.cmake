# mlspace-controller --gateway=slurm against a real single-node Slurm
# (Debian 12's 22.05: slurmctld, slurmd, munge) that the suite starts and
# stops itself through e2e/slurm/slurm_cluster.sh. Needs root and the
# packages from scripts/deps.sh.
set(_dir ${CMAKE_CURRENT_LIST_DIR})
mlspace_test(slurm_e2e_test
  SOURCES ${_dir}/slurm_e2e_test.cc
  DEPS mlspace::e2e_harness
  LABELS e2e
  TIMEOUT 400)
add_dependencies(slurm_e2e_test mlspace-controller mlspace-launch)
