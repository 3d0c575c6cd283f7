#!/bin/bash
# diskbuf-multi: a guest with two replicated disks through the real
# engine.  remus serves xvda and xvdb (--disk NAME=IMAGE, one NBD address,
# an export each); remusd holds its copies for that guest (--disk
# g:NAME=IMAGE), given in the other order: they are matched by name.  A
# client (nbd-acked-writer.py) writes both disks and records every write
# whose epoch the backup acknowledged -- what a guest's client would have
# seen the reply of.  remus is killed -9 at a random moment; remusd fails
# over, and then:
#  - every acknowledged write, on both disks, reads back from remusd's
#    images;
#  - both images equal the primary's at the *same* epoch, the one remusd
#    committed last (REMUS_DISKBUF_DIGESTS: each disk's digest, taken
#    under its write lock at that epoch's cut): the backup never holds one
#    disk's writes of an epoch without the other's.
# Odd rounds copy the disks before remus starts (remus-disksync); even
# rounds copy both live (--disk-sync, --disk-sync-listen g=ADDR), each over
# its own connection naming its disk, while the client writes; killed
# before both copies are complete, remusd must refuse to activate.
# Rounds 5 and 6 do the same with each disk served by a remus-diskd of its
# own (--disk-server NAME=SOCKET), as a Xen guest's disks are; round 6
# copies both live, each remus-diskd sending its disk's copy.
# Then the refusals: a disk without an image, a size that differs.
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires test -x "$REMUS_BUILD/bin/remus"
requires test -x "$REMUS_BUILD/bin/remus-dirtier"
requires test -x "$REMUS_BUILD/bin/remus-diskd"
requires python3 -c 'import json, socket, struct'
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (the proc guest driver)"
	exit 77
fi
WRITER="$(dirname "$0")/nbd-acked-writer.py"
# A guest a remusd activated runs from $T/ROUND/state/g: stop it whatever
# way the test ends (functions.sh looks only two levels down).
cleanup_fn 'for p in $(cat "$T"/*/state/*/proc-guest.pid 2>/dev/null); do _ours "$p" && kill -9 "$p"; done'

DISKS="xvda xvdb"
MiB=8

# start_pair R SYNC_P SYNC_B EXTRA_B...: guest, remusd and remus of round
# R's directory; sets RPID.  With DISKD=1 each disk is served by a
# remus-diskd of its own.
start_pair() {
	local R=$1 sync_p=$2 sync_b=$3 port d disks
	shift 3
	mkdir -p "$R/state"
	(remus-dirtier --pages 20 --working-set 200 --pidfile "$R/guest.pid" \
	    >"$R/guest.log" 2>&1 &)
	wait_for test -s "$R/guest.pid" || fail "guest did not start"
	_cleanup_pids="$_cleanup_pids $(cat "$R/guest.pid")"
	port=$(pick_port)
	# shellcheck disable=SC2086  # $sync_b: the flag and its value
	# T 3 s: a loaded host (the labs run beside) stalls a primary for
	# over a second now and then, and this test is not about silence.
	(remusd --no-fence -d -t 3000 -D "$R/state" --insecure --listen "127.0.0.1:$port" \
	    --guest "g=remus-dirtier --pages 20 --working-set 200 --pidfile $R/guest.pid" \
	    "$@" $sync_b >"$R/remusd.log" 2>&1 & echo $! >"$R/remusd.pid")
	wait_for test -s "$R/remusd.pid"
	_cleanup_pids="$_cleanup_pids $(cat "$R/remusd.pid")"
	wait_for sh -c "ss -Htln 'sport = :$port' | grep -q ." ||
		fail "$R: remusd does not listen"
	if [ "${DISKD:-0}" = 1 ]; then
		for d in a b; do
			(remus-diskd --nbd-listen "unix:$R/nbd-$d.sock" \
			    --control "$R/ctl-$d.sock" "$R/p$d.img" \
			    >"$R/diskd-$d.log" 2>&1 & echo $! >"$R/diskd-$d.pid")
			wait_for test -S "$R/ctl-$d.sock" || fail "$R: no remus-diskd $d"
			_cleanup_pids="$_cleanup_pids $(cat "$R/diskd-$d.pid")"
		done
		disks="--disk-server xvda=$R/ctl-a.sock --disk-server xvdb=$R/ctl-b.sock"
	else
		disks="--disk xvda=$R/pa.img --disk xvdb=$R/pb.img --nbd-listen unix:$R/nbd.sock"
	fi
	# shellcheck disable=SC2086
	(env REMUS_DISKBUF_DIGESTS="$R/dg" remus -i $((30 + RANDOM % 50)) \
	    --insecure --name g --ctl-socket "$R/ctl.sock" $disks $sync_p \
	    "proc:$(cat "$R/guest.pid")" "127.0.0.1:$port" \
	    >"$R/remus.log" 2>&1 & echo $! >"$R/remus.pid")
	wait_for test -s "$R/remus.pid"
	RPID=$(cat "$R/remus.pid")
	_cleanup_pids="$_cleanup_pids $RPID"
}

ROUNDS=${ROUNDS:-6}
proved=0 acked_total=0
for round in $(seq "$ROUNDS"); do
	R="$T/r$round"
	mkdir -p "$R"
	for d in a b; do
		mkimage "$R/p$d.img" $MiB
	done
	live=$((round % 2 == 0))
	DISKD=$((round > 4))
	if [ "$live" = 1 ]; then
		# Old copies: every block differs; 8 MiB/s a disk makes the
		# copies take about two seconds, the client writing.
		truncate -s ${MiB}M "$R/ba.img" "$R/bb.img"
		sport=$(pick_port)
		sync_p="--disk-sync 127.0.0.1:$sport --disk-sync-rate 8M"
		sync_b="--disk-sync-listen g=127.0.0.1:$sport"
	else
		sync_images "$R/pa.img" "$R/ba.img" -c || fail "initial sync a"
		sync_images "$R/pb.img" "$R/bb.img" -c || fail "initial sync b"
		sync_p="" sync_b=""
	fi
	start_pair "$R" "$sync_p" "$sync_b" --disk "g:xvdb=$R/bb.img" --disk "g:xvda=$R/ba.img"
	wait_for test -S "$R/ctl.sock" || fail "round $round: no control socket"
	if [ "$DISKD" = 1 ]; then
		for d in a b; do
			wait_for grep -q "remus (pid $RPID) attached" "$R/diskd-$d.log" ||
				fail "round $round: remus did not attach to remus-diskd $d"
		done
		exports="xvda@$R/nbd-a.sock xvdb@$R/nbd-b.sock"
	else
		wait_for test -S "$R/nbd.sock" || fail "round $round: no NBD socket"
		wait_for grep -q 'serving NBD export "xvdb"' "$R/remus.log" ||
			fail "round $round: the disks are not served"
		exports=$DISKS
	fi
	# shellcheck disable=SC2086
	(python3 "$WRITER" "$R/nbd.sock" "$R/ctl.sock" "$R/acked" $exports \
	    >"$R/writer.log" 2>&1 & echo $! >"$R/writer.pid")
	wait_for test -s "$R/writer.pid"
	_cleanup_pids="$_cleanup_pids $(cat "$R/writer.pid")"
	# Its first acknowledged batch, then a random moment: on a loaded
	# host the writer may take seconds to start at all.
	wait_for 60 test -s "$R/acked" ||
		fail "round $round: no write acknowledged: $(cat "$R/writer.log")"
	sleep "$((1 + RANDOM % 3)).$((RANDOM % 10))"
	kill -9 "$RPID"
	wait_for grep -q "session over" "$R/remusd.log" ||
		fail "round $round: remusd did not end the session"
	wait_for sh -c "! kill -0 $(cat "$R/writer.pid") 2>/dev/null" ||
		fail "round $round: the writer did not notice remus went"
	[ -s "$R/state/g/proc-guest.pid" ] && kill -9 "$(cat "$R/state/g/proc-guest.pid")" 2>/dev/null
	kill "$(cat "$R/remusd.pid")" 2>/dev/null || true
	for d in a b; do
		[ -s "$R/diskd-$d.pid" ] && kill "$(cat "$R/diskd-$d.pid")" 2>/dev/null
	done
	grep -q "disk xvd[ab] (index [01]) of the primary is $R/b[ab].img" "$R/remusd.log" ||
		fail "round $round: no disk matched"
	grep -q "disk xvda (index 0) of the primary is $R/ba.img" "$R/remusd.log" &&
	    grep -q "disk xvdb (index 1) of the primary is $R/bb.img" "$R/remusd.log" ||
		fail "round $round: the disks were not matched by name"

	if grep -q "initial disk sync of .* is not complete" "$R/remusd.log"; then
		grep -q "activated from epoch" "$R/remusd.log" &&
			fail "round $round: activated although a disk's sync was incomplete"
		echo "round $round: killed during the live sync: activation refused"
		continue
	fi
	grep -q "activated from epoch" "$R/remusd.log" ||
		fail "round $round: no failover: $(grep -i 'fail\|refus' "$R/remusd.log" | tail -3)"
	[ "$live" = 1 ] && { [ "$(grep -c "initial sync: received" "$R/remusd.log")" = 2 ] ||
		fail "round $round: not two live copies"; }
	# Both disks at the same committed epoch, each as the primary had it.
	n=$(sed -n 's/.*holds the disk of committed epoch \([0-9]*\).*/\1/p' "$R/remusd.log" | sort -u)
	[ "$(echo "$n" | wc -l)" = 1 ] && [ -n "$n" ] ||
		fail "round $round: the disks hold different epochs: $n"
	for d in a b; do
		want=$(awk -v n="$n" -v d="xvd$d" '$1 == n && $3 == d { print $2 }' "$R/dg")
		[ -n "$want" ] || fail "round $round: no digest of xvd$d at epoch $n"
		[ "$want" = "$(digest "$R/b$d.img")" ] ||
			fail "round $round: xvd$d is not the primary's at epoch $n"
	done
	# Every acknowledged write, on both disks.
	touch "$R/acked"
	python3 - "$R/acked" "$R/ba.img" "$R/bb.img" <<'PY' || fail "round $round: an acknowledged write is not on the backup"
import sys
log, imgs = sys.argv[1], {"xvda": sys.argv[2], "xvdb": sys.argv[3]}
files = {k: open(v, "rb") for k, v in imgs.items()}
n = {"xvda": 0, "xvdb": 0}
for line in open(log):
    e, b, q = line.split()
    b = int(b)
    tag = f"{e}:{b}:{q}:".encode()
    want = (tag * (4096 // len(tag) + 1))[:4096]
    f = files[e]
    f.seek(b * 4096)
    if f.read(4096) != want:
        sys.exit(f"{e} block {b} (write {q}) is missing")
    n[e] += 1
print(f"{n['xvda']} + {n['xvdb']} acknowledged writes read back")
PY
	acked=$(wc -l <"$R/acked")
	acked_total=$((acked_total + acked))
	echo "round $round: $([ "$DISKD" = 1 ] && echo "remus-diskd, ")$([ "$live" = 1 ] && echo "live sync of both, ")both disks at committed epoch $n of $(tail -1 "$R/dg" | cut -d' ' -f1), $acked acknowledged writes on the backup"
	[ "$n" -gt 1 ] && [ "$acked" -gt 0 ] && proved=$((proved + 1))
done
[ "$proved" -gt 0 ] || fail "no round committed acknowledged writes: nothing was proved"

# Refusals, one line each, before any epoch: a disk of the primary
# without an image here; an image whose size differs.
DISKD=0
R="$T/refuse"
mkdir -p "$R"
mkimage "$R/pa.img" $MiB
mkimage "$R/pb.img" $MiB
cp "$R/pa.img" "$R/ba.img"
cp "$R/pb.img" "$R/bc.img"
start_pair "$R" "" "" --disk "g:xvda=$R/ba.img" --disk "g:xvdc=$R/bc.img"
wait_for grep -q "the primary's disk xvdb has no image on this backup (it holds xvda, xvdc)" "$R/remusd.log" ||
	fail "no refusal of the unmatched disk: $(tail -5 "$R/remusd.log")"
wait_for sh -c "! kill -0 $RPID 2>/dev/null" || fail "remus went on after the refusal"
grep -q "backup reported error 1: the primary's disk xvdb has no image" "$R/remus.log" ||
	fail "remus did not say why: $(tail -3 "$R/remus.log")"
grep -q "epoch 1: committed" "$R/remusd.log" && fail "an epoch committed after the refusal"
echo "refused: $(grep -o "the primary's disk xvdb has no image.*" "$R/remusd.log" | head -1)"
kill "$(cat "$R/remusd.pid")" 2>/dev/null || true
R="$T/refuse2"
mkdir -p "$R"
mkimage "$R/pa.img" $MiB
mkimage "$R/pb.img" $MiB
cp "$R/pa.img" "$R/ba.img"
truncate -s $((MiB / 2))M "$R/bb.img"
start_pair "$R" "" "" --disk "g:xvda=$R/ba.img" --disk "g:xvdb=$R/bb.img"
wait_for grep -q "image size mismatch: the backup image $R/bb.img is 4194304 bytes, the primary's disk xvdb 8388608 bytes" "$R/remusd.log" ||
	fail "no refusal of the size: $(tail -5 "$R/remusd.log")"
echo "refused: image size mismatch"
echo "PASS: $proved rounds proved, $acked_total acknowledged writes checked"
