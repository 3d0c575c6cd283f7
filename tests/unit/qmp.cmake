# The QMP client (domain/qmp.c) against a scripted fake QEMU on a unix
# socket: greeting, events, errors, timeouts, limits.  No QEMU needed.
if(TARGET remus_qmp)
  remus_unit_test(test-qmp SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-qmp.c
    LIBS remus_qmp remus_common PkgConfig::JSONC TIMEOUT 60)
endif()
