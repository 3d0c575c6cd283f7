# The failover policies of both ends and the fence runner (fence.c: needs
# the default libev loop, see fence.h).  Loss detection is the link's
# (checkpoint/peer.c).
add_library(remus_failover STATIC fence.c)
target_include_directories(remus_failover PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remus_failover PUBLIC remus_common PkgConfig::LIBEV)
# The failover policies (docs/failover.md): pure state machines, no libev.
target_sources(remus_failover PRIVATE fo-primary.c fo-backup.c)
