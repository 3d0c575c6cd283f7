# The Xen twin's policy check (xen-policy.h): a pure function on the libxl
# JSON a primary sends, with json-c, so that it is unit-tested on any host
# (tests/unit/xen-policy.cmake) and linked into the Xen driver where it is
# built.
pkg_check_modules(JSONC IMPORTED_TARGET json-c)
if(JSONC_FOUND)
  add_library(remus_xenpolicy STATIC ${CMAKE_CURRENT_SOURCE_DIR}/xen-policy.c)
  target_include_directories(remus_xenpolicy PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(remus_xenpolicy PUBLIC PkgConfig::JSONC remus_common)
  if(REMUS_WITH_XEN AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/domain-xen.c)
    target_link_libraries(remus_domain PUBLIC remus_xenpolicy)
  endif()
elseif(REMUS_WITH_XEN)
  message(FATAL_ERROR "json-c (libjson-c-dev) is needed for the Xen "
    "driver's check of the twin's configuration (domain/xen-policy.c)")
endif()
