# The Xen-in-QEMU lab (tests/lab/xen/run): real Xen 4.17 and a PVH domU
# under QEMU TCG.  Ten to fifteen minutes a run (limit 1500 s); a run that
# lost its domU to TCG is repeated once (see run), hence the limit.
remus_shell_test(lab-xen ${CMAKE_CURRENT_SOURCE_DIR}/lab/xen/run
  LABELS lab nosan TIMEOUT 3600)

# The same lab with an unmodified HVM guest (qemu-xen device model, its
# state in every epoch, the standby QEMU at failover): replication,
# blackhole, kill and destroy failover, the standby QEMU lost before a
# failover, netbuf on the emulated NIC's tap, the emulated disk.  Six to
# eight minutes: the HVM guest boots in about a minute under TCG and still
# dies to the emulation more often than the PVH one (1.8 times a run
# since it keeps time by its TSC, four with the HPET; up to 6
# retries a check, each logged with its cause; docs/xen.md).
remus_shell_test(lab-xen-hvm ${CMAKE_CURRENT_SOURCE_DIR}/lab/xen/run
  ARGS hvm LABELS lab nosan TIMEOUT 3600)

# xen-drvtest drives the xen guest driver without the engine, inside the
# lab's dom0 (the run script copies it in from <build>/bin).
if(REMUS_WITH_XEN AND TARGET remus_domain
    AND EXISTS ${CMAKE_SOURCE_DIR}/domain/domain-xen.c)
  add_executable(xen-drvtest ${CMAKE_CURRENT_SOURCE_DIR}/lab/xen/xen-drvtest.c)
  target_link_libraries(xen-drvtest PRIVATE remus_domain remus_common)
endif()

# xen-pausemeter times a domain's stops from dom0, the same way for remus
# and xl remus (bench/xen's pause figures).
if(REMUS_WITH_XEN)
  add_executable(xen-pausemeter ${CMAKE_CURRENT_SOURCE_DIR}/lab/xen/pausemeter.c)
  target_link_libraries(xen-pausemeter PRIVATE PkgConfig::XEN)
endif()

# xen-suspendloop makes a checkpoint's hypercalls without remus (suspend,
# fast resume, optionally log-dirty), for `run suspend`'s guest-death
# counts, and reads a dead guest's registers.
if(REMUS_WITH_XEN)
  add_executable(xen-suspendloop ${CMAKE_CURRENT_SOURCE_DIR}/lab/xen/suspendloop.c)
  target_link_libraries(xen-suspendloop PRIVATE PkgConfig::XEN)
endif()
