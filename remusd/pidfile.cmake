# remus(8)'s pids file for the fence agents (pidfile.h); after main.cmake.
target_sources(remus PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/pidfile.c)
