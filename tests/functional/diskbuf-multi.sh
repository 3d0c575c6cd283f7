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
cleanup_fn 'for p in $(cat "$T"/*/state/*/proc-guest.pid "$T"/*/orig/state/*/proc-guest.pid 2>/dev/null); do _ours "$p" && kill -9 "$p"; done'

DISKS="xvda xvdb"
MiB=8

# start_remusd R PORT SYNC_B EXTRA_B...: round R's remusd on PORT (its
# state directory R/state, or STATE); again on the same state directory
# and images after a kill (reprotect).
start_remusd() {
	local R=$1 port=$2 sync_b=$3
	shift 3
	# shellcheck disable=SC2086  # $sync_b: the flag and its value
	# T 3 s: a loaded host (the labs run beside) stalls a primary for
	# over a second now and then, and this test is not about silence.
	(remusd --no-fence -d -t 3000 -D "${STATE:-$R/state}" --insecure --listen "127.0.0.1:$port" \
	    --guest "g=remus-dirtier --pages 20 --working-set 200 --pidfile $R/guest.pid" \
	    "$@" $sync_b >>"$R/remusd.log" 2>&1 & echo $! >"$R/remusd.pid")
	wait_for test -s "$R/remusd.pid"
	_cleanup_pids="$_cleanup_pids $(cat "$R/remusd.pid")"
	wait_for sh -c "ss -Htln 'sport = :$port' | grep -q ." ||
		fail "$R: remusd does not listen"
}

# start_pair R SYNC_P SYNC_B EXTRA_B...: guest, remusd and remus of round
# R's directory; sets RPID and PORT.  With DISKD=1 each disk is served by
# a remus-diskd of its own.  REMUS_EXTRA: more flags for remus.
start_pair() {
	local R=$1 sync_p=$2 sync_b=$3 d disks
	shift 3
	mkdir -p "$R/state"
	(remus-dirtier --pages 20 --working-set 200 --pidfile "$R/guest.pid" \
	    >"$R/guest.log" 2>&1 &)
	wait_for test -s "$R/guest.pid" || fail "guest did not start"
	_cleanup_pids="$_cleanup_pids $(cat "$R/guest.pid")"
	PORT=$(pick_port)
	start_remusd "$R" "$PORT" "$sync_b" "$@"
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
	    ${REMUS_EXTRA:-} "proc:$(cat "$R/guest.pid")" "127.0.0.1:$PORT" \
	    >"$R/remus.log" 2>&1 & echo $! >"$R/remus.pid")
	wait_for test -s "$R/remus.pid"
	RPID=$(cat "$R/remus.pid")
	_cleanup_pids="$_cleanup_pids $RPID"
}

# check_acked IMG_A IMG_B LOG...: every write in the LOGs ("EXPORT BLOCK
# SEQ", nbd-acked-writer.py) reads back from the images of xvda and xvdb;
# prints how many.
check_acked() {
	local a=$1 b=$2
	shift 2
	cat "$@" 2>/dev/null >"$T/acked.check"
	python3 - "$T/acked.check" "$a" "$b" <<'PY'
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
}

# check_epoch LOG DG IMG_A IMG_B: the images are both the primary's at
# the one epoch remusd (LOG) committed last, by the primary's digests
# (DG); sets N to that epoch.
check_epoch() {
	local log=$1 dg=$2 want d img
	N=$(sed -n 's/.*holds the disk of committed epoch \([0-9]*\).*/\1/p' "$log" | sort -u)
	[ "$(echo "$N" | wc -l)" = 1 ] && [ -n "$N" ] ||
		fail "the disks hold different epochs: $N"
	for d in a b; do
		[ $d = a ] && img=$3 || img=$4
		want=$(awk -v n="$N" -v d="xvd$d" '$1 == n && $3 == d { print $2 }' "$dg")
		[ -n "$want" ] || fail "no digest of xvd$d at epoch $N"
		[ "$want" = "$(digest "$img")" ] ||
			fail "xvd$d is not the primary's at epoch $N"
	done
}

# ---- Re-protection (issue 11): diskbuf-multi.sh reprotect | failback ----

# resync_counts LOG WHAT: "xvda S/N xvdb S/N" of the last WHAT ("disk
# resync" or "initial sync") of each disk in remus's LOG: blocks sent of
# blocks compared; checks both disks had one.
resync_counts() {
	local log=$1 what=$2 out="" d line
	for d in a b; do
		line=$(grep "$what of [^ ]*/[pb]$d.img done" "$log" | tail -1)
		[ -n "$line" ] || fail "no $what of xvd$d done: $(grep -i sync "$log" | tail -3)"
		out="$out xvd$d $(echo "$line" | sed -n 's/.*done: \([0-9]*\) of \([0-9]*\) blocks sent.*/\1\/\2/p')"
	done
	echo "${out# }"
}

# The exports of round R's disks, as nbd-acked-writer.py takes them.
exports_of() {
	if [ "${DISKD:-0}" = 1 ]; then
		echo "xvda@$1/nbd-a.sock xvdb@$1/nbd-b.sock"
	else
		echo "$DISKS"
	fi
}

# The log(s) that say how each disk's sync went: remus's, or with
# DISKD=1 the remus-diskd ones, which send the copies.
sync_log() {
	if [ "${DISKD:-0}" = 1 ]; then
		cat "$1"/diskd-a.log "$1"/diskd-b.log >"$1/sync.log"
	else
		cp "$1/remus.log" "$1/sync.log"
	fi
	echo "$1/sync.log"
}

# The writer on R's export and control socket, in RANGE, logging to LOG.
start_writer() {
	local R=$1 range=$2 log=$3 nbd=${4:-$1/nbd.sock} ctl=${5:-$1/ctl.sock}
	# shellcheck disable=SC2046
	(WRITER_RANGE=$range python3 "$WRITER" "$nbd" "$ctl" "$log" $(exports_of "$R") \
	    >>"$R/writer.log" 2>&1 & echo $! >"$R/writer.pid")
	wait_for test -s "$R/writer.pid"
	_cleanup_pids="$_cleanup_pids $(cat "$R/writer.pid")"
}

# two_synced_disks R: R's two 64 MiB disks, primary and backup images
# equal (64 blocks of the sync's 1 MiB each, so that the few written
# while unprotected are a small part of a disk), and one sync port:
# sets the caller's sport, sync_p (remus's flag) and sync_b (remusd's).
two_synced_disks() {
	local d
	mkdir -p "$1"
	for d in a b; do
		mkimage "$1/p$d.img" 64
		cp "$1/p$d.img" "$1/b$d.img"
	done
	sport=$(pick_port)
	sync_p="--disk-sync 127.0.0.1:$sport"
	sync_b="--disk-sync-listen g=127.0.0.1:$sport"
}

# reprotect: remusd killed -9 under the writer and restarted on the same
# state directory and images; remus runs on unprotected (a client writes
# there, its writes logged as it sees their replies), reconnects by
# itself, and resyncs each disk by the live sync: only the blocks that
# differ go, the unprotected writes among them.  Then remus dies: remusd
# activates with every acknowledged and every unprotected write on both
# disks, both disks at the primary's digest of the committed epoch.
reprotect() {
	local R="$T/reprotect" sport sync_p sync_b s0 s1 a0 unprot
	two_synced_disks "$R"
	REMUS_EXTRA="--reconnect-interval 500" start_pair "$R" "$sync_p" "$sync_b" \
	    --disk "g:xvda=$R/ba.img" --disk "g:xvdb=$R/bb.img"
	wait_for 30 eval '[ "$(grep -c "initial sync of .* done" "$(sync_log "$R")")" = 2 ]' ||
		fail "reprotect: no initial sync: $(tail -3 "$R/remus.log")"
	s0=$(resync_counts "$(sync_log "$R")" "initial sync")
	echo "initial sync (identical copies): blocks sent/compared $s0"
	# A new backup elsewhere would never get the disks' copies.
	out=$(remusctl -S "$R/ctl.sock" reprotect "127.0.0.2:$PORT" 2>&1) &&
		fail "reprotect: remusctl reprotect to another host than --disk-sync's was taken"
	case $out in
	*"disks resync to --disk-sync 127.0.0.1:$sport at every session, not to 127.0.0.2"*) ;;
	*) fail "reprotect: remusctl reprotect refused without the reason: $out" ;;
	esac
	echo "remusctl reprotect elsewhere refused: the guest${out##*: the guest}"
	start_writer "$R" 0:0.45 "$R/acked"
	wait_for 60 test -s "$R/acked" || fail "reprotect: no write acknowledged: $(cat "$R/writer.log")"
	sleep 1.$((RANDOM % 10))
	# The backup host's remusd dies.
	kill -9 "$(cat "$R/remusd.pid")"
	a0=$(wc -l <"$R/acked")
	wait_for 20 grep -q "continues unprotected" "$R/remus.log" ||
		fail "reprotect: remus did not give the backup up: $(tail -3 "$R/remus.log")"
	grep -q "not reconnecting" "$R/remus.log" &&
		fail "reprotect: remus will not reconnect: $(grep 'not reconnecting' "$R/remus.log")"
	echo "remusd killed after $a0 acknowledged writes: $(grep -m1 'continues unprotected' "$R/remus.log" | sed 's/.*remus: //')"
	# Unprotected: a client writes 4 batches (16 blocks a disk) and sees
	# every reply.
	# shellcheck disable=SC2046
	WRITER_NOACK=4 WRITER_RANGE=0.45:0.5 python3 "$WRITER" "$R/nbd.sock" \
	    none "$R/unprot" $(exports_of "$R") >>"$R/writer.log" 2>&1 ||
		fail "reprotect: unprotected writes failed: $(tail -3 "$R/writer.log")"
	unprot=$(wc -l <"$R/unprot")
	[ "$unprot" = 32 ] || fail "reprotect: $unprot unprotected writes, not 32"
	kill -0 "$RPID" 2>/dev/null || fail "reprotect: remus exited: $(tail -3 "$R/remus.log")"
	# remusd again, on the same state directory and images.
	echo "--- restarted" >>"$R/remusd.log"
	start_remusd "$R" "$PORT" "$sync_b" --disk "g:xvda=$R/ba.img" --disk "g:xvdb=$R/bb.img"
	wait_for 40 eval '[ "$(grep -c "disk resync of .* done" "$(sync_log "$R")")" = 2 ]' ||
		fail "reprotect: no disk resync: $(grep -Ei 'sync|reconnect|backup' "$R/remus.log" | tail -5)"
	grep -q "protecting 2 disks again from epoch" "$R/remus.log" ||
		fail "reprotect: remus did not say it protects the disks again"
	s1=$(resync_counts "$(sync_log "$R")" "disk resync")
	echo "disk resync after the restart: blocks sent/compared $s1"
	# Only what differs: some blocks (the unprotected writes are on no
	# backup yet), far from all.
	for c in $(echo "$s1" | awk '{ print $2, $4 }'); do
		[ "${c%/*}" -gt 0 ] || fail "reprotect: a disk resync sent nothing ($s1)"
		[ "$((${c%/*} * 2))" -lt "${c#*/}" ] || fail "reprotect: not incremental ($s1)"
	done
	wait_for 10 grep -q "initial sync complete" "$R/remusd.log" ||
		fail "reprotect: remusd did not complete the copies"
	# Epochs and acknowledged writes go on after the resync.
	wait_for 30 sh -c "[ \$(wc -l <'$R/acked') -gt $((a0 + 40)) ]" ||
		fail "reprotect: no writes acknowledged after the resync: $(tail -3 "$R/writer.log")"
	sleep 0.$((RANDOM % 10))
	# The primary dies.
	kill -9 "$RPID"
	wait_for grep -q "activated from epoch" "$R/remusd.log" ||
		fail "reprotect: no failover: $(grep -i 'fail\|refus' "$R/remusd.log" | tail -3)"
	wait_for sh -c "! kill -0 $(cat "$R/writer.pid") 2>/dev/null" ||
		fail "reprotect: the writer did not notice remus went"
	kill "$(cat "$R/remusd.pid")" 2>/dev/null || true
	check_epoch "$R/remusd.log" "$R/dg" "$R/ba.img" "$R/bb.img"
	out=$(check_acked "$R/ba.img" "$R/bb.img" "$R/acked" "$R/unprot") ||
		fail "reprotect: a write is not on the backup: $out"
	echo "failover: both disks at committed epoch $N of $(tail -1 "$R/dg" | cut -d' ' -f1); $out ($unprot of them unprotected, $(($(wc -l <"$R/acked") - a0)) acknowledged after the reconnect)"
	echo "PASS: remusd restarted, $s1 blocks resynced$([ "${DISKD:-0}" = 1 ] && echo " by remus-diskd"), $(($(wc -l <"$R/acked") + unprot)) writes checked"
	exit 0
}

# failback: remus dies, remusd activates; the activated guest is
# protected back to the original host with the one command of
# docs/failover.md (its disks resynced by the live sync: only what
# differs goes); then the former backup dies and the original host
# activates: every write acknowledged under either protection is on the
# original host's disks.
failback() {
	local R="$T/failback" sport sync_p sync_b port2 sport2 a1 s2 gpid
	two_synced_disks "$R"
	start_pair "$R" "$sync_p" "$sync_b" --disk "g:xvda=$R/ba.img" --disk "g:xvdb=$R/bb.img"
	start_writer "$R" 0:0.45 "$R/acked"
	wait_for 60 test -s "$R/acked" || fail "failback: no write acknowledged: $(cat "$R/writer.log")"
	sleep 1.$((RANDOM % 10))
	# 1. The original host dies (its remus; its guest too).
	kill -9 "$RPID" "$(cat "$R/guest.pid")"
	wait_for grep -q "activated from epoch" "$R/remusd.log" ||
		fail "failback: no failover: $(grep -i 'fail\|refus' "$R/remusd.log" | tail -3)"
	wait_for sh -c "! kill -0 $(cat "$R/writer.pid") 2>/dev/null" ||
		fail "failback: the writer did not notice remus went"
	check_epoch "$R/remusd.log" "$R/dg" "$R/ba.img" "$R/bb.img"
	out=$(check_acked "$R/ba.img" "$R/bb.img" "$R/acked") ||
		fail "failback: after failover 1: $out"
	a1=$(wc -l <"$R/acked")
	gpid=$(cat "$R/state/g/proc-guest.pid")
	echo "failover 1: the backup activated (pid $gpid), both disks at epoch $N; $out"
	# Its remusd is done (the guest runs on without it).
	kill "$(cat "$R/remusd.pid")"
	wait_for sh -c "! kill -0 $(cat "$R/remusd.pid") 2>/dev/null"
	kill -0 "$gpid" 2>/dev/null || fail "failback: the activated guest died with remusd"
	# Unprotected there, the guest writes its disks (nothing serves
	# them over NBD before the failback's remus: the images directly).
	WRITER_NOACK=4 WRITER_RANGE=0.45:0.5 python3 "$WRITER" none none \
	    "$R/unprot" xvda="$R/ba.img" xvdb="$R/bb.img" >>"$R/writer.log" 2>&1 ||
		fail "failback: unprotected writes failed: $(tail -3 "$R/writer.log")"
	[ "$(wc -l <"$R/unprot")" = 32 ] || fail "failback: not 32 unprotected writes"
	# 2. The repaired original host: remusd on its own state directory
	# with its old images (they hold an epoch the backup never
	# committed: the resync rolls those blocks back).
	mkdir -p "$R/orig"
	port2=$(pick_port) sport2=$(pick_port)
	STATE="$R/orig/state" start_remusd "$R/orig" "$port2" \
	    "--disk-sync-listen g=127.0.0.1:$sport2" \
	    --disk "g:xvda=$R/pa.img" --disk "g:xvdb=$R/pb.img"
	# The one command, on the former backup (docs/failover.md).
	(env REMUS_DISKBUF_DIGESTS="$R/dg2" remus -i 50 --insecure --name g \
	    --ctl-socket "$R/orig/ctl.sock" --nbd-listen "unix:$R/orig/nbd.sock" \
	    --disk xvda="$R/ba.img" --disk xvdb="$R/bb.img" \
	    --disk-sync "127.0.0.1:$sport2" "proc:$gpid" "127.0.0.1:$port2" \
	    >"$R/orig/remus.log" 2>&1 & echo $! >"$R/orig/remus.pid")
	wait_for test -s "$R/orig/remus.pid"
	_cleanup_pids="$_cleanup_pids $(cat "$R/orig/remus.pid")"
	wait_for 40 sh -c "[ \$(grep -c 'initial sync of .* done' '$R/orig/remus.log') = 2 ]" ||
		fail "failback: no disk sync: $(tail -3 "$R/orig/remus.log")"
	s2=$(resync_counts "$R/orig/remus.log" "initial sync")
	echo "failback: protecting proc:$gpid to the original host; its disks resynced, blocks sent/compared $s2"
	for c in $(echo "$s2" | awk '{ print $2, $4 }'); do
		[ "${c%/*}" -gt 0 ] || fail "failback: a disk sync sent nothing ($s2)"
		[ "$((${c%/*} * 2))" -lt "${c#*/}" ] || fail "failback: not incremental ($s2)"
	done
	start_writer "$R/orig" 0.5:1 "$R/acked2"
	wait_for 60 sh -c "[ \$(wc -l <'$R/acked2' 2>/dev/null || echo 0) -gt 40 ]" ||
		fail "failback: no write acknowledged: $(tail -3 "$R/orig/writer.log")"
	sleep 0.$((RANDOM % 10))
	# 3. The former backup dies: the original host activates.
	kill -9 "$(cat "$R/orig/remus.pid")" "$gpid"
	wait_for grep -q "activated from epoch" "$R/orig/remusd.log" ||
		fail "failback: no failover 2: $(grep -i 'fail\|refus' "$R/orig/remusd.log" | tail -3)"
	wait_for sh -c "! kill -0 $(cat "$R/orig/writer.pid") 2>/dev/null" ||
		fail "failback: the writer did not notice remus went"
	kill "$(cat "$R/orig/remusd.pid")" 2>/dev/null || true
	check_epoch "$R/orig/remusd.log" "$R/dg2" "$R/pa.img" "$R/pb.img"
	out=$(check_acked "$R/pa.img" "$R/pb.img" "$R/acked" "$R/unprot" "$R/acked2") ||
		fail "failback: after failover 2: $out"
	echo "failover 2: the original host activated, both disks at epoch $N; $out (32 written unprotected before the failback)"
	echo "PASS: failover, failback ($s2 blocks synced back), failover: $(($(wc -l <"$R/acked") + 32 + $(wc -l <"$R/acked2"))) writes checked ($a1 acknowledged before the failback)"
	exit 0
}

case ${1:-rounds} in
rounds) ;;
reprotect|failback) "$1" ;;
reprotect-diskd) DISKD=1 reprotect ;;
*) fail "usage: diskbuf-multi.sh [rounds|reprotect|reprotect-diskd|failback]" ;;
esac

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
	check_epoch "$R/remusd.log" "$R/dg" "$R/ba.img" "$R/bb.img"
	n=$N
	# Every acknowledged write, on both disks.
	check_acked "$R/ba.img" "$R/bb.img" "$R/acked" ||
		fail "round $round: an acknowledged write is not on the backup"
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
