# The control sockets and remusctl (docs/control.md) against real remus and
# remusd processes with proc guests.
remus_shell_test(ctl-verbs ${CMAKE_CURRENT_LIST_DIR}/ctl-verbs.sh TIMEOUT 180)
