# The epoch engine and the backup receiver against scripted fakes.
remus_unit_test(test-ckpt SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-ckpt.c
  LIBS remus_ckpt remus_stream remus_codec remus_failover remus_common
  PkgConfig::LIBEV)
