# The backup's replica across kill -9 of remusd (docs/failover.md,
# "Crash-consistent replica"): 20 kills mid-commit (~2 s each) and a
# restart sampled until the new session commits.
remus_shell_test(replica-kill9 ${CMAKE_CURRENT_LIST_DIR}/replica-kill9.sh TIMEOUT 600)
