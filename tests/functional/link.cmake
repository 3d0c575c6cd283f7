# The link's management surface (issue 13): the backup's URI forms.
remus_shell_test(uri-forms ${CMAKE_CURRENT_LIST_DIR}/uri-forms.sh TIMEOUT 180)
# External device tools (seed 000): refusal at step 0, failure at step 2,
# success in exec and coprocess mode with a failover.
remus_shell_test(device-tool ${CMAKE_CURRENT_LIST_DIR}/device-tool.sh TIMEOUT 180)
# --bandwidth: the cap measured on loopback within 10% during a full
# checkpoint, and the stretched period reported.  Timing: not under ASan.
remus_shell_test(bandwidth ${CMAKE_CURRENT_LIST_DIR}/bandwidth.sh TIMEOUT 180)
set_tests_properties(bandwidth PROPERTIES LABELS "functional;nosan")
# --dname: the activated guest's name (backup decides, primary may ask
# through -s/ssh://).
remus_shell_test(dname ${CMAKE_CURRENT_LIST_DIR}/dname.sh TIMEOUT 120)
# --capabilities against what the binaries accept.
remus_shell_test(capabilities ${CMAKE_CURRENT_LIST_DIR}/capabilities.sh TIMEOUT 120)
