# Stream tools: golden dump and verify of writer-made captures.
remus_shell_test(stream-golden ${CMAKE_CURRENT_SOURCE_DIR}/functional/stream-golden.sh TIMEOUT 60)
remus_shell_test(stream-verify ${CMAKE_CURRENT_SOURCE_DIR}/functional/stream-verify.sh TIMEOUT 60)
remus_shell_test(stream-engine-capture ${CMAKE_CURRENT_SOURCE_DIR}/functional/stream-engine-capture.sh TIMEOUT 120)
