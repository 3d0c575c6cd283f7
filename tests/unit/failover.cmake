# The failover policies against a fake clock and recording fake ops.
remus_unit_test(test-failover SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-failover.c
  LIBS remus_failover remus_common)
