# bench-epoch: pause vs dirty pages and the highest sustained epoch rate,
# the real engine (blackhole) against remus-dirtier, memcpy measured beside
# it.  A benchmark: run `bench-epoch` by hand (root), never a ctest test.
add_executable(bench-epoch epoch.c)
target_link_libraries(bench-epoch PRIVATE remus_ckpt remus_domain remus_common
  PkgConfig::LIBEV)
add_dependencies(bench-epoch remus-dirtier)
