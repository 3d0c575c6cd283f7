# The link's management surface (issue 13): the backup's URI forms.
remus_shell_test(uri-forms ${CMAKE_CURRENT_LIST_DIR}/uri-forms.sh TIMEOUT 180)
# External device tools (seed 000): refusal at step 0, failure at step 2,
# success in exec and coprocess mode with a failover.
remus_shell_test(device-tool ${CMAKE_CURRENT_LIST_DIR}/device-tool.sh TIMEOUT 180)
# --bandwidth: the cap measured on loopback within 10% during a full
# checkpoint, and the stretched period reported.  Timing: not under ASan.
remus_shell_test(bandwidth ${CMAKE_CURRENT_LIST_DIR}/bandwidth.sh TIMEOUT 180)
set_tests_properties(bandwidth PROPERTIES LABELS "functional;nosan")
