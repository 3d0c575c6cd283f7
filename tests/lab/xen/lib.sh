# tests/lab/xen/lib.sh -- what only the Xen-in-QEMU lab needs, on top of
# tests/lab/common.sh (packages, kernel, initramfs helpers: lab_*).  Source
# me.  Packages come from Debian with apt-get download + dpkg -x into the
# labs' shared cache (tests/lab/cache, or REMUS_LAB_CACHE), and the
# initramfs images are assembled under $WORK.

XEN_HERE=${XEN_HERE:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
# shellcheck source=tests/lab/common.sh
. "$XEN_HERE/../common.sh"
lab_init xen
if [ -n "${REMUS_BUILD:-}" ]; then
	WORK=${XEN_LAB_WORK:-$REMUS_BUILD/lab-xen}
else
	WORK=${XEN_LAB_WORK:-$XEN_HERE/work}
fi
XENVER=4.17
mkdir -p "$WORK"

log() { echo "lab-xen: $*" >&2; }

# fetch_packages: Debian's kernel (lab_fetch_kernel: LAB_KVER, depmod),
# Xen and its tools, unpacked into $LAB_PKG, once.
fetch_packages() {
	lab_fetch_kernel || return 1
	lab_fetch xen-hypervisor-$XENVER-amd64 xen-utils-$XENVER \
	    xen-utils-common xenstore-utils libxencall1 libxenevtchn1 \
	    libxenforeignmemory1 libxengnttab1 libxenmisc$XENVER libxenstore4 \
	    libxentoollog1 libyajl2 libxenhypfs1 libxendevicemodel1 \
	    libxentoolcore1 qemu-system-xen
}

# fetch_symbols: the domU kernel's System.map, from Debian's -dbg package
# (linux-image ships a stub), into $LAB_CACHE/dbg, once.  The package is
# ~860 MB: only `run suspend` asks for it, to symbolise dead guests' RIPs.
fetch_symbols() {
	local m=$LAB_CACHE/dbg/System.map-$LAB_KVER
	[ -s "$m" ] && return 0
	mkdir -p "$LAB_CACHE/dbg"
	(cd "$LAB_CACHE/dbg" && apt-get download -q "linux-image-$LAB_KVER-dbg" >/dev/null 2>&1) ||
	    { log "apt-get download linux-image-$LAB_KVER-dbg failed"; return 1; }
	dpkg-deb --fsys-tarfile "$LAB_CACHE/dbg/linux-image-$LAB_KVER-dbg"_*.deb |
	    tar -xO "./usr/lib/debug/boot/System.map-$LAB_KVER" > "$m.tmp" &&
	    mv "$m.tmp" "$m" && rm -f "$LAB_CACHE/dbg/linux-image-$LAB_KVER-dbg"_*.deb
}
