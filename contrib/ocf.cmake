# The Pacemaker resource agent ocf:remus:remus (docs/operations.md,
# "Pacemaker").
set(REMUS_OCF_ROOT "lib/ocf" CACHE STRING
  "OCF root (resource.d/remus/remus goes below it), relative to the install prefix or absolute")
# install(DESTINATION) takes a relative path under the prefix or an
# absolute one as it is.
set(_ocf_agent_dir "${REMUS_OCF_ROOT}/resource.d/remus")
install(PROGRAMS ${CMAKE_CURRENT_LIST_DIR}/ocf/remus DESTINATION ${_ocf_agent_dir})
