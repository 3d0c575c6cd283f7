# bench-replica-commit: the cost of a crash-consistent commit of the proc
# replica (domain/proc-store.c), with and without fdatasync, by dirty page
# count.  A benchmark: run it by hand, never a ctest test.
add_executable(bench-replica-commit replica-commit.c)
target_link_libraries(bench-replica-commit PRIVATE remus_domain remus_common)
