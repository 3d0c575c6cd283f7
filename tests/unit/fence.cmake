# The fence runner (failover/fence.c) with real /bin/sh commands.
remus_unit_test(test-fence SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-fence.c
  LIBS remus_failover remus_common PkgConfig::LIBEV
  TIMEOUT 120)
