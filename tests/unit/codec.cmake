remus_unit_test(test-codec SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-codec.c
  LIBS remus_codec remus_common)
