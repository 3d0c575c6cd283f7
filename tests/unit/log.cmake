# The logging module's rate limit (common/log.c log_rate).
remus_unit_test(test-log SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-log.c
  LIBS remus_common)
