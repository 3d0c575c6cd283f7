# The failover policy wired into remus and remusd (docs/failover.md):
# stand down on ENOSPC, reconnect, fencing outcomes, signals.
remus_shell_test(failover-policy ${CMAKE_CURRENT_LIST_DIR}/failover-policy.sh TIMEOUT 240)
