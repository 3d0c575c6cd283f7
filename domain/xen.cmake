# The xen driver's backup side has libxl build the twin domain: link
# libxenlight too (domain.cmake adds domain-xen.c with the other libxen*).
if(REMUS_WITH_XEN AND TARGET remus_domain AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/domain-xen.c)
  pkg_check_modules(XENLIGHT REQUIRED IMPORTED_TARGET xenlight)
  target_link_libraries(remus_domain PRIVATE PkgConfig::XENLIGHT)
endif()
# An HVM guest's device model is driven over QMP (qmp.cmake).
if(REMUS_WITH_XEN AND TARGET remus_domain AND TARGET remus_qmp AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/domain-xen.c)
  target_link_libraries(remus_domain PRIVATE remus_qmp)
endif()
