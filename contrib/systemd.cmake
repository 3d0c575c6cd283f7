# The systemd units (docs/operations.md, "systemd").
#
# The units name the installed remus and remusd by absolute path, and the
# prefix is only known at install time (cmake --install --prefix P), so
# they are filled in then, not at configure time.
set(REMUS_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
  "systemd unit directory, relative to the install prefix or absolute (e.g. the output of pkg-config --variable=systemdsystemunitdir systemd)")

install(CODE "
  set(_sbin \"${CMAKE_INSTALL_SBINDIR}\")
  if(NOT IS_ABSOLUTE \"\${_sbin}\")
    set(_sbin \"\${CMAKE_INSTALL_PREFIX}/\${_sbin}\")
  endif()
  set(_unitdir \"${REMUS_SYSTEMD_UNITDIR}\")
  if(NOT IS_ABSOLUTE \"\${_unitdir}\")
    set(_unitdir \"\${CMAKE_INSTALL_PREFIX}/\${_unitdir}\")
  endif()
  set(SBINDIR \"\${_sbin}\")
  foreach(_u remusd.service remus@.service)
    message(STATUS \"Installing: \$ENV{DESTDIR}\${_unitdir}/\${_u}\")
    configure_file(\"${CMAKE_CURRENT_LIST_DIR}/systemd/\${_u}.in\"
      \"\$ENV{DESTDIR}\${_unitdir}/\${_u}\" @ONLY)
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\$ENV{DESTDIR}\${_unitdir}/\${_u}\")
  endforeach()
")
