# The Xen twin's policy check on sample libxl JSON (no Xen needed).
if(TARGET remus_xenpolicy)
  remus_unit_test(test-xen-policy
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-xen-policy.c
    LIBS remus_xenpolicy)
  target_compile_definitions(test-xen-policy PRIVATE
    REMUS_SRC_DIR="${CMAKE_SOURCE_DIR}")
endif()
