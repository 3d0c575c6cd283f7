#!/usr/bin/env bash
# no-guardian: xl's -e.  remus -e asks, in the stream's HELLO, that the
# backup not stay behind as the activated guest's guardian; remusd -e
# means it for every guest (xl migrate-receive -e).  Checked on the wire
# (a capture of the forward stream: HELLO's flag), in remusd's log (the
# request seen, per guest; -e said at start), and the guest still fails
# over.  Whether the Xen replica then starts its guardian is the
# driver's, unit-tested through the replica's configuration (test-ckpt:
# hello_no_guardian_reaches_the_replica) and checked in the Xen lab.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-dirtier --help

# run NAME REMUS_FLAGS REMUSD_FLAGS: protect a guest over remusd
# --receive (-s ''), the forward stream tee'd to $T/NAME.cap; kill remus
# after 3 committed epochs; remusd must activate.
run() {
	local name=$1 rflags=$2 dflags=$3 r
	start_guest "g-$name" remus-dirtier --pages 20 --working-set 200
	# shellcheck disable=SC2086
	start "remus-$name" remus -i 50 $rflags -s '' --name "$name" \
		proc:"$GUEST_PID" "sh -c 'tee $T/$name.cap | remusd --no-fence $dflags --receive -d -D $T/st-$name --guest \"$name=$GUEST_CMD\" 2>$T/remusd-$name.log | cat'"
	r=$LAST_PID
	wait_for 60 sh -c "[ \"\$(cat $T/st-$name/$name/proc-epoch 2>/dev/null)\" -ge 3 ] 2>/dev/null" ||
		fail "$name: fewer than 3 epochs committed"
	kill -9 "$r"
	wait_for 30 grep -q "activated from epoch" "$T/remusd-$name.log" ||
		fail "$name: not activated: $(tail -3 "$T/remusd-$name.log")"
	kill -9 "$GUEST_PID" 2>/dev/null || true
	remus-stream dump "$T/$name.cap" 2>/dev/null | grep ': HELLO ' >"$T/$name.hello" ||
		fail "$name: no HELLO in the capture"
}

run e "-e" ""
grep -q 'flags 0x1 (no guardian)' "$T/e.hello" || fail "remus -e: HELLO $(cat "$T/e.hello")"
grep -q 'guest e: the primary asks that no guardian watch it once activated here (remus -e)' \
	"$T/remusd-e.log" || fail "remusd did not take remus -e's request"
echo "remus -e: $(cut -d' ' -f2- "$T/e.hello")"

run plain "" ""
grep -q 'flags 0x0$' "$T/plain.hello" || fail "without -e: HELLO $(cat "$T/plain.hello")"
grep -q 'no guardian' "$T/remusd-plain.log" && fail "without -e, remusd saw a request for no guardian"
echo "without -e: $(cut -d' ' -f2- "$T/plain.hello")"

run backup "" "-e"
grep -q 'flags 0x0$' "$T/backup.hello" || fail "remusd -e changed the stream"
grep -q -- '-e: no guest activated here gets a guardian' "$T/remusd-backup.log" ||
	fail "remusd -e did not say so"
echo "remusd -e: said at start, the stream unchanged"
echo PASS
