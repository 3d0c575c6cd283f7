# Fuzzing the stream reader (STYLE F1-F3).
#
# fuzz-stream-replay (any compiler) replays fuzz/corpus/stream/* through the
# fuzz target in every test run, and writes the seed corpus with
# --make-seeds.  With -DREMUS_FUZZ=ON and clang, fuzz-stream is the
# libFuzzer binary; its stream and codec sources are compiled into it with
# coverage instrumentation.  See fuzz/README.md.
set(_fz ${CMAKE_CURRENT_SOURCE_DIR})

add_executable(fuzz-stream-replay ${_fz}/fuzz-stream.c
  ${_fz}/standalone-main.c ${_fz}/make-seeds.c)
target_link_libraries(fuzz-stream-replay PRIVATE remus_stream PkgConfig::LZ4)
if(TARGET remus_codec)
  target_link_libraries(fuzz-stream-replay PRIVATE remus_codec)
  target_compile_definitions(fuzz-stream-replay PRIVATE REMUS_HAVE_CODEC)
endif()
add_test(NAME fuzz-stream-corpus
  COMMAND fuzz-stream-replay ${_fz}/corpus/stream)
set_tests_properties(fuzz-stream-corpus PROPERTIES LABELS fuzz TIMEOUT 300)

if(REMUS_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  set(_cp ${CMAKE_SOURCE_DIR}/checkpoint)
  set(_fsrc ${_fz}/fuzz-stream.c ${_cp}/stream-read.c ${_cp}/stream-write.c
    ${_cp}/crc32c.c)
  add_executable(fuzz-stream ${_fsrc})
  target_include_directories(fuzz-stream PRIVATE ${_cp})
  target_link_libraries(fuzz-stream PRIVATE PkgConfig::LZ4)
  if(TARGET remus_codec)
    target_sources(fuzz-stream PRIVATE ${_cp}/codec.c)
    target_link_libraries(fuzz-stream PRIVATE remus_common)
    target_compile_definitions(fuzz-stream PRIVATE REMUS_HAVE_CODEC)
  endif()
  # CRCs are not checked in this build only (see stream-read.c).
  target_compile_definitions(fuzz-stream PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  target_compile_options(fuzz-stream PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz-stream PRIVATE -fsanitize=fuzzer,address,undefined)
endif()
