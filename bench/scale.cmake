# `cmake --build <dir> --target bench-scale` runs bench/scale.sh as root:
# N = 1, 2, 4, 8 proc guests into one remusd.  A benchmark, never a test.
add_custom_target(bench-scale
  COMMAND ${CMAKE_COMMAND} -E env REMUS_BUILD=${CMAKE_BINARY_DIR}
    ${CMAKE_CURRENT_SOURCE_DIR}/scale.sh
  USES_TERMINAL)
