# `cmake --build <dir> --target bench-service` runs bench/service.sh (full
# mode, ~8 min) against this build as root; bench-service-quick the CI
# size (2 s a case, ~3 min).  A benchmark, never a ctest test.
add_custom_target(bench-service
  COMMAND ${CMAKE_COMMAND} -E env REMUS_BUILD=${CMAKE_BINARY_DIR} MODE=full
    ${CMAKE_CURRENT_SOURCE_DIR}/service.sh
  USES_TERMINAL)
add_custom_target(bench-service-quick
  COMMAND ${CMAKE_COMMAND} -E env REMUS_BUILD=${CMAKE_BINARY_DIR} MODE=quick
    ${CMAKE_CURRENT_SOURCE_DIR}/service.sh
  USES_TERMINAL)
