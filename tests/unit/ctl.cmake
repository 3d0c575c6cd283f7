# The control socket (remusd/ctl.c): parser table and the server over a
# real unix socket in a libev loop.
if(NOT TARGET PkgConfig::JSONC)
  pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
endif()
remus_unit_test(test-ctl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-ctl.c
  ${CMAKE_SOURCE_DIR}/remusd/ctl.c
  LIBS remus_common PkgConfig::JSONC PkgConfig::LIBEV TIMEOUT 60)
target_include_directories(test-ctl PRIVATE ${CMAKE_SOURCE_DIR}/remusd)
