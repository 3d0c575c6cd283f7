# remus/remusd --capabilities (caps.h): in both programs; after main.cmake.
foreach(_prog remus remusd)
  target_sources(${_prog} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/caps.c)
  target_link_libraries(${_prog} PRIVATE remus_netbuf PkgConfig::GNUTLS)
endforeach()
