# Hand-written mdoc(7) pages (STYLE D5), one per installed program: a
# page's suffix is its section (1 for bin/, 8 for sbin/, 5 for files).
foreach(_sec 1 5 8)
  file(GLOB _manpages CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.${_sec})
  if(_manpages)
    install(FILES ${_manpages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_sec})
  endif()
endforeach()
