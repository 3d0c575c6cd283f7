# remus.conf(5) as the programs read it (bad files refused by line, keys
# reaching the options, flags overriding the file).
remus_shell_test(conf-file ${CMAKE_CURRENT_LIST_DIR}/conf-file.sh TIMEOUT 120)
