# remus-stats: pictures of remus --stats-json and of bench/ BENCH lines
# (a Python script driving gnuplot).
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/remus-stats
  ${CMAKE_BINARY_DIR}/bin/remus-stats COPYONLY
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
  GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
install(PROGRAMS remus-stats DESTINATION ${CMAKE_INSTALL_BINDIR})
