# The programs: remus (primary) and remusd (backup).  Device adapters
# remusd/dev-*.c are compiled into both (devices.h); their fragments
# (dev-*.cmake, included before this one) add libraries to REMUS_DEV_LIBS.
file(GLOB _remus_dev_sources CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/dev-*.c)

foreach(_prog remus remusd)
  add_executable(${_prog} ${CMAKE_CURRENT_SOURCE_DIR}/${_prog}.c
    ${CMAKE_CURRENT_SOURCE_DIR}/devices-weak.c ${_remus_dev_sources})
  target_include_directories(${_prog} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(${_prog} PRIVATE
    REMUS_VERSION="${PROJECT_VERSION}")
  target_link_libraries(${_prog} PRIVATE remus_ckpt remus_domain
    ${REMUS_DEV_LIBS} remus_common PkgConfig::LIBEV)
endforeach()
target_sources(remus PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/stats.c
  ${CMAKE_CURRENT_SOURCE_DIR}/hist.c ${CMAKE_CURRENT_SOURCE_DIR}/metrics.c
  ${CMAKE_CURRENT_SOURCE_DIR}/progress.c)
# remusd --metrics: the same server, per-guest figures.
target_sources(remusd PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/metrics.c
  ${CMAKE_CURRENT_SOURCE_DIR}/stats.c ${CMAKE_CURRENT_SOURCE_DIR}/hist.c
  ${CMAKE_CURRENT_SOURCE_DIR}/backup-metrics.c)
# remusd's own table of guests and what it runs for each.
target_sources(remusd PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/guests.c)
install(TARGETS remus remusd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})

# remus-diskd: a guest's disk served from before the guest exists (Xen),
# protected by whichever remus attaches to it.
add_executable(remus-diskd ${CMAKE_CURRENT_SOURCE_DIR}/remus-diskd.c)
target_link_libraries(remus-diskd PRIVATE remus_diskbuf remus_common)
install(TARGETS remus-diskd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
