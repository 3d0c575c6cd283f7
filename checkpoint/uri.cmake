# The backup's address forms (host[:port], tcp://, tls://, ssh://): a pure
# parser, in the engine's library for remus and remusd.
target_sources(remus_ckpt PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/uri.c)
