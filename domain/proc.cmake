# The proc guest driver (domain-proc.c) and the proc guest side: a library
# for guest programs and the guest programs themselves.
target_sources(remus_domain PRIVATE domain-proc.c proc-dirty.c proc-store.c)
target_link_libraries(remus_domain PRIVATE PkgConfig::XXHASH)
# proc-dirty.c walks big arenas with a helper thread.
find_package(Threads REQUIRED)
target_link_libraries(remus_domain PRIVATE Threads::Threads)

# Guest library: arena, allocator, control socket, checksum.  Guest
# programs link this and remus_common, never remus_domain.
add_library(remus_proc_guest STATIC guest/proc-guest.c guest/proc-sum.c)
target_include_directories(remus_proc_guest
  PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/guest
  PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remus_proc_guest PUBLIC remus_common PkgConfig::XXHASH)

foreach(_prog remus-kvd remus-dirtier remus-arena-sum)
  add_executable(${_prog} guest/${_prog}.c)
  target_link_libraries(${_prog} PRIVATE remus_proc_guest)
endforeach()
install(TARGETS remus-kvd remus-dirtier remus-arena-sum
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# remus-proc-snap: the engine's epoch sequence into a local replica, for
# tests (functional, kernel lab) and debugging.
add_executable(remus-proc-snap proc-snap.c)
target_link_libraries(remus-proc-snap PRIVATE remus_domain)
install(TARGETS remus-proc-snap RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# bench-proc-dirty: the driver's share of the pause, by part, beside
# memcpy (not a ctest; prints BENCH lines).
add_executable(bench-proc-dirty proc-bench.c)
target_link_libraries(bench-proc-dirty PRIVATE remus_domain)
add_dependencies(bench-proc-dirty remus-dirtier)
