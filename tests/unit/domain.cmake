# Unit tests of domain/: the proc driver against real guests (needs root).
remus_unit_test(test-domain-proc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-domain-proc.c
  LIBS remus_domain remus_proc_guest remus_common TIMEOUT 300)
# The replica test starts remus-dirtier from <build>/bin.
add_dependencies(test-domain-proc remus-dirtier)
