# bench-wp-fault: what one write-protect fault costs here (the proc guest's
# tracked page write) against an untracked write, side by side; run by
# hand (a benchmark, never a ctest test).  bench/tls.sh prints it first.
add_executable(bench-wp-fault wp-fault.c)
target_include_directories(bench-wp-fault PRIVATE ${PROJECT_SOURCE_DIR}/domain)
target_link_libraries(bench-wp-fault PRIVATE remus_common)
