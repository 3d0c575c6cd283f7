#!/bin/bash
# tests/lab/kernel/run.sh -- the kernel lab: boot Debian 12's linux-image-amd64
# under QEMU TCG with an initramfs holding busybox, bash, iproute2, nftables,
# the kernel modules remus needs (sch_plug, ifb, sch_ingress, cls_matchall,
# cls_u32, act_mirred, veth, nfnetlink_queue, nft_queue, nbd, ...) and every
# program of the build tree ($REMUS_BUILD/bin, with its shared libraries:
# the lab's userland is the build machine's Debian 12).  The VM's init runs
# every tests/lab/kernel/t-*.sh with bash; each prints
#   LAB-RESULT PASS|FAIL|SKIP <name> [detail]
# lines (and may print BENCH lines).  Exit 0 if all passed, 1 on a FAIL or
# a hung VM, 77 (skip) only when QEMU cannot run or packages cannot be
# downloaded.
#
# A t-*.sh may ask for more with header lines:
#   # lab-modules: nbd drbd        kernel modules to copy and load
#   # lab-bins: /usr/bin/strace    host programs to copy (with libraries)
#   # lab-build-files: tests/test-netbuf
#                                  build-tree files (relative to
#                                  $REMUS_BUILD) to copy, with libraries, to
#                                  /usr/local/<path>
#   # lab-src-files: tests/functional/functions.sh
#                                  source-tree files to copy to /lab/src/<path>
#
# LAB_TESTS="t-netbuf-plug.sh" runs a subset (or scripts not run by
# default, e.g. b-netbuf.sh, the netbuf benchmark); LAB_TIMEOUT (default
# 900 s) bounds the whole boot.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../common.sh"

lab_init kernel
lab_require_qemu
lab_fetch_kernel

[ -d "$LAB_BUILD/bin" ] || { echo "FAIL: no $LAB_BUILD/bin (build first)"; exit 1; }

MODS="veth ifb sch_plug sch_ingress cls_matchall cls_u32 act_mirred act_gact
 nfnetlink_queue nft_queue nf_tables nft_chain_nat nf_conntrack dummy
 ipv6 af_packet"
BINS="/usr/bin/bash /usr/sbin/ip /usr/sbin/tc /usr/sbin/nft /usr/bin/timeout
 /usr/bin/setsid /usr/sbin/iptables /usr/sbin/xtables-nft-multi"

tests=${LAB_TESTS:-$(cd "$HERE" && ls t-*.sh 2>/dev/null)}
[ -n "$tests" ] || { echo "FAIL: no tests/lab/kernel/t-*.sh"; exit 1; }
for t in $tests; do
	MODS="$MODS $(sed -n 's/^# lab-modules://p' "$HERE/$t")"
	BINS="$BINS $(sed -n 's/^# lab-bins://p' "$HERE/$t")"
	BFILES="${BFILES:-} $(sed -n 's/^# lab-build-files://p' "$HERE/$t")"
	SFILES="${SFILES:-} $(sed -n 's/^# lab-src-files://p' "$HERE/$t")"
done

R=$LAB_WORK/root
lab_log "assembling initramfs in $R"
lab_root_init "$R"
for b in $BINS; do
	[ -e "$b" ] && lab_copy_bin "$R" "$b"
done
# nft and iptables load their libraries' plugins by name at run time.
for b in ip tc nft iptables timeout setsid bash; do
	rm -f "$R/bin/$b"	# busybox applets must not shadow the real tools
done
ln -sf xtables-nft-multi "$R/usr/sbin/iptables" 2>/dev/null
# Busybox's sh runs its own applets (ip, tc, ...) before PATH: system(3)
# and scripts must get bash, which does not.
ln -sf /usr/bin/bash "$R/bin/sh"
ln -sf /usr/bin/bash "$R/bin/bash"	# "#!/bin/bash" scripts
mkdir -p "$R/usr/local/bin"
for b in "$LAB_BUILD"/bin/*; do
	[ -f "$b" ] && [ -x "$b" ] && lab_copy_bin "$R" "$b" "/usr/local/bin/$(basename "$b")"
done
for f in ${BFILES:-}; do
	[ -f "$LAB_BUILD/$f" ] && lab_copy_bin "$R" "$LAB_BUILD/$f" "/usr/local/$f"
done
# shellcheck disable=SC2086
lab_copy_mod "$R" $MODS
mkdir -p "$R/lab"
for t in $tests; do
	cp "$HERE/$t" "$R/lab/$t"
done
cp "$HERE/lib.sh" "$R/lab/lib.sh"
for f in ${SFILES:-}; do
	mkdir -p "$R/lab/src/$(dirname "$f")"
	cp "$LAB_SRC/$f" "$R/lab/src/$f"
done
echo "$MODS" >"$R/lab/modules"
echo $tests >"$R/lab/tests"

cat >"$R/init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /dev/shm /dev/pts && mount -t tmpfs shm /dev/shm && mount -t devpts pts /dev/pts
ln -sf /run /var/run 2>/dev/null
ip link set lo up
for m in $(cat /lab/modules); do modprobe "$m" 2>/dev/null; done
echo "LAB-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"
cd /lab
for t in $(cat /lab/tests); do
	echo "LAB-TEST $t"
	timeout 600 bash "$t" 2>&1 || echo "LAB-RESULT FAIL $t exit status $?"
done
echo "LAB-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
EOF
chmod +x "$R/init"
lab_mk_initramfs "$R" "$LAB_WORK/initramfs.cpio.gz"
lab_log "initramfs $(du -h "$LAB_WORK/initramfs.cpio.gz" | cut -f1)"

lab_boot kernel "${LAB_TIMEOUT:-900}" "$LAB_VMLINUZ" \
    "$LAB_WORK/initramfs.cpio.gz" "quiet" -nic none
rc=$?
if [ $rc -ne 0 ] && ! grep -aq '^LAB-BOOTED' "$LAB_LOGS/kernel.log"; then
	if grep -aqi 'could not\|failed to\|error' "$LAB_LOGS/kernel.qemu.out"; then
		cat "$LAB_LOGS/kernel.qemu.out"
		lab_skip "QEMU could not start the VM (see above)"
	fi
fi
lab_results "$LAB_LOGS/kernel.log"
