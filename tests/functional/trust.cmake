# The trust boundary from the attacker's side (issue 12): crafted streams
# with and without credentials never run anything nor touch another
# guest's replica; slow, silent and oversized peers are dropped within
# their deadlines; abandoned sessions leave nothing; accept() backs off
# when descriptors run out.  remus-trust-peer is the hostile primary.
add_executable(remus-trust-peer ${CMAKE_CURRENT_LIST_DIR}/trust-peer.c)
target_include_directories(remus-trust-peer PRIVATE
  ${CMAKE_SOURCE_DIR}/domain)
target_link_libraries(remus-trust-peer PRIVATE remus_ckpt remus_common)
foreach(_t trust-crafted trust-limits trust-guests trust-peers trust-logflood
    trust-memory)
  remus_shell_test(${_t} ${CMAKE_CURRENT_LIST_DIR}/${_t}.sh TIMEOUT 240)
endforeach()
