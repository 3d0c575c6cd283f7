# diskbuf unit tests: both halves driven directly (no engine), a raw-socket
# malformed-request suite against the NBD server, and the sync protocol.
remus_unit_test(test-diskbuf
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-diskbuf.c
  LIBS remus_diskbuf)
