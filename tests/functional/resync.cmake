# Incremental resync (issue 11): remusd restarted on its state directory
# under client load, and remus reconnecting by itself after a backup crash;
# each checks the replica is never missing, that only the differing pages
# went, and then every acknowledged write after a failover; failback:
# failover, failback with one command, failover back (~30 s each).
foreach(_s restart reconnect failback)
  remus_shell_test(resync-${_s} "${CMAKE_CURRENT_LIST_DIR}/resync.sh;${_s}"
    TIMEOUT 150)
  set_tests_properties(resync-${_s} PROPERTIES LABELS "functional;nosan")
endforeach()
# The resynced replica byte for byte against the guest's own checksums,
# with pages written while the resync hashes (~15 s).
remus_shell_test(resync-exact ${CMAKE_CURRENT_LIST_DIR}/resync-exact.sh TIMEOUT 120)
# A 500 ms T and a 3 s window to read the replica: not under the sanitizers.
set_tests_properties(resync-exact PROPERTIES LABELS "functional;nosan")
