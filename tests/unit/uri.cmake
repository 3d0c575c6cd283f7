# The backup's URI forms and every refusal (checkpoint/uri.c, pure).
remus_unit_test(test-uri SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-uri.c
  ${CMAKE_SOURCE_DIR}/checkpoint/uri.c LIBS remus_common)
target_include_directories(test-uri PRIVATE ${CMAKE_SOURCE_DIR}/checkpoint)
