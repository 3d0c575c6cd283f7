# The control sockets and remusctl (docs/control.md) against real remus and
# remusd processes with proc guests.
remus_shell_test(ctl-verbs ${CMAKE_CURRENT_LIST_DIR}/ctl-verbs.sh TIMEOUT 360)
# Switchover under client load (namespaces, nfqueue): not under ASan, as
# the fault tests.
remus_shell_test(ctl-switchover ${CMAKE_CURRENT_LIST_DIR}/ctl-switchover.sh TIMEOUT 360)
set_tests_properties(ctl-switchover PROPERTIES LABELS "functional;nosan")
remus_shell_test(ctl-prepare ${CMAKE_CURRENT_LIST_DIR}/ctl-prepare.sh TIMEOUT 360)
