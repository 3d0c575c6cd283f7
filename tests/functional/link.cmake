# The link's management surface (issue 13): the backup's URI forms.
remus_shell_test(uri-forms ${CMAKE_CURRENT_LIST_DIR}/uri-forms.sh TIMEOUT 180)
# External device tools (seed 000): refusal at step 0, failure at step 2,
# success in exec and coprocess mode with a failover.
remus_shell_test(device-tool ${CMAKE_CURRENT_LIST_DIR}/device-tool.sh TIMEOUT 180)
