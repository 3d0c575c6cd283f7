# The control socket (docs/control.md): remusd/ctl.c in remus and remusd,
# their verbs (ctl-primary.c, ctl-backup.c), and the remusctl client.
# After main.cmake (the targets exist).  JSON through json-c
# (libjson-c-dev), the library libxl and QMP clients use.
if(NOT TARGET PkgConfig::JSONC)
  pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
endif()
target_sources(remus PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ctl.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl-caps.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl-primary.c)
target_sources(remusd PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ctl.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl-caps.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl-backup.c)
target_link_libraries(remus PRIVATE PkgConfig::JSONC)
target_link_libraries(remusd PRIVATE PkgConfig::JSONC)

add_executable(remusctl ${CMAKE_CURRENT_SOURCE_DIR}/remusctl.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ctl.c)
target_include_directories(remusctl PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remusctl PRIVATE remus_common PkgConfig::JSONC
  PkgConfig::LIBEV)
install(TARGETS remusctl RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
