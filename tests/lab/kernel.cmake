# The kernel lab: Debian's linux-image-amd64 under QEMU TCG running
# tests/lab/kernel/t-*.sh (sch_plug netbuf checks and others).  Downloads
# packages into tests/lab/cache on first use.
remus_shell_test(lab-kernel ${CMAKE_CURRENT_SOURCE_DIR}/lab/kernel/run.sh
  LABELS lab nosan TIMEOUT 1500)
