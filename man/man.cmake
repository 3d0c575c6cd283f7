# Hand-written mdoc(7) pages (STYLE D5).
file(GLOB _manpages CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.8)
if(_manpages)
  install(FILES ${_manpages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endif()
