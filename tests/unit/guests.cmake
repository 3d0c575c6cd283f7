# remusd's table of guests (remusd/guests.c): names, parsing, refusals.
remus_unit_test(test-guests
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-guests.c
    ${CMAKE_SOURCE_DIR}/remusd/guests.c
  LIBS remus_common)
target_include_directories(test-guests PRIVATE ${CMAKE_SOURCE_DIR}/remusd)
