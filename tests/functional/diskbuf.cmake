# diskbuf end-to-end tests with real NBD clients (qemu-io, qemu-img,
# nbdcopy/nbdinfo) against diskbuf-pair, and the initial sync tool.
foreach(_t diskbuf-epochs diskbuf-sync diskbuf-clients diskbuf-faults
    diskbuf-remus diskbuf-commit-order diskbuf-diskd diskbuf-multi
    diskbuf-guests diskbuf-maxdisk)
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${_t}.sh)
    remus_shell_test(${_t} ${CMAKE_CURRENT_LIST_DIR}/${_t}.sh
      LABELS functional TIMEOUT 300)
  endif()
endforeach()
# Re-protection with replicated disks (issue 11): remusd killed and
# restarted, remus reconnecting and resyncing both disks by the live sync
# (sent by remus, or by each disk's remus-diskd);
# failover, failback with the disks synced back, failover (~30 s each).
foreach(_s reprotect reprotect-diskd failback)
  remus_shell_test(diskbuf-${_s} "${CMAKE_CURRENT_LIST_DIR}/diskbuf-multi.sh;${_s}"
    LABELS functional TIMEOUT 300)
endforeach()
