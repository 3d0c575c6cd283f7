# `cmake --build <dir> --target bench-devtool` measures an external device
# tool's cost per epoch, fork + exec against the coprocess mode (a
# benchmark, never a ctest test; root).
add_custom_target(bench-devtool
  COMMAND ${CMAKE_COMMAND} -E env REMUS_BUILD=${CMAKE_BINARY_DIR}
    bash ${CMAKE_CURRENT_SOURCE_DIR}/devtool.sh
  DEPENDS remus remus-dirtier
  USES_TERMINAL)
