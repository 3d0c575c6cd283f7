# remus-netns-run: launch a proc guest in its own network namespace behind
# a veth pair (remusd/netns-launch, a bash script).
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/netns-launch
  ${CMAKE_BINARY_DIR}/bin/remus-netns-run COPYONLY
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
  GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
install(PROGRAMS netns-launch DESTINATION ${CMAKE_INSTALL_SBINDIR}
  RENAME remus-netns-run)
