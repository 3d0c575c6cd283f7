# The shipped fence agents (contrib/fence/) against a real remus and guest.
remus_shell_test(fence-agents ${CMAKE_CURRENT_LIST_DIR}/fence-agents.sh TIMEOUT 300)
