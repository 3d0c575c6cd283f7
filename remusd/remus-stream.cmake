# remus-stream: dump and verify stream captures (docs/stream-format.md).
# Pages are decoded through the codec when its library exists.
add_executable(remus-stream ${CMAKE_CURRENT_SOURCE_DIR}/remus-stream.c)
target_link_libraries(remus-stream PRIVATE remus_stream remus_common)
if(TARGET remus_codec)
  target_link_libraries(remus-stream PRIVATE remus_codec)
  target_compile_definitions(remus-stream PRIVATE REMUS_HAVE_CODEC)
endif()
install(TARGETS remus-stream)
