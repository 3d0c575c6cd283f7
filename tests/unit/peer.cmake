# The replication link over socketpairs and loopback TCP.
remus_unit_test(test-peer SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-peer.c
  LIBS remus_ckpt remus_stream remus_common PkgConfig::LIBEV)
