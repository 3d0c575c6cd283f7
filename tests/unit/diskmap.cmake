# Which image is which disk of which guest (common/diskmap.c): the
# --disk forms, the per-guest choice and the match by name.
remus_unit_test(test-diskmap SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-diskmap.c
  LIBS remus_common)
