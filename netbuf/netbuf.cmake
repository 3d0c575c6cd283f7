# netbuf: hold guest output until the backup acknowledges the epoch.
# libnl-route-3 drives sch_plug/ifb/ingress/mirred; libnl-nf-3 the NFQUEUE.
add_library(remus_netbuf STATIC netbuf.c netbuf-plug.c netbuf-nfqueue.c)
target_include_directories(remus_netbuf PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remus_netbuf PUBLIC remus_common PRIVATE PkgConfig::NL)

# remus-netbuf: drive netbuf by hand (tests, kernel lab, debugging).
add_executable(remus-netbuf netbuf-tool.c netbuf-tool-kv.c)
target_link_libraries(remus-netbuf PRIVATE remus_netbuf remus_common)
