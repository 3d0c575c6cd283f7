# `cmake --build <dir> --target bench-xen` runs bench/xen against this build
# (a benchmark, never a ctest test).
add_custom_target(bench-xen
  COMMAND ${CMAKE_COMMAND} -E env REMUS_BUILD=${CMAKE_BINARY_DIR}
    ${CMAKE_CURRENT_SOURCE_DIR}/xen
  USES_TERMINAL)
