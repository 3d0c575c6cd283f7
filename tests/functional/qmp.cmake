# The QMP client (domain/qmp.c, remus-qmp) against a real
# qemu-system-x86_64: a device state saved by one QEMU and loaded by
# another.  Skips (77) without QEMU.
remus_shell_test(qmp-devstate ${CMAKE_CURRENT_LIST_DIR}/qmp-devstate.sh TIMEOUT 180)
