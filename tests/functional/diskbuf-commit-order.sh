#!/bin/bash
# diskbuf-commit-order: the backup's disk cannot apply an epoch (injected
# EIO).  The disk rolls back to the last committed epoch, and the memory
# must stay there too: the replica keeps the memory and the disk of ONE
# checkpoint.  (Committing memory before the devices once left epoch n's
# memory over epoch n - 1's disk.)  A commit that fails is this backup's
# error, not the primary's loss: remusd stands down (ERROR, nothing
# activated, docs/failover.md B1) and remus releases at once.
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires qemu-io --version
requires test -x "$REMUS_BUILD/bin/remus"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (the proc guest driver)"
	exit 77
fi

mkdir -p "$T/state"
mkimage "$T/p.img" 4
cp "$T/p.img" "$T/b.img"
cp "$T/p.img" "$T/orig.img"
(remus-dirtier --pages 20 --working-set 200 --pidfile "$T/guest.pid" \
    >"$T/guest.log" 2>&1 &)
wait_for test -s "$T/guest.pid" || fail "guest did not start"
_cleanup_pids="$_cleanup_pids $(cat "$T/guest.pid")"
port=$(pick_port)
(REMUS_FAULT=diskbuf-eio remusd --no-fence -d -D "$T/state" --disk "$T/b.img" \
    --guest "g=remus-dirtier --pages 20 --working-set 200 --pidfile $T/guest.pid" \
    --insecure --listen "127.0.0.1:$port" >"$T/remusd.log" 2>&1 & echo $! >"$T/remusd.pid")
wait_for test -s "$T/remusd.pid"
_cleanup_pids="$_cleanup_pids $(cat "$T/remusd.pid")"
wait_for sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd does not listen"
(remus -i 50 --insecure --name g --disk "$T/p.img" --nbd-listen "unix:$T/nbd.sock" \
    "proc:$(cat "$T/guest.pid")" "127.0.0.1:$port" >"$T/remus.log" 2>&1 &
    echo $! >"$T/remus.pid")
wait_for test -S "$T/nbd.sock" || fail "no NBD socket"
_cleanup_pids="$_cleanup_pids $(cat "$T/remus.pid")"
# Let a few memory-only epochs commit, then write: the first epoch with
# disk writes fails to apply on the backup.
wait_for grep -q "epoch 1: committed" "$T/remusd.log" || fail "no first commit"
sleep 0.5
qemu-io -f raw -c "write -P 0x5a 0 64k" "nbd+unix:///?socket=$T/nbd.sock" \
    >/dev/null 2>&1 || fail "qemu-io write"
wait_for grep -q "RECEIVING -> STOOD_DOWN" "$T/remusd.log" ||
	fail "remusd did not stand down after the disk error"
grep -q "activated from epoch" "$T/remusd.log" && fail "a failed commit activated the guest"
[ ! -e "$T/state/g/proc-guest.pid" ] || fail "a guest was activated"
wait_for grep -q "stood down" "$T/remus.log" || fail "the ERROR did not reach remus"
mem=$(cat "$T/state/g/proc-epoch")
kept=$(sed -n 's/.*dropping epoch [0-9]*, keeping epoch \([0-9]*\).*/\1/p' "$T/remusd.log" | tail -1)
[ -n "$kept" ] || fail "no 'keeping epoch' line"
[ "$mem" = "$kept" ] || fail "replica memory at epoch $mem, but epoch $kept was kept"
# The only disk write never committed: the backup disk is the original.
cmp -s "$T/orig.img" "$T/b.img" || fail "backup disk changed by an epoch that failed"
echo "stood down: memory and disk both at committed epoch $mem, nothing activated"
echo PASS
