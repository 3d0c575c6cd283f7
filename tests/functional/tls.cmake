# TLS on the replication link: protection over PSK and X.509, refusals at
# the handshake, interop with gnutls-cli, tampering on the path, what an
# eavesdropper sees.  Credentials are made at run time (tests/tls-creds.sh,
# gnutls-bin); 77 when the tools are missing.
foreach(_t tls-protect tls-refuse tls-interop tls-tamper tls-capture)
  remus_shell_test(${_t} ${CMAKE_CURRENT_LIST_DIR}/${_t}.sh TIMEOUT 240)
endforeach()
