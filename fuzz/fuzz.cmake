# Fuzz targets (STYLE F1-F3): fuzz-stream (the pure stream reader) and
# fuzz-session (the backup's handshake and session over a fake link).
#
# fuzz-<target>-replay (any compiler) replays fuzz/corpus/<target>/* through
# the target in every test run, and writes the seed corpus with
# --make-seeds / --make-session-seeds.  With -DREMUS_FUZZ=ON and clang,
# fuzz-<target> is the libFuzzer binary; the sources it exercises are
# compiled into it with coverage instrumentation.  See fuzz/README.md.
set(_fz ${CMAKE_CURRENT_SOURCE_DIR})
set(_cp ${CMAKE_SOURCE_DIR}/checkpoint)

add_executable(fuzz-stream-replay ${_fz}/fuzz-stream.c
  ${_fz}/standalone-main.c ${_fz}/make-seeds.c)
target_include_directories(fuzz-stream-replay PRIVATE ${CMAKE_SOURCE_DIR}/domain)
target_link_libraries(fuzz-stream-replay PRIVATE remus_stream PkgConfig::LZ4)
if(TARGET remus_codec)
  target_link_libraries(fuzz-stream-replay PRIVATE remus_codec)
  target_compile_definitions(fuzz-stream-replay PRIVATE REMUS_HAVE_CODEC)
endif()
add_test(NAME fuzz-stream-corpus
  COMMAND fuzz-stream-replay ${_fz}/corpus/stream)
set_tests_properties(fuzz-stream-corpus PROPERTIES LABELS fuzz TIMEOUT 300)

# Anything the session harness's binary runs is a finding (fuzz-session.c).
set(_nowrap fork vfork execve execv execvp execl)
list(TRANSFORM _nowrap PREPEND "-Wl,--wrap=")


add_executable(fuzz-session-replay ${_fz}/fuzz-session.c ${_fz}/fuzz-norun.c
  ${_fz}/standalone-main.c ${_fz}/make-seeds.c)
target_include_directories(fuzz-session-replay PRIVATE ${CMAKE_SOURCE_DIR}/domain)
target_link_libraries(fuzz-session-replay PRIVATE remus_ckpt remus_domain
  remus_diskbuf PkgConfig::LZ4 PkgConfig::LIBEV)
target_link_options(fuzz-session-replay PRIVATE ${_nowrap})
add_test(NAME fuzz-session-corpus
  COMMAND fuzz-session-replay ${_fz}/corpus/session)
set_tests_properties(fuzz-session-corpus PROPERTIES LABELS fuzz TIMEOUT 300)

# The primary against a fake backup; its clock is frozen (fuzz-primary.c).
add_executable(fuzz-primary-replay ${_fz}/fuzz-primary.c ${_fz}/fuzz-norun.c
  ${_fz}/standalone-main.c ${_fz}/make-seeds.c)
target_include_directories(fuzz-primary-replay PRIVATE ${CMAKE_SOURCE_DIR}/domain)
target_link_libraries(fuzz-primary-replay PRIVATE remus_ckpt PkgConfig::LZ4
  PkgConfig::LIBEV)
target_link_options(fuzz-primary-replay PRIVATE ${_nowrap} -Wl,--wrap=now_us -Wl,--wrap=usleep)
# The replay binaries read the corpus as the libFuzzer binaries do: with
# the reader's CRC comparisons off (inputs the fuzzer mutated carry stale
# CRCs and would otherwise stop at the first one, so the corpus would
# test little past it).  Their own copy of stream-read.c stands in for
# remus_stream's; the CRC checks themselves are tested by the unit tests
# and stream-golden/stream-verify.
foreach(_r fuzz-stream-replay fuzz-session-replay fuzz-primary-replay)
  target_sources(${_r} PRIVATE ${_cp}/stream-read.c)
  target_compile_definitions(${_r} PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
endforeach()
add_test(NAME fuzz-primary-corpus
  COMMAND fuzz-primary-replay ${_fz}/corpus/primary)
set_tests_properties(fuzz-primary-corpus PROPERTIES LABELS fuzz TIMEOUT 300)

if(REMUS_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  # UBSan recovers by default: a report would be printed and the run go
  # on as if nothing happened.  Make it a crash libFuzzer saves.
  set(_fflags -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined)
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
  target_compile_options(fuzz-stream PRIVATE ${_fflags})
  target_link_options(fuzz-stream PRIVATE ${_fflags})

  # The session: every source it runs is compiled in, instrumented (the
  # libraries of this build are not).
  set(_dm ${CMAKE_SOURCE_DIR}/domain)
  set(_fo ${CMAKE_SOURCE_DIR}/failover)
  set(_cm ${CMAKE_SOURCE_DIR}/common)
  set(_db ${CMAKE_SOURCE_DIR}/diskbuf)
  add_executable(fuzz-session ${_fz}/fuzz-session.c ${_fz}/fuzz-norun.c
    ${_cp}/backup.c ${_cp}/peer.c ${_cp}/ratelimit.c ${_cp}/resync.c ${_cp}/stream-read.c ${_cp}/stream-write.c
    ${_cp}/crc32c.c ${_cp}/codec.c
    ${_fo}/fo-backup.c ${_fo}/fo-primary.c ${_fo}/fence.c
    ${_dm}/domain.c ${_dm}/domain-proc.c ${_dm}/proc-dirty.c ${_dm}/proc-store.c
    ${_db}/diskbuf-backup.c ${_db}/wlog.c
    ${_cm}/log.c ${_cm}/util.c ${_cm}/fault.c)
  target_include_directories(fuzz-session PRIVATE ${_cp} ${_dm} ${_fo} ${_cm} ${_db})
  find_package(Threads REQUIRED)
  target_link_libraries(fuzz-session PRIVATE remus_diskbuf PkgConfig::LZ4
    PkgConfig::XXHASH PkgConfig::LIBEV Threads::Threads)
  target_compile_definitions(fuzz-session PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  target_compile_options(fuzz-session PRIVATE ${_fflags})
  target_link_options(fuzz-session PRIVATE ${_fflags} ${_nowrap})

  add_executable(fuzz-primary ${_fz}/fuzz-primary.c ${_fz}/fuzz-norun.c
    ${_cp}/ckpt.c ${_cp}/peer.c ${_cp}/ratelimit.c ${_cp}/resync.c ${_cp}/stream-read.c ${_cp}/stream-write.c
    ${_cp}/crc32c.c ${_cp}/codec.c ${_cp}/transport-common.c
    ${_fo}/fo-primary.c ${_fo}/fence.c
    ${_cm}/log.c ${_cm}/util.c ${_cm}/fault.c)
  target_include_directories(fuzz-primary PRIVATE ${_cp} ${_dm} ${_fo} ${_cm})
  target_link_libraries(fuzz-primary PRIVATE PkgConfig::LZ4 PkgConfig::XXHASH
    PkgConfig::LIBEV)
  target_compile_definitions(fuzz-primary PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  target_compile_options(fuzz-primary PRIVATE ${_fflags})
  target_link_options(fuzz-primary PRIVATE ${_fflags} ${_nowrap} -Wl,--wrap=now_us -Wl,--wrap=usleep)
endif()
