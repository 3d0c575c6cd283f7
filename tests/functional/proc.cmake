# The proc guest driver, its guest programs and remus-proc-snap, end to end
# (root: userfaultfd and /proc/PID/pagemap of another process).
foreach(_t proc-kvd proc-dirtier proc-errors proc-churn)
  remus_shell_test(${_t} ${CMAKE_CURRENT_LIST_DIR}/${_t}.sh TIMEOUT 180)
endforeach()
