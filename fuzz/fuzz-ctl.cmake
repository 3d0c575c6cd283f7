# The control socket's request parser (remusd/ctl.c, STYLE F4): the corpus
# in fuzz/corpus/ctl is replayed in every test run; -DREMUS_FUZZ=ON with
# clang builds the libFuzzer binary fuzz-ctl.
if(NOT TARGET PkgConfig::JSONC)
  pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
endif()
set(_ctl ${CMAKE_SOURCE_DIR}/remusd/ctl.c)
add_executable(fuzz-ctl-replay ${CMAKE_CURRENT_SOURCE_DIR}/fuzz-ctl.c ${_ctl}
  ${CMAKE_CURRENT_SOURCE_DIR}/standalone-main.c)
target_include_directories(fuzz-ctl-replay PRIVATE ${CMAKE_SOURCE_DIR}/remusd)
target_link_libraries(fuzz-ctl-replay PRIVATE remus_common PkgConfig::JSONC
  PkgConfig::LIBEV)
add_test(NAME fuzz-ctl-corpus
  COMMAND fuzz-ctl-replay ${CMAKE_CURRENT_SOURCE_DIR}/corpus/ctl)
set_tests_properties(fuzz-ctl-corpus PROPERTIES LABELS fuzz TIMEOUT 60)
if(REMUS_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz-ctl ${CMAKE_CURRENT_SOURCE_DIR}/fuzz-ctl.c ${_ctl})
  target_include_directories(fuzz-ctl PRIVATE ${CMAKE_SOURCE_DIR}/remusd)
  target_link_libraries(fuzz-ctl PRIVATE remus_common PkgConfig::JSONC
    PkgConfig::LIBEV)
  target_compile_options(fuzz-ctl PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz-ctl PRIVATE -fsanitize=fuzzer,address,undefined)
endif()
