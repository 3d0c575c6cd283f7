# `cmake --build <dir> --target bench-tls` measures the epoch rate, wire
# throughput and CPU of remus -> remusd over loopback, plain vs TLS 1.3
# PSK vs X.509 (a benchmark, never a ctest test; root).
add_custom_target(bench-tls
  COMMAND ${CMAKE_COMMAND} -E env REMUS_BUILD=${CMAKE_BINARY_DIR}
    bash ${CMAKE_CURRENT_SOURCE_DIR}/tls.sh
  DEPENDS remus remusd remus-dirtier bench-wp-fault
  USES_TERMINAL)
