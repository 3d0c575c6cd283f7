#!/bin/bash
# diskbuf-maxdisk: remusd --max-disk bounds the disk data one epoch may
# make it buffer (issue 12: a peer cannot make the backup hold without
# bound).  A proc guest with a replicated disk, epochs every 2 s, remusd
# --max-disk 1M: small writes go through epoch after epoch; then 3 MiB
# written within one epoch.  remusd refuses that epoch with one line
# naming --max-disk, stands down (B1: a limit of its own is never the
# primary's loss): no activation, the replica kept at the epoch before;
# remus hears the ERROR, releases its output and, its disk needing a
# --disk-sync to re-protect (not given here), exits 4 saying so; the
# guest runs on.
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires qemu-io --version
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (the proc guest driver)"
	exit 77
fi

mkdir -p "$T/state"
mkimage "$T/p.img" 8
cp "$T/p.img" "$T/b.img"
start_guest g remus-dirtier --pages 20 --working-set 200
G=$GUEST_PID
port=$(pick_port)
start remusd remusd --no-fence -d -D "$T/state" --disk "$T/b.img" --max-disk 1M \
	--insecure --listen "127.0.0.1:$port" \
	--guest "g=$(command -v remus-dirtier) --pages 20 --working-set 200"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd does not listen"
start remus remus -i 2000 --insecure --name g --disk "$T/p.img" \
	--nbd-listen "unix:$T/nbd.sock" "proc:$G" "127.0.0.1:$port"
R=$LAST_PID
wait_for 20 test -S "$T/nbd.sock" || fail "no NBD socket"
uri="nbd+unix:///?socket=$T/nbd.sock"
wait_for 30 test -s "$T/state/g/proc-epoch" || fail "nothing committed"
# Below the limit: 256 KiB an epoch, three epochs.
for i in 1 2 3; do
	qemu-io -f raw -c "write -P $i $((i << 20)) 256k" -c flush "$uri" >/dev/null ||
		fail "small write $i"
	e=$(cat "$T/state/g/proc-epoch")
	wait_for 10 sh -c "[ \$(cat '$T/state/g/proc-epoch') -gt $e ]" ||
		fail "no epoch committed after a 256 KiB write"
done
grep -q "max-disk" "$T/remusd.log" && fail "remusd refused an epoch below the limit: $(grep max-disk "$T/remusd.log")"
kept=$(cat "$T/state/g/proc-epoch")
echo "three epochs of 256 KiB committed (epoch $kept)"
# Above it: 3 MiB in one epoch (written at once, well inside 2 s).
qemu-io -f raw -c "write -P 9 4M 3M" -c flush "$uri" >/dev/null || fail "the 3 MiB write"
wait_for 15 grep -q "more than 1 MiB of device records in one epoch (--max-disk)" "$T/remusd.log" ||
	fail "remusd did not refuse the epoch: $(tail -3 "$T/remusd.log")"
echo "remusd: $(grep -m1 'max-disk' "$T/remusd.log" | cut -d' ' -f2-)"
wait_for 10 grep -Eiq 'error|stood down' "$T/remus.log" ||
	fail "remus did not hear the backup stand down: $(tail -3 "$T/remus.log")"
grep -q "STOOD_DOWN" "$T/remusd.log" || fail "remusd did not stand down"
grep -q "replica: activated" "$T/remusd.log" && fail "remusd activated on its own limit"
[ -s "$T/state/g/proc-guest.pid" ] && fail "a guest was started on the backup"
k=$(cat "$T/state/g/proc-epoch")
[ "$k" -ge "$kept" ] || fail "the replica went back from epoch $kept to $k"
kill -0 "$G" 2>/dev/null || fail "the primary's guest died"
grep -q "continues unprotected" "$T/remus.log" || fail "remus did not say the guest runs on unprotected"
wait_for 10 sh -c "! kill -0 $R 2>/dev/null" || fail "remus still runs"
rc=0
wait "$R" || rc=$?
[ "$rc" = 4 ] || fail "remus exited $rc, want 4 (no --disk-sync to re-protect the disk)"
echo "stood down, replica kept at epoch $k; the primary's guest runs on, remus exited 4"
echo PASS
