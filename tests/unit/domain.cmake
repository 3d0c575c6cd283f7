# Unit tests of domain/: the proc driver against real guests (needs root).
remus_unit_test(test-domain-proc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-domain-proc.c
  LIBS remus_domain remus_proc_guest remus_common TIMEOUT 300)
# The replica test starts remus-dirtier from <build>/bin.
add_dependencies(test-domain-proc remus-dirtier)

# The proc replica's crash consistency (domain/proc-store.c): commits
# killed at every step and at random, then recovered.  No root needed.
remus_unit_test(test-proc-store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-proc-store.c
  LIBS remus_domain remus_common PkgConfig::XXHASH TIMEOUT 300)
