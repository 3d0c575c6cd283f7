# TLS sessions over socketpairs, credentials made at run time by
# tests/tls-creds.sh (certtool, psktool); 77 = skipped, tools missing.
remus_unit_test(test-tls SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-tls.c
  LIBS remus_tls TIMEOUT 300)
set_tests_properties(test-tls PROPERTIES SKIP_RETURN_CODE 77)
target_compile_definitions(test-tls PRIVATE REMUS_SRC_DIR="${CMAKE_SOURCE_DIR}")
