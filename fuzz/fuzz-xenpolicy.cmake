# The Xen twin's policy check (domain/xen-policy.c): the corpus in
# fuzz/corpus/xenpolicy is replayed in every test run; -DREMUS_FUZZ=ON
# with clang builds the libFuzzer binary fuzz-xenpolicy.  Needs json-c,
# as the policy does (domain/xen-policy.cmake).
if(TARGET remus_xenpolicy)
  set(_xp ${CMAKE_SOURCE_DIR}/domain/xen-policy.c)
  add_executable(fuzz-xenpolicy-replay
    ${CMAKE_CURRENT_SOURCE_DIR}/fuzz-xenpolicy.c
    ${CMAKE_CURRENT_SOURCE_DIR}/standalone-main.c)
  target_link_libraries(fuzz-xenpolicy-replay PRIVATE remus_xenpolicy)
  add_test(NAME fuzz-xenpolicy-corpus
    COMMAND fuzz-xenpolicy-replay ${CMAKE_CURRENT_SOURCE_DIR}/corpus/xenpolicy)
  set_tests_properties(fuzz-xenpolicy-corpus PROPERTIES LABELS fuzz
    TIMEOUT 60)
  if(REMUS_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
    # The policy's own source, instrumented, not the library's copy.
    add_executable(fuzz-xenpolicy
      ${CMAKE_CURRENT_SOURCE_DIR}/fuzz-xenpolicy.c ${_xp})
    target_include_directories(fuzz-xenpolicy PRIVATE
      ${CMAKE_SOURCE_DIR}/domain)
    target_link_libraries(fuzz-xenpolicy PRIVATE remus_common
      PkgConfig::JSONC)
    target_compile_options(fuzz-xenpolicy PRIVATE
      -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz-xenpolicy PRIVATE
      -fsanitize=fuzzer,address,undefined)
  endif()
endif()
