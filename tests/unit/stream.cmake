# Stream format unit tests: links only the stream library (STYLE L1/L2).
remus_unit_test(test-stream SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-stream.c
  LIBS remus_stream TIMEOUT 300)

# The incremental resync: PAGE_HASHES and RESYNC epochs, the page hash,
# the proc store's resume (checkpoint/resync.h, docs/stream-format.md 7.1).
remus_unit_test(test-resync SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-resync.c
  ${CMAKE_SOURCE_DIR}/checkpoint/resync.c
  LIBS remus_stream remus_domain remus_common PkgConfig::XXHASH TIMEOUT 120)
