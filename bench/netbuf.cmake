# `cmake --build <dir> --target bench-netbuf` runs bench/netbuf.sh against
# this build as root (a benchmark, never a ctest test): added client
# latency and packets per second per netbuf driver and interval.
add_custom_target(bench-netbuf
  COMMAND ${CMAKE_COMMAND} -E env REMUS_BUILD=${CMAKE_BINARY_DIR}
    ${CMAKE_CURRENT_SOURCE_DIR}/netbuf.sh
  USES_TERMINAL)
