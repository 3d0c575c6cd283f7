# remus_qmp: the QMP client for QEMU device models (qmp.h), with json-c
# and no Xen library, so that it is built and tested on any host
# (tests/unit/qmp.cmake against a fake, tests/functional/qmp.cmake
# against a real qemu-system-x86_64).  The Xen driver links it where it
# is built.
if(NOT TARGET PkgConfig::JSONC)
  pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
endif()
add_library(remus_qmp STATIC ${CMAKE_CURRENT_SOURCE_DIR}/qmp.c)
target_include_directories(remus_qmp PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(remus_qmp PUBLIC remus_common PRIVATE PkgConfig::JSONC)

# remus-qmp: the client from the command line, for the functional test
# and by hand.  Not installed: a test and debugging tool (an installed
# program needs its man page, tests/functional/engine-man.sh).
add_executable(remus-qmp ${CMAKE_CURRENT_SOURCE_DIR}/qmp-tool.c)
target_link_libraries(remus-qmp PRIVATE remus_qmp remus_common)
