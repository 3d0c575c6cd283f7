# `cmake --build <dir> --target bench-diskbuf` runs fio against diskbuf's
# NBD export, protected vs unprotected (a benchmark, never a ctest test).
add_custom_target(bench-diskbuf
  COMMAND ${CMAKE_COMMAND} -E env REMUS_BUILD=${CMAKE_BINARY_DIR}
    bash ${CMAKE_CURRENT_SOURCE_DIR}/diskbuf.sh
  DEPENDS diskbuf-pair
  USES_TERMINAL)
