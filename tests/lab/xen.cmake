# The Xen-in-QEMU lab (tests/lab/xen/run): real Xen 4.17 and a PVH domU
# under QEMU TCG.  About a minute and a half when the package cache is
# warm; the limit leaves room for a cold cache and a loaded machine.
remus_shell_test(lab-xen ${CMAKE_CURRENT_SOURCE_DIR}/lab/xen/run
  LABELS lab nosan TIMEOUT 900)
