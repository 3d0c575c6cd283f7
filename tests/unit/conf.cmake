# remus.conf(5): parsing, line-numbered rejection, and the flags it becomes
# (common/conf.c).
remus_unit_test(test-conf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-conf.c
  LIBS remus_common)
