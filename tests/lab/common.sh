# tests/lab/common.sh -- helpers shared by the QEMU labs (tests/lab/kernel,
# tests/lab/xen: its lib.sh adds what only Xen needs).  Source it from
# bash; it defines functions only, plus the variables set by lab_init.  The
# function names and arguments below are a stable interface: other labs
# build on them.
#
#   lab_init NAME          set LAB_SRC, LAB_BUILD, LAB_CACHE, LAB_WORK, LAB_LOGS
#   lab_skip MSG           print "SKIP: MSG" and exit 77
#   lab_log MSG            timestamped progress line on stderr
#   lab_require_qemu       skip unless qemu-system-x86_64 exists and runs
#   lab_kver               print the kernel ABI Debian's linux-image-amd64
#                          points at (e.g. 6.1.0-56-amd64)
#   lab_fetch PKG...       apt-get download + dpkg -x into $LAB_PKG (cached;
#                          returns 1 if a package cannot be downloaded)
#   lab_fetch_kernel       fetch linux-image-$(lab_kver) + busybox-static,
#                          run depmod; sets LAB_KVER and LAB_VMLINUZ
#   lab_root_init ROOT     fresh busybox skeleton in ROOT
#   lab_copy_bin ROOT SRC [DEST]
#                          copy a program and every shared library it needs
#                          (ldd; pkgroot libraries first, then the host's)
#   lab_copy_mod ROOT MOD...
#                          copy kernel modules with their dependencies and
#                          the modules.* indexes
#   lab_mk_initramfs ROOT OUT
#                          pack ROOT as a gzip newc cpio
#   lab_boot NAME TIMEOUT KERNEL INITRD APPEND [qemu args...]
#                          boot under TCG with the serial console logged to
#                          $LAB_LOGS/NAME.log; returns qemu's status (124 on
#                          timeout)
#   lab_results LOG        print the LAB-RESULT lines of LOG; exit status 0
#                          if at least one PASS and no FAIL, 1 otherwise
#
# Result protocol inside the VM: one line per check,
#   LAB-RESULT PASS <name> [detail]
#   LAB-RESULT FAIL <name> [detail]
#   LAB-RESULT SKIP <name> [detail]
# and "LAB-DONE" at the end.  A missing LAB-DONE is a failure (the VM hung or
# crashed).
#
# Caching: packages are downloaded once into $LAB_CACHE (default
# $LAB_SRC/tests/lab/cache, gitignored, shared by every build tree and lab);
# REMUS_LAB_CACHE overrides it.  Concurrent labs serialise on a lock there.
#
# Why TCG: /dev/kvm exists on the development machine but guests hang under
# it; TCG boots Debian's kernel to a shell in about 7 s.  REMUS_LAB_ACCEL=kvm
# tries KVM anyway.

lab_log() { echo "[lab $(date +%H:%M:%S)] $*" >&2; }

lab_skip() {
	echo "SKIP: $*"
	exit 77
}

lab_init() {
	local name=$1
	LAB_NAME=$name
	LAB_SRC=${REMUS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	LAB_BUILD=${REMUS_BUILD:-$LAB_SRC/build}
	LAB_CACHE=${REMUS_LAB_CACHE:-$LAB_SRC/tests/lab/cache}
	LAB_DEBS=$LAB_CACHE/debs
	LAB_PKG=$LAB_CACHE/pkgroot
	LAB_WORK=$LAB_BUILD/lab/$name
	LAB_LOGS=$LAB_WORK/logs
	mkdir -p "$LAB_DEBS" "$LAB_PKG" "$LAB_WORK" "$LAB_LOGS" ||
		lab_skip "cannot create lab directories under $LAB_CACHE / $LAB_WORK"
}

lab_require_qemu() {
	command -v qemu-system-x86_64 >/dev/null 2>&1 ||
		lab_skip "qemu-system-x86_64 not installed (Debian: qemu-system-x86)"
	qemu-system-x86_64 -version >/dev/null 2>&1 ||
		lab_skip "qemu-system-x86_64 does not run"
	local c
	for c in cpio depmod gzip; do
		command -v $c >/dev/null 2>&1 ||
			lab_skip "$c not installed (Debian: cpio, kmod, gzip)"
	done
}

# Run "$@" holding the cache lock (downloads and extraction are shared).
lab_locked() {
	(
		flock -w 900 9 || { lab_log "cache lock timeout"; exit 1; }
		"$@"
	) 9>"$LAB_CACHE/.lock"
}

lab_kver() {
	if [ -n "${LAB_KVER:-}" ]; then
		echo "$LAB_KVER"
		return 0
	fi
	local k
	k=$(apt-cache depends linux-image-amd64 2>/dev/null |
	    awk '/Depends: linux-image-[0-9]/ {sub("linux-image-", "", $2); print $2; exit}')
	if [ -z "$k" ] && [ ! -d "$LAB_PKG/boot" ]; then
		# An empty cache and no package lists yet: fetch them once.
		apt-get update -qq >/dev/null 2>&1
		k=$(apt-cache depends linux-image-amd64 2>/dev/null |
		    awk '/Depends: linux-image-[0-9]/ {sub("linux-image-", "", $2); print $2; exit}')
	fi
	if [ -z "$k" ]; then
		# No apt metadata: use whatever kernel the cache already holds.
		k=$(ls "$LAB_PKG/boot" 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
	fi
	[ -n "$k" ] || return 1
	echo "$k"
}

_lab_fetch_one() {
	local p=$1 deb
	deb=$(ls "$LAB_DEBS/${p}_"*.deb 2>/dev/null | sort -V | tail -1)
	if [ -z "$deb" ]; then
		lab_log "downloading $p"
		if ! (cd "$LAB_DEBS" && apt-get download -q "$p" >/dev/null 2>&1); then
			# Stale package lists: refresh once and retry.
			apt-get update -qq >/dev/null 2>&1
			(cd "$LAB_DEBS" && apt-get download -q "$p" >/dev/null 2>&1) ||
				{ lab_log "cannot download $p"; return 1; }
		fi
		deb=$(ls "$LAB_DEBS/${p}_"*.deb 2>/dev/null | sort -V | tail -1)
		[ -n "$deb" ] || return 1
	fi
	local stamp=$LAB_PKG/.stamps/$(basename "$deb")
	if [ ! -e "$stamp" ]; then
		dpkg -x "$deb" "$LAB_PKG" || return 1
		mkdir -p "$LAB_PKG/.stamps" && touch "$stamp"
	fi
}

_lab_fetch() {
	local p rc=0
	for p in "$@"; do
		_lab_fetch_one "$p" || rc=1
	done
	return $rc
}

lab_fetch() { lab_locked _lab_fetch "$@"; }

_lab_depmod() {
	local k=$1
	[ -e "$LAB_PKG/lib/modules/$k/modules.dep.bin" ] &&
	    [ "$LAB_PKG/lib/modules/$k/modules.dep.bin" -nt "$LAB_PKG/lib/modules/$k/modules.order" ] &&
		return 0
	depmod -b "$LAB_PKG" "$k"
}

lab_fetch_kernel() {
	LAB_KVER=$(lab_kver) || lab_skip "cannot resolve linux-image-amd64 (no apt metadata, empty cache)"
	lab_fetch "linux-image-$LAB_KVER" busybox-static ||
		lab_skip "cannot download linux-image-$LAB_KVER / busybox-static"
	lab_locked _lab_depmod "$LAB_KVER" || { lab_log "depmod failed"; return 1; }
	LAB_VMLINUZ=$LAB_PKG/boot/vmlinuz-$LAB_KVER
	[ -r "$LAB_VMLINUZ" ] || lab_skip "no $LAB_VMLINUZ after extraction"
	export LAB_KVER LAB_VMLINUZ
}

lab_root_init() {
	local root=$1 a bb
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root,var/log,var/run,var/lib,lib64}
	bb=$LAB_PKG/bin/busybox
	[ -x "$bb" ] || bb=$(command -v busybox)
	cp "$bb" "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
	# The kernel's request_module() runs /sbin/modprobe.
	ln -sf ../bin/busybox "$root/sbin/modprobe"
	cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
	printf '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' >"$root/etc/ld.so.conf"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
}

lab_copy_bin() {
	local root=$1 src=$2 dest=${3:-$2} s lib l
	s=$src
	[ -e "$s" ] || s=$LAB_PKG$src
	[ -e "$s" ] || { lab_log "lab_copy_bin: no $src"; return 1; }
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$s" "$root$dest" || return 1
	LD_LIBRARY_PATH=$LAB_PKG/usr/lib/x86_64-linux-gnu:$LAB_PKG/lib/x86_64-linux-gnu ldd "$s" 2>/dev/null |
	    awk '/=>/ {print $3} /^[ \t]*\/lib/ {print $1}' |
	    while read -r lib; do
		[ -n "$lib" ] && [ -e "$lib" ] || continue
		l=$lib
		case $l in "$LAB_PKG"/*) l=${l#"$LAB_PKG"} ;; esac
		# usrmerge: keep one copy under /lib, which ld.so searches.
		case $l in /usr/lib/x86_64-linux-gnu/*)
			[ -e "$root/lib/x86_64-linux-gnu/$(basename "$l")" ] && continue ;;
		esac
		# a library from elsewhere (a build tree) lands in /usr/lib
		case $l in /lib/*|/lib64/*|/usr/*) ;; *) l=/usr/lib/$(basename "$l") ;; esac
		[ -e "$root$l" ] && continue
		mkdir -p "$root$(dirname "$l")"
		cp -L "$lib" "$root$l"
	done
}

lab_copy_mod() {
	local root=$1 m ko rel
	shift
	local k=${LAB_KVER:?lab_fetch_kernel first}
	for m in "$@"; do
		modprobe -d "$LAB_PKG" -S "$k" --show-depends "$m" 2>/dev/null |
		    awk '$1 == "insmod" {print $2}' |
		    while read -r ko; do
			rel=${ko#"$LAB_PKG"}
			mkdir -p "$root$(dirname "$rel")"
			cp "$ko" "$root$rel"
		done
		modprobe -d "$LAB_PKG" -S "$k" --show-depends "$m" >/dev/null 2>&1 ||
			lab_log "lab_copy_mod: no module $m in $k (built in?)"
	done
	mkdir -p "$root/lib/modules/$k"
	cp "$LAB_PKG/lib/modules/$k"/modules.* "$root/lib/modules/$k/" 2>/dev/null
	return 0
}

lab_mk_initramfs() {
	local root=$1 out=$2
	(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out"
}

lab_boot() {
	local name=$1 to=$2 kernel=$3 initrd=$4 append=$5 rc t0
	shift 5
	local accel=(-accel tcg -cpu max)
	[ "${REMUS_LAB_ACCEL:-tcg}" = kvm ] && accel=(-accel kvm -cpu host)
	t0=$(date +%s)
	lab_log "booting $name (timeout ${to}s, log $LAB_LOGS/$name.log)"
	timeout --foreground -k 5 "$to" qemu-system-x86_64 -nographic -no-reboot \
	    -monitor none -serial "file:$LAB_LOGS/$name.log" "${accel[@]}" \
	    -m "${LAB_MEM:-1024}" -smp "${LAB_SMP:-2}" \
	    -kernel "$kernel" -initrd "$initrd" \
	    -append "console=ttyS0 panic=-1 $append" "$@" \
	    >"$LAB_LOGS/$name.qemu.out" 2>&1 </dev/null
	rc=$?
	lab_log "$name: qemu rc=$rc after $(($(date +%s) - t0)) s"
	[ $rc -eq 124 ] && lab_log "$name: TIMEOUT (last lines: $(tail -3 "$LAB_LOGS/$name.log" | tr -d '\r' | tr '\n' '|'))"
	return $rc
}

lab_results() {
	local log=$1 pass fail
	[ -r "$log" ] || { echo "no log $log"; return 1; }
	tr -d '\r' <"$log" | grep -a '^LAB-RESULT ' || true
	tr -d '\r' <"$log" | grep -a '^BENCH ' || true
	pass=$(tr -d '\r' <"$log" | grep -ac '^LAB-RESULT PASS ')
	fail=$(tr -d '\r' <"$log" | grep -ac '^LAB-RESULT FAIL ')
	if ! tr -d '\r' <"$log" | grep -aq '^LAB-DONE'; then
		echo "lab: no LAB-DONE in $log (VM hung or crashed); last lines:"
		tr -d '\r' <"$log" | tail -20
		return 1
	fi
	echo "lab: $pass passed, $fail failed"
	[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}
