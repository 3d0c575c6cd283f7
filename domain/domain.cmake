# remus_domain: the guest driver registry and the drivers (domain.h).
# Driver fragments (proc.cmake, ...) add their sources to this target.
add_library(remus_domain STATIC domain.c)
target_include_directories(remus_domain PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remus_domain PUBLIC remus_common)
if(REMUS_WITH_XEN AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/domain-xen.c)
  target_sources(remus_domain PRIVATE domain-xen.c)
  target_link_libraries(remus_domain PRIVATE PkgConfig::XEN)
  target_compile_definitions(remus_domain PRIVATE REMUS_WITH_XEN)
endif()
