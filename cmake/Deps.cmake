# Every dependency is a Debian 12 package found through pkg-config
# (scripts/setup installs them).  Each is an imported target.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)
# xxHash: the published XXH64 / XXH3 digests (arena checksums, disk block
# hashes) instead of hand-written copies.
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(NL REQUIRED IMPORTED_TARGET libnl-3.0 libnl-route-3.0 libnl-nf-3.0)
pkg_check_modules(CRITERION REQUIRED IMPORTED_TARGET criterion)
# GnuTLS (libgnutls28-dev): TLS 1.3 on the replication link, the library
# QEMU and libvirt use for migration.  3.6.5 is the first with TLS 1.3.
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls>=3.6.5)

# libev ships no .pc file in Debian 12.
pkg_check_modules(LIBEV QUIET IMPORTED_TARGET libev)
if(NOT LIBEV_FOUND)
  find_path(LIBEV_INCLUDE_DIR ev.h REQUIRED)
  find_library(LIBEV_LIBRARY ev REQUIRED)
  add_library(PkgConfig::LIBEV UNKNOWN IMPORTED)
  set_target_properties(PkgConfig::LIBEV PROPERTIES
    IMPORTED_LOCATION ${LIBEV_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${LIBEV_INCLUDE_DIR})
endif()

if(REMUS_WITH_XEN)
  pkg_check_modules(XEN IMPORTED_TARGET xencontrol xenguest xenstore xenevtchn xenforeignmemory xentoollog)
  if(NOT XEN_FOUND)
    message(WARNING "libxen not found: the Xen guest driver is not built")
    set(REMUS_WITH_XEN OFF)
  endif()
endif()

# The journal, natively (common/log.c): priorities and fields survive.
# Without it the programs log to syslog(3) when stderr is no one's.
if(REMUS_WITH_SYSTEMD)
  pkg_check_modules(LIBSYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
endif()
