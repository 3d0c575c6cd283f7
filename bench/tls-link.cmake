# bench-tls-link: bytes through one TLS 1.3 session (PSK, X.509) against a
# plain socketpair, two processes; run by hand with a credentials
# directory from tests/tls-creds.sh (a benchmark, not a test).
add_executable(bench-tls-link tls-link.c)
target_link_libraries(bench-tls-link PRIVATE remus_tls remus_common)
