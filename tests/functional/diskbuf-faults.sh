#!/bin/bash
# diskbuf-faults: the backup fails to apply an epoch (injected EIO; a full
# backup disk; a full spill directory).  Each time: one clear error line,
# the primary keeps serving and says protection is lost, and the backup
# image is exactly the last committed epoch (the failed apply is rolled
# back).
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires qemu-io --version

uri=$(nbd_uri "$T/nbd.sock")

check_committed() {
	local what=$1 n want
	n=$(awk '/^failed|^activated/ { print $2 }' "$T/st" | tail -1)
	want=$(awk -v n="$n" '$1 == n { print $2 }' "$T/dg")
	[ -n "$n" ] || fail "$what: the backup recorded no outcome"
	[ "$want" = "$(digest "$T/b.img")" ] ||
		fail "$what: backup image is not committed epoch $n"
	echo "$what: backup holds committed epoch $n"
}

primary_survives() {
	local what=$1
	qemu-io -f raw -c "write -P 0x77 4M 4k" -c "read -P 0x77 4M 4k" "$uri" \
	    >"$T/after.log" 2>&1 || fail "$what: the primary stopped serving"
	grep -q "protection LOST\|-> unprotected" "$T/pair.log" ||
		fail "$what: the primary did not say it lost protection"
}

# 1. Injected EIO while the backup applies an epoch.
mkimage "$T/p.img" 8
cp "$T/p.img" "$T/b.img"
REMUS_FAULT=diskbuf-eio start_pair pair -i "$T/p.img" -B "$T/b.img" \
    -l "unix:$T/nbd.sock" -e 30 -d "$T/dg" -s "$T/st"
qemu-io -f raw -c "write -P 0x55 0 256k" -c "write -P 0x66 1M 256k" "$uri" \
    >/dev/null 2>&1 || fail "eio: first writes"
wait_for grep -q '^failed' "$T/st" || fail "eio: the backup did not fail"
grep -q "apply of write at offset .* failed: Input/output error" "$T/pair.log" ||
	fail "eio: no clear error line"
grep -q "rolled back to committed epoch" "$T/pair.log" || fail "eio: no rollback"
primary_survives eio
check_committed eio
kill "$PAIR_PID"

# 2 and 3 need a small file system: a tmpfs in a private mount namespace.
if ! unshare -m true 2>/dev/null; then
	echo "SKIP part: unshare -m unavailable (no full-disk cases)"
	echo PASS
	exit 0
fi

run_full() {	# NAME: image on, spill on
	local name=$1
	# Fresh all-zero (sparse) images on both sides: in sync from the start.
	rm -f "$T/st" "$T/dg" "$T/pair.log" "$T/pair.pid" "$T/p.img" "$T/b.img"
	mkdir -p "$T/small"
	# shellcheck disable=SC2016 # expanded by the inner shell
	(unshare -m bash -c '
		set -e
		mount -t tmpfs -o size=2m none "$1/small"
		truncate -s 16M "$1/p.img"
		if [ "$2" = disk ]; then
			B="$1/small/b.img"; S="$1"; M=""
		else
			B="$1/b.img"; S="$1/small"; M="-m 64k"
		fi
		truncate -s 16M "$B"
		# The whole mount namespace lives as long as the pair.
		exec diskbuf-pair -P "$1/pair.pid" -i "$1/p.img" -B "$B" \
		    -l "unix:$1/nbd.sock" -e 30 -d "$1/dg" -s "$1/st" -S "$S" $M \
		    >"$1/pair.log" 2>&1
	' _ "$T" "$name" &)
	wait_for test -s "$T/pair.pid" || fail "$name: pair did not start"
	PAIR_PID=$(cat "$T/pair.pid")
	_cleanup_pids="$_cleanup_pids $PAIR_PID"
	# 4 MiB of random data does not fit in 2 MiB.
	mkimage "$T/rand" 4
	qemu-io -f raw -c "write -s $T/rand 0 4M" "$uri" >/dev/null 2>&1 ||
		fail "$name: write"
	wait_for grep -q "No space left on device" "$T/pair.log" ||
		fail "$name: no 'No space left on device' line"
	primary_survives "$name"
}

run_full disk
wait_for grep -q '^failed' "$T/st" || fail "disk: the backup did not fail"
grep -q "rolled back to committed epoch" "$T/pair.log" || fail "disk: no rollback"
n=$(awk '/^failed/ { print $2 }' "$T/st")
want=$(awk -v n="$n" '$1 == n { print $2 }' "$T/dg")
# The backup image is inside the namespace: digest it through /proc.
got=$(remus-disksync digest "/proc/$PAIR_PID/root$T/small/b.img" 2>/dev/null ||
    nsenter -t "$PAIR_PID" -m remus-disksync digest "$T/small/b.img")
[ "$want" = "$got" ] || fail "disk full: backup image is not epoch $n"
echo "disk full: backup holds committed epoch $n"
kill "$PAIR_PID"
wait_for sh -c "! kill -0 $PAIR_PID" || true

run_full spill
kill "$PAIR_PID"
wait_for grep -q '^activated\|^failed' "$T/st" || fail "spill: no outcome"
check_committed "spill full"
echo PASS
