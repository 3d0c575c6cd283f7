# remus.conf(5) as the programs read it (bad files refused by line, keys
# reaching the options, flags overriding the file).
remus_shell_test(conf-file ${CMAKE_CURRENT_LIST_DIR}/conf-file.sh TIMEOUT 120)
# Every option of remus and remusd that sets something has a key (its
# getopt table against conf.c's), or a reason on the test's list.
remus_shell_test(conf-keys ${CMAKE_CURRENT_LIST_DIR}/conf-keys.sh TIMEOUT 60)
