# netbuf unit tests: real kernel, network namespaces (root; skipped
# otherwise).  The plug cases skip where the kernel lacks sch_plug.
remus_unit_test(test-netbuf
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-netbuf.c
  LIBS remus_netbuf remus_common
  TIMEOUT 300)
