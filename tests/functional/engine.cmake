# End-to-end tests of the engine, remus and remusd with the proc driver.
foreach(_t engine-blackhole engine-replicate engine-corrupt engine-cli engine-man engine-heartbeat engine-demo engine-metrics engine-log engine-precopy)
  remus_shell_test(${_t} ${CMAKE_CURRENT_LIST_DIR}/${_t}.sh TIMEOUT 180)
endforeach()
# Its full checkpoint and disk sync read status and metrics while they
# run: ~45 s here idle, more than 180 under a load of 25.
remus_shell_test(engine-progress ${CMAKE_CURRENT_LIST_DIR}/engine-progress.sh TIMEOUT 300)
# 20 kill -9 failovers: ~2 s each.
remus_shell_test(engine-kill9 ${CMAKE_CURRENT_LIST_DIR}/engine-kill9.sh TIMEOUT 300)
# The same with remusd --proc-sync (commits that fdatasync, on the
# session's thread, the ACK after them), and with every commit in
# remusd's loop (--no-commit-thread): 8 failovers each.
remus_shell_test(engine-kill9-sync ${CMAKE_CURRENT_LIST_DIR}/engine-kill9.sh TIMEOUT 300)
set_property(TEST engine-kill9-sync APPEND PROPERTY ENVIRONMENT
  "REMUSD_ARGS=--proc-sync" ITER=8)
remus_shell_test(engine-kill9-loop ${CMAKE_CURRENT_LIST_DIR}/engine-kill9.sh TIMEOUT 300)
set_property(TEST engine-kill9-loop APPEND PROPERTY ENVIRONMENT
  "REMUSD_ARGS=--no-commit-thread" ITER=8)
# Timing-sensitive checks (interval kept) do not belong under ASan.
set_tests_properties(engine-blackhole PROPERTIES LABELS "functional;nosan")
# remusd --metrics, per guest (backup-metrics.c).
remus_shell_test(remusd-metrics ${CMAKE_CURRENT_LIST_DIR}/remusd-metrics.sh TIMEOUT 120)
# remus-stats plot / plot-bench (gnuplot).
remus_shell_test(stats-plot ${CMAKE_CURRENT_LIST_DIR}/stats-plot.sh TIMEOUT 120)
# xl's -e: remus -e and remusd -e (no guardian after activation).
remus_shell_test(no-guardian ${CMAKE_CURRENT_LIST_DIR}/no-guardian.sh TIMEOUT 180)
