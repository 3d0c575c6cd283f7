# The link's management surface (issue 13): the backup's address forms
# (host[:port], tcp://, tls://, ssh://), a pure parser, in the engine's library.
target_sources(remus_ckpt PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/uri.c)
# The link's bandwidth cap (--bandwidth): a token bucket peer.c consults.
target_sources(remus_ckpt PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ratelimit.c)
