# Page codec: ZERO/RAW/LZ4/XOR_LZ4/XOR_RLE page encodings and the
# primary's bounded cache for XOR deltas.
add_library(remus_codec STATIC codec.c)
target_include_directories(remus_codec PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remus_codec PUBLIC PkgConfig::LZ4 remus_common)
