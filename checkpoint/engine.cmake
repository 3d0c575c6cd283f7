# The epoch engine (ckpt.c), the backup receiver (backup.c) and the
# transports.  Guests come in through domain.h's ops tables only, so the
# engine needs that header but not the drivers' library (remus and remusd
# link remus_domain themselves).
add_library(remus_ckpt STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/ckpt.c
  ${CMAKE_CURRENT_SOURCE_DIR}/backup.c
  ${CMAKE_CURRENT_SOURCE_DIR}/peer.c
  ${CMAKE_CURRENT_SOURCE_DIR}/transport-common.c
  ${CMAKE_CURRENT_SOURCE_DIR}/transport-tcp.c
  ${CMAKE_CURRENT_SOURCE_DIR}/transport-cmd.c
  ${CMAKE_CURRENT_SOURCE_DIR}/resync.c)
target_include_directories(remus_ckpt PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}
  ${CMAKE_SOURCE_DIR}/domain)
# backup.c commits each session's replica on a thread of its own.
find_package(Threads REQUIRED)
target_link_libraries(remus_ckpt PUBLIC remus_stream remus_codec
  remus_failover remus_common PkgConfig::LIBEV Threads::Threads
  PRIVATE PkgConfig::XXHASH)
