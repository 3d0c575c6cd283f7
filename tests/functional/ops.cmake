# Operations: the systemd units and the Pacemaker resource agent
# (contrib/systemd, contrib/ocf; docs/operations.md).
remus_shell_test(systemd-units ${CMAKE_CURRENT_LIST_DIR}/systemd-units.sh TIMEOUT 120)
remus_shell_test(ocf-tester ${CMAKE_CURRENT_LIST_DIR}/ocf-tester.sh TIMEOUT 300)
remus_shell_test(systemd-run ${CMAKE_CURRENT_LIST_DIR}/systemd-run.sh TIMEOUT 180)
# The two-node Pacemaker cluster with fencing: its own CI stage
# (scripts/check STAGES=cluster; the test stage leaves it out), ~1-2 min.
remus_shell_test(ocf-cluster ${CMAKE_CURRENT_LIST_DIR}/ocf-cluster.sh LABELS functional cluster TIMEOUT 300)
