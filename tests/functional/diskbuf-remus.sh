#!/bin/bash
# diskbuf-remus: the disk through the real engine.  remus protects a proc
# guest (remus-dirtier) and serves --disk over NBD; qemu-io writes patterns
# while epochs run; remus is killed -9 at a random moment; remusd fails
# over, and its --disk image must equal, byte for byte, the primary's image
# at the epoch remusd committed last (REMUS_DISKBUF_DIGESTS: the digest
# the primary took under its write lock at that epoch's postsuspend).
# Odd rounds sync the disks before remus starts (remus-disksync); even
# rounds sync live (remus --disk-sync, remusd --disk-sync-listen) while the
# guest already writes and epochs already run: killed before the copy is
# complete, remusd must refuse to activate; after, the disk must match.
# With DISKD=1 (the diskbuf-diskd test) the disk is served by remus-diskd
# and remus attaches through --disk-server, as for a Xen guest: a second
# remus is turned away, and after the kill the server serves on.
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires qemu-io --version
requires test -x "$REMUS_BUILD/bin/remus"
requires test -x "$REMUS_BUILD/bin/remus-dirtier"
DISKD=${DISKD:-0}
[ "$DISKD" = 1 ] && requires test -x "$REMUS_BUILD/bin/remus-diskd"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (the proc guest driver)"
	exit 77
fi

writer() {
	local uri=$1 cmds off
	while :; do
		cmds=()
		for _ in 1 2 3 4 5 6; do
			off=$(( (RANDOM % 2000) * 4096 ))
			case $((RANDOM % 5)) in
			0) cmds+=(-c "write -z $off 8k") ;;
			1) cmds+=(-c "discard $off 64k") ;;
			2) cmds+=(-c "write -f -P $((RANDOM % 256)) $off 4k") ;;
			*) cmds+=(-c "write -P $((RANDOM % 256)) $off $(( (RANDOM % 64 + 1) * 512 ))") ;;
			esac
		done
		qemu-io -f raw "${cmds[@]}" -c flush "$uri" >/dev/null 2>&1 || true
	done
}

ROUNDS=${ROUNDS:-4}
proved=0
for round in $(seq "$ROUNDS"); do
	R="$T/r$round"
	mkdir -p "$R/state"
	mkimage "$R/p.img" 8
	live=$((round % 2 == 0))
	sport=$(pick_port)
	sync_p=() sync_b=()
	if [ "$live" = 1 ]; then
		# An old copy: every block differs; 4 MiB/s makes the copy
		# take about two seconds, with the writer running.
		truncate -s 8M "$R/b.img"
		sync_p=(--disk-sync "127.0.0.1:$sport" --disk-sync-rate 4M)
		sync_b=(--disk-sync-listen "127.0.0.1:$sport")
	else
		sync_images "$R/p.img" "$R/b.img" -c || fail "initial sync"
	fi

	(remus-dirtier --pages 20 --working-set 200 --pidfile "$R/guest.pid" \
	    >"$R/guest.log" 2>&1 &)
	wait_for test -s "$R/guest.pid" || fail "guest did not start"
	_cleanup_pids="$_cleanup_pids $(cat "$R/guest.pid")"
	port=$(pick_port)
	(remusd --no-fence -d -D "$R/state" --disk "$R/b.img" "${sync_b[@]}" --insecure --listen "127.0.0.1:$port" \
	    --guest "g=remus-dirtier --pages 20 --working-set 200 --pidfile $R/guest.pid" \
	    >"$R/remusd.log" 2>&1 & echo $! >"$R/remusd.pid")
	wait_for test -s "$R/remusd.pid"
	_cleanup_pids="$_cleanup_pids $(cat "$R/remusd.pid")"
	wait_for sh -c "ss -Htln 'sport = :$port' | grep -q ." ||
		fail "round $round: remusd does not listen"
	if [ "$DISKD" = 1 ]; then
		(remus-diskd --nbd-listen "unix:$R/nbd.sock" --control "$R/ctl.sock" \
		    "$R/p.img" >"$R/diskd.log" 2>&1 & echo $! >"$R/diskd.pid")
		wait_for test -S "$R/ctl.sock" || fail "round $round: no control socket"
		_cleanup_pids="$_cleanup_pids $(cat "$R/diskd.pid")"
		disk=(--disk-server "$R/ctl.sock")
	else
		disk=(--disk "$R/p.img" --nbd-listen "unix:$R/nbd.sock")
	fi
	(env REMUS_DISKBUF_DIGESTS="$R/dg" remus -i $((30 + RANDOM % 50)) \
	    --insecure --name g "${disk[@]}" "${sync_p[@]}" "proc:$(cat "$R/guest.pid")" "127.0.0.1:$port" \
	    >"$R/remus.log" 2>&1 & echo $! >"$R/remus.pid")
	wait_for test -S "$R/nbd.sock" || fail "round $round: no NBD socket"
	rpid=$(cat "$R/remus.pid")
	_cleanup_pids="$_cleanup_pids $rpid"
	if [ "$DISKD" = 1 ]; then
		wait_for grep -q "remus (pid $rpid) attached" "$R/diskd.log" ||
			fail "round $round: remus did not attach to remus-diskd"
		# A second remus on the same disk: one line naming the first.
		rc=0
		remus -b -F -n --disk-server "$R/ctl.sock" \
		    "proc:$(cat "$R/guest.pid")" >"$R/second.log" 2>&1 || rc=$?
		[ "$rc" = 7 ] || [ "$rc" = 2 ] ||
			fail "round $round: a second remus got exit $rc, want 7 (or 2)"
		[ "$rc" = 2 ] || grep -q "protected by another remus (pid $rpid)" "$R/second.log" ||
			fail "round $round: second remus: $(cat "$R/second.log")"
	fi
	writer "nbd+unix:///?socket=$R/nbd.sock" &
	wpid=$!
	_cleanup_pids="$_cleanup_pids $wpid"
	sleep "$((1 + RANDOM % 3)).$((RANDOM % 10))"
	kill -9 "$rpid"
	wait_for grep -q "session over" "$R/remusd.log" ||
		fail "round $round: remusd did not end the session"
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	if [ "$DISKD" = 1 ]; then
		# remus died; the guest's disk must not have gone with it.
		wait_for grep -q "detached" "$R/diskd.log" ||
			fail "round $round: remus-diskd did not notice remus went"
		qemu-io -f raw -c "write -P 7 0 4k" -c flush \
		    "nbd+unix:///?socket=$R/nbd.sock" >/dev/null ||
			fail "round $round: the disk is not served after remus died"
		kill "$(cat "$R/diskd.pid")"
		wait_for sh -c "! kill -0 $(cat "$R/diskd.pid") 2>/dev/null" ||
			fail "round $round: remus-diskd ignored SIGTERM"
		[ ! -e "$R/ctl.sock" ] || fail "round $round: control socket left behind"
	fi
	# The activated replica runs on: stop it.
	[ -s "$R/state/g/proc-guest.pid" ] && kill -9 "$(cat "$R/state/g/proc-guest.pid")" 2>/dev/null
	kill "$(cat "$R/remusd.pid")" 2>/dev/null || true

	if grep -q "initial disk sync of .* is not complete" "$R/remusd.log"; then
		grep -q "initial sync of .* done" "$R/remus.log" &&
			fail "round $round: remusd refused a disk whose sync completed"
		grep -q "activated from epoch" "$R/remusd.log" &&
			fail "round $round: activated although the disk sync was incomplete"
		echo "round $round: killed during the live sync: activation refused"
		continue
	fi
	[ "$live" = 1 ] && { grep -q "initial sync complete" "$R/remusd.log" ||
		fail "round $round: no backlog catch-up after the live sync"; }
	n=$(sed -n 's/.*holds the disk of committed epoch \([0-9]*\).*/\1/p' "$R/remusd.log")
	[ -n "$n" ] || n=0
	want=$(awk -v n="$n" '$1 == n { print $2 }' "$R/dg")
	[ -n "$want" ] || fail "round $round: no digest for epoch $n"
	[ "$want" = "$(digest "$R/b.img")" ] ||
		fail "round $round: remusd's disk is not the primary's at epoch $n"
	echo "round $round: $([ "$live" = 1 ] && echo "live sync, ")remusd committed epoch $n of $(tail -1 "$R/dg" | cut -d' ' -f1); disk matches"
	[ "$n" -gt 1 ] && [ "$want" != "$(awk '$1 == 0 { print $2 }' "$R/dg")" ] &&
		proved=$((proved + 1))
done
[ "$proved" -gt 0 ] || fail "no round committed disk writes: nothing was proved"
echo "PASS"
