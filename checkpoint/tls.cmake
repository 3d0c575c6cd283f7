# TLS on the replication link (GnuTLS): credentials and sessions, a module
# of its own so its unit test links it alone.
add_library(remus_tls STATIC ${CMAKE_CURRENT_SOURCE_DIR}/tls.c)
target_include_directories(remus_tls PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remus_tls PUBLIC remus_common PkgConfig::GNUTLS)
# The engine and the receiver run their links through it (peer-tls.c: the
# link's io ops over a session).
target_sources(remus_ckpt PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/peer-tls.c)
target_link_libraries(remus_ckpt PUBLIC remus_tls)
