#!/bin/bash
# diskbuf-clients: several real NBD clients attach to the export --
# qemu-img (info, convert, compare), qemu-io (patterns, FUA, write-zeroes,
# discard, flush), libnbd's nbdinfo and nbdcopy, the kernel's nbd-client
# where /dev/nbd0 exists -- and every change reaches the backup.
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires qemu-img --version
requires qemu-io --version

mkimage "$T/p.img" 16
cp "$T/p.img" "$T/b.img"
start_pair pair -i "$T/p.img" -B "$T/b.img" -l "unix:$T/nbd.sock" -e 20 \
    -d "$T/dg" -s "$T/st"
uri=$(nbd_uri "$T/nbd.sock")
tcp_port=$(pick_port)

# qemu-img sees the right size.
qemu-img info -f raw "$uri" >"$T/info.log" 2>&1 || fail "qemu-img info"
grep -q "virtual size: 16 MiB" "$T/info.log" || fail "size: $(cat "$T/info.log")"

# qemu-io: patterns, FUA, zeroes, discard, flush; read back.
qemu-io -f raw -c "write -P 0x11 0 1M" -c "write -f -P 0x22 1M 64k" \
    -c "write -z 2M 512k" -c "discard 3M 1M" -c flush \
    -c "read -P 0x11 0 1M" -c "read -P 0x22 1M 64k" -c "read -P 0 2M 512k" \
    -c "read -P 0 3M 1M" "$uri" >"$T/qemu-io.log" 2>&1 || fail "qemu-io"
grep -q "Pattern verification failed" "$T/qemu-io.log" && fail "qemu-io verify"

# qemu-img convert into the export and compare.
mkimage "$T/src.img" 4
dd if="$T/src.img" of="$T/src16.img" bs=1M count=16 conv=sync status=none 2>/dev/null ||
	true
truncate -s 16M "$T/src16.img"
qemu-img convert -n -f raw -O raw "$T/src16.img" "$uri" || fail "qemu-img convert"
qemu-img compare -f raw -F raw "$T/src16.img" "$uri" >/dev/null ||
	fail "qemu-img compare after convert"

# libnbd tools, when installed (libnbd-bin).
if nbdinfo --version >/dev/null 2>&1; then
	nbdinfo "$uri" >"$T/nbdinfo.log" 2>&1 || fail "nbdinfo"
	grep -q "export-size: 16777216" "$T/nbdinfo.log" || fail "nbdinfo size"
	grep -q "can_flush: true" "$T/nbdinfo.log" || fail "nbdinfo can_flush"
	nbdinfo --list "$uri" 2>&1 | grep -q 'export="disk"' ||
		fail "nbdinfo --list does not name the export"
	mkimage "$T/copy.img" 16
	nbdcopy "$T/copy.img" "$uri" || fail "nbdcopy to the export"
	qemu-img compare -f raw -F raw "$T/copy.img" "$uri" >/dev/null ||
		fail "compare after nbdcopy"
else
	echo "note: nbdinfo/nbdcopy not installed (libnbd-bin), skipped them"
fi

# The kernel client over TCP, where the nbd module and device exist.
if [ -b /dev/nbd0 ] && command -v nbd-client >/dev/null &&
    ! [ -s /sys/block/nbd0/pid ]; then
	kill -9 "$PAIR_PID"
	wait_for grep -q '^activated' "$T/st" || fail "no failover"
	rm -f "$T/st"
	start_pair pair2 -i "$T/p.img" -B "$T/b.img" -l "127.0.0.1:$tcp_port" \
	    -e 20 -d "$T/dg" -s "$T/st"
	if nbd-client 127.0.0.1 "$tcp_port" /dev/nbd0 -N disk >"$T/nbd-client.log" 2>&1; then
		dd if=/dev/zero bs=1M count=1 seek=5 of=/dev/nbd0 oflag=direct \
		    status=none || fail "write through /dev/nbd0"
		nbd-client -d /dev/nbd0 >/dev/null 2>&1 || true
	else
		echo "note: nbd-client could not attach: $(tail -1 "$T/nbd-client.log")"
	fi
fi

# Let an epoch or two commit, then fail over and compare.
sleep 0.3
kill -9 "$PAIR_PID"
wait_for grep -q '^activated' "$T/st" || fail "the backup did not fail over"
n=$(awk '/^activated/ { print $2 }' "$T/st")
want=$(awk -v n="$n" '$1 == n { print $2 }' "$T/dg")
[ "$want" = "$(digest "$T/b.img")" ] || fail "backup differs from epoch $n"
[ "$want" = "$(digest "$T/p.img")" ] ||
	fail "the last committed epoch does not hold every completed write"
echo "PASS: backup = primary at epoch $n"
