# The stream format library: reader, writer, CRC32C.  No dependencies at
# all (STYLE L2): the backup, the fuzzer, the tools and the tests link it.
add_library(remus_stream STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/stream-read.c
  ${CMAKE_CURRENT_SOURCE_DIR}/stream-write.c
  ${CMAKE_CURRENT_SOURCE_DIR}/crc32c.c)
target_include_directories(remus_stream PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
