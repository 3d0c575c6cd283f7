# diskbuf end-to-end tests with real NBD clients (qemu-io, qemu-img,
# nbdcopy/nbdinfo) against diskbuf-pair, and the initial sync tool.
foreach(_t diskbuf-epochs diskbuf-sync diskbuf-clients diskbuf-faults
    diskbuf-remus diskbuf-commit-order diskbuf-diskd diskbuf-multi
    diskbuf-guests)
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${_t}.sh)
    remus_shell_test(${_t} ${CMAKE_CURRENT_LIST_DIR}/${_t}.sh
      LABELS functional TIMEOUT 300)
  endif()
endforeach()
