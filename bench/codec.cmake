# bench-codec: page codec encode/decode GB/s and wire ratio next to memcpy
# and plain LZ4 (a benchmark: run it by hand, `bench-codec --help`).
add_executable(bench-codec codec.c)
target_link_libraries(bench-codec PRIVATE remus_codec remus_common PkgConfig::LZ4)

# Keeps the benchmark from rotting: a tiny run that also checks every
# decode matches (it exits non-zero if one differs).  Not a measurement.
add_test(NAME bench-codec-smoke COMMAND bench-codec --size 1M --reps 1)
set_tests_properties(bench-codec-smoke PROPERTIES TIMEOUT 120
  LABELS "bench-smoke")
