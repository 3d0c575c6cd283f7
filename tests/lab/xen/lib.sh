# tests/lab/xen/lib.sh -- helpers for the Xen-in-QEMU lab.  Source me.
#
# Self-contained on purpose (no dependency on anything outside the tree):
# packages come from Debian with apt-get download + dpkg -x into a cache dir
# that git ignores, and the initramfs images are assembled under $WORK.

XEN_HERE=${XEN_HERE:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
CACHE=${XEN_LAB_CACHE:-$XEN_HERE/cache}
DEBS=$CACHE/debs
PKG=$CACHE/pkgroot
if [ -n "${REMUS_BUILD:-}" ]; then
	WORK=${XEN_LAB_WORK:-$REMUS_BUILD/lab-xen}
else
	WORK=${XEN_LAB_WORK:-$XEN_HERE/work}
fi
XENVER=4.17
mkdir -p "$CACHE" "$WORK"

log() { echo "lab-xen: $*" >&2; }

# The kernel version is whatever linux-image-amd64 points at today; the
# unpacked cache remembers it so later runs need no apt at all.
kver() { cat "$PKG/.kver"; }

# fetch_packages: unpack the Debian packages the lab needs into $PKG, once.
fetch_packages() {
	[ -f "$PKG/.done" ] && return 0
	local kpkg pkgs
	mkdir -p "$DEBS"
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$kpkg" ]; then
		apt-get update -qq >/dev/null 2>&1
		kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	fi
	[ -n "$kpkg" ] || { log "cannot resolve linux-image-amd64"; return 1; }
	pkgs="xen-hypervisor-$XENVER-amd64 xen-utils-$XENVER xen-utils-common
	    xenstore-utils $kpkg busybox-static libxencall1 libxenevtchn1
	    libxenforeignmemory1 libxengnttab1 libxenmisc$XENVER libxenstore4
	    libxentoollog1 libyajl2 libxenhypfs1 libxendevicemodel1
	    libxentoolcore1"
	# shellcheck disable=SC2086
	(cd "$DEBS" && apt-get download -q $pkgs >/dev/null 2>&1) ||
	    { apt-get update -qq >/dev/null 2>&1;
	      (cd "$DEBS" && apt-get download -q $pkgs >/dev/null); } ||
	    { log "apt-get download failed"; return 1; }
	rm -rf "$PKG"; mkdir -p "$PKG"
	local d
	for d in "$DEBS"/*.deb; do dpkg -x "$d" "$PKG" || return 1; done
	echo "${kpkg#linux-image-}" > "$PKG/.kver"
	depmod -b "$PKG" "$(kver)" || return 1
	touch "$PKG/.done"
}

# copy_bin ROOT SRC [DEST]: copy a binary and its shared libraries (the
# unpacked packages' first, then the host's) into ROOT, keeping paths.
copy_bin() {
	local root=$1 src=$2 dest=${3:-$2} s lib l
	s=$src
	[ -e "$s" ] || s=$PKG$src
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$s" "$root$dest" || return 1
	LD_LIBRARY_PATH=$PKG/usr/lib/x86_64-linux-gnu:$PKG/lib/x86_64-linux-gnu:${COPY_LIBPATH:-} \
	    ldd "$s" 2>/dev/null |
	    awk '/=>/ {print $3} /^[ \t]*\/lib/ {print $1}' | while read -r lib; do
		[ -n "$lib" ] && [ -e "$lib" ] || continue
		l=$lib
		case $l in "$PKG"/*) l=${l#"$PKG"} ;; esac
		# libraries from the build tree land in /usr/lib
		case $l in /lib/*|/lib64/*|/usr/*) ;; *) l=/usr/lib/$(basename "$l") ;; esac
		[ -e "$root$l" ] && continue
		mkdir -p "$root$(dirname "$l")"; cp -L "$lib" "$root$l"
	done
}

# copy_mod ROOT NAME...: kernel modules with their dependencies.
copy_mod() {
	local root=$1 m ko rel; shift
	for m in "$@"; do
		modprobe -d "$PKG" -S "$(kver)" --show-depends "$m" 2>/dev/null |
		    awk '$1=="insmod" {print $2}' | while read -r ko; do
			rel=${ko#"$PKG"}
			mkdir -p "$root$(dirname "$rel")"; cp "$ko" "$root$rel"
		done
	done
	mkdir -p "$root/lib/modules/$(kver)"
	cp "$PKG/lib/modules/$(kver)"/modules.* "$root/lib/modules/$(kver)/"
}

# busybox_root ROOT: skeleton with the static busybox and its applets.
busybox_root() {
	local root=$1 a
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root,var/log,var/run,var/lib}
	cp "$PKG/bin/busybox" "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
	ln -sf ../bin/busybox "$root/sbin/modprobe"
}

# mk_cpio ROOT OUT: pack an initramfs.
mk_cpio() {
	(cd "$1" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$2"
}

# fetch_symbols: the domU kernel's System.map, from Debian's -dbg package
# (linux-image ships a stub), into $CACHE/dbg, once.  The package is
# ~860 MB: only `run suspend` asks for it, to symbolise dead guests' RIPs.
fetch_symbols() {
	local m=$CACHE/dbg/System.map-$(kver)
	[ -s "$m" ] && return 0
	mkdir -p "$CACHE/dbg"
	(cd "$CACHE/dbg" && apt-get download -q "linux-image-$(kver)-dbg" >/dev/null 2>&1) ||
	    { log "apt-get download linux-image-$(kver)-dbg failed"; return 1; }
	dpkg-deb --fsys-tarfile "$CACHE/dbg/linux-image-$(kver)-dbg"_*.deb |
	    tar -xO "./usr/lib/debug/boot/System.map-$(kver)" > "$m.tmp" &&
	    mv "$m.tmp" "$m" && rm -f "$CACHE/dbg/linux-image-$(kver)-dbg"_*.deb
}
