# The link's management surface (issue 13): the backup's URI forms.
remus_shell_test(uri-forms ${CMAKE_CURRENT_LIST_DIR}/uri-forms.sh TIMEOUT 180)
