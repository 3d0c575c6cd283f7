# The link's token bucket (--bandwidth, checkpoint/ratelimit.c).
remus_unit_test(test-ratelimit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-ratelimit.c
  ${CMAKE_SOURCE_DIR}/checkpoint/ratelimit.c LIBS remus_common)
target_include_directories(test-ratelimit PRIVATE ${CMAKE_SOURCE_DIR}/checkpoint)
