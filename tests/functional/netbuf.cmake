# netbuf end to end: remus-kvd in its own namespace behind remus
# --netbuf-if (nfqueue driver), a client and the backup in two more.
remus_shell_test(netbuf-e2e ${CMAKE_CURRENT_LIST_DIR}/netbuf-e2e.sh TIMEOUT 180)
# The same with output-triggered epochs (remus --trigger output).
remus_shell_test(netbuf-e2e-output ${CMAKE_CURRENT_LIST_DIR}/netbuf-e2e.sh TIMEOUT 180)
set_property(TEST netbuf-e2e-output APPEND PROPERTY ENVIRONMENT TRIGGER=output)
# 50 kill -9 failovers, ~2 s each.
remus_shell_test(netbuf-kill9 ${CMAKE_CURRENT_LIST_DIR}/netbuf-kill9.sh TIMEOUT 400)
# Under ASan the guest and remus run slower but nothing here measures;
# the kill -9 loop is long, keep it out of the sanitizer stage.
set_tests_properties(netbuf-kill9 PROPERTIES LABELS "functional;nosan")
# No acknowledged write lost with --trigger output either: 25 failovers
# (~1 min) with most epochs cut by the client's replies.
remus_shell_test(netbuf-kill9-output ${CMAKE_CURRENT_LIST_DIR}/netbuf-kill9.sh TIMEOUT 300)
set_tests_properties(netbuf-kill9-output PROPERTIES LABELS "functional;nosan")
set_property(TEST netbuf-kill9-output APPEND PROPERTY ENVIRONMENT TRIGGER=output ITER=25)
# P5: kill -9 of the guest only; its output stays blocked after remus
# exits 6, the backup activates with every acknowledged write.
remus_shell_test(netbuf-guestcrash ${CMAKE_CURRENT_LIST_DIR}/netbuf-guestcrash.sh TIMEOUT 180)
