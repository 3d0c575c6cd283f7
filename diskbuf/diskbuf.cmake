# diskbuf: NBD export of the guest disk + per-epoch write buffering.
# The library links only common (STYLE L1); the stream records are built by
# the adapter in remusd/ through an emit callback, so diskbuf does not even
# need the stream library.
find_package(Threads REQUIRED)
add_library(remus_diskbuf STATIC
  diskbuf-primary.c diskbuf-backup.c nbd-server.c nbd-kernel.c wlog.c hash.c
  sync.c net.c ctl.c)
target_include_directories(remus_diskbuf PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remus_diskbuf PUBLIC remus_common Threads::Threads PRIVATE PkgConfig::XXHASH)

# remus-disksync: the initial sync (full copy, resumable by block hashes).
add_executable(remus-disksync disksync-main.c)
target_link_libraries(remus-disksync PRIVATE remus_diskbuf)

# diskbuf-pair: primary (NBD server) and backup in two processes joined by a
# socket, with a timer for epochs instead of the engine.  For the tests and
# the benchmark; the real programs are remus/remusd with --disk.
add_executable(diskbuf-pair diskbuf-pair.c)
target_link_libraries(diskbuf-pair PRIVATE remus_diskbuf)

install(TARGETS remus-disksync RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
