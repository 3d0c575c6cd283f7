# The failover policy wired into remus and remusd (docs/failover.md):
# stand down on ENOSPC, reconnect, fencing outcomes, signals.
remus_shell_test(failover-policy ${CMAKE_CURRENT_LIST_DIR}/failover-policy.sh TIMEOUT 240)
# Output held again after a reconnect (netbuf reprotect), then a failover
# to the new backup: nfqueue namespaces as in netbuf-kill9.
remus_shell_test(failover-reprotect ${CMAKE_CURRENT_LIST_DIR}/failover-reprotect.sh TIMEOUT 300)
