# Failover fault tests (tests/functional/fault.sh SCENARIO, harness
# fault-lib.sh): one fault each against a kvd guest protected through
# nfqueue netbuf, checked against docs/failover.md.  T = 1000 ms and
# F = 3000 ms (see fault.sh) keep each at ~20-30 s.  The scenario goes to fault.sh as a
# second word of the command (remus_shell_test runs "bash SCRIPT").
foreach(_s partition-both partition-p2b partition-b2p
    heal-0.5x heal-1x heal-3x
    stop-remus-0.5x stop-remus-1x stop-remus-3x
    stop-remusd-0.5x stop-remusd-1x stop-remusd-3x
    fence-ok fence-fail fence-hang
    statedir-full statedir-full-activate statedir-ro
    guest-crash reconnect)
  remus_shell_test(fault-${_s} "${CMAKE_CURRENT_LIST_DIR}/fault.sh;${_s}"
    TIMEOUT 120)
  # Timing is what these check: not under the sanitizers.
  set_tests_properties(fault-${_s} PROPERTIES LABELS "functional;nosan")
endforeach()
