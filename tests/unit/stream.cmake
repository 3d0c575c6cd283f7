# Stream format unit tests: links only the stream library (STYLE L1/L2).
remus_unit_test(test-stream SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-stream.c
  LIBS remus_stream TIMEOUT 300)
