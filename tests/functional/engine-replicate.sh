#!/usr/bin/env bash
# Replication over loopback, several ways: TCP to remusd --no-fence --listen on IPv4,
# the same on IPv6 (if ::1 works), and remusd --no-fence --receive started by -s.
# remus-dirtier runs; after a few epochs remus is stopped with SIGINT: the
# backup gets END, keeps the replica without activating it, and the replica
# equals the arena the guest recorded for the last committed epoch.
# Each guest is named (remus --name) and configured on the backup (remusd
# --guest), which keeps its replica in STATEDIR/NAME.
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null

# The guest of run NAME, as remusd --guest must run it.
dirtier() {
	guest_cmd "g-$1" remus-dirtier --pages 300 --working-set 3000 \
		--arena-size 32M --checksum-log "$T/$1.sums"
}

run_one() {	# name backup-address-or-command [remus flags...]
	local name=$1 addr=$2 e
	shift 2
	start_guest "g-$name" remus-dirtier --pages 300 --working-set 3000 \
		--arena-size 32M --checksum-log "$T/$name.sums"
	[ "$GUEST_CMD" = "$(dirtier "$name")" ] || fail "dirtier() is not start_guest's command"
	start "remus-$name" remus -i 50 "$@" --name "g-$name" proc:"$GUEST_PID" "$addr"
	local R=$LAST_PID
	local st="$T/st-$name/g-$name"
	wait_for 30 test -s "$st/proc-epoch" || fail "$name: no epoch committed"
	sleep 1.5
	kill -INT $R
	local status=0
	wait $R || status=$?
	[ $status -eq 0 ] || fail "$name: remus exited $status after SIGINT"
	wait_for 10 grep -q "not activated" "$T/remusd-$name.log" "$T/remus-$name.log" ||
		fail "$name: backup did not see a clean END"
	kill -9 "$GUEST_PID"
	e=$(replica_matches "$st" "$T/$name.sums") || fail "$name: $e"
	[ "$e" -ge 5 ] || fail "$name: only $e epochs committed"
	[ ! -e "$st/proc-guest.pid" ] || fail "$name: END activated the guest"
	echo "$name: replica == guest's arena at epoch $e"
}

port=$(pick_port)
start remusd-tcp4 remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st-tcp4" \
	--guest "g-tcp4=$(dirtier tcp4)"
wait_for 10 ss -Htln "sport = :$port" | grep -q . || true
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
run_one tcp4 127.0.0.1:$port --insecure

if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
	port=$(pick_port)
	start remusd-tcp6 remusd --no-fence --insecure --listen "[::1]:$port" -D "$T/st-tcp6" \
		--guest "g-tcp6=$(dirtier tcp6)"
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd (v6) did not listen"
	run_one tcp6 "[::1]:$port" -u --insecure
else
	echo "no IPv6 loopback: IPv6 case skipped"
fi

# Two guests, one remusd: each keeps its replica in STATEDIR/NAME.
port=$(pick_port)
start remusd-two remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st-two" \
	--guest "a=$(guest_cmd g-two-a remus-dirtier --pages 200 --working-set 2000 \
		--arena-size 16M --checksum-log "$T/two-a.sums")" \
	--guest "b=$(guest_cmd g-two-b remus-dirtier --pages 200 --working-set 2000 \
		--arena-size 8M --checksum-log "$T/two-b.sums")"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd (two) did not listen"
start_guest g-two-a remus-dirtier --pages 200 --working-set 2000 --arena-size 16M \
	--checksum-log "$T/two-a.sums"
A=$GUEST_PID
start remus-two-a remus -i 50 --insecure --name a proc:$A 127.0.0.1:$port
RA=$LAST_PID
wait_for 30 test -s "$T/st-two/a/proc-epoch" || fail "two: first guest not committed"
start_guest g-two-b remus-dirtier --pages 200 --working-set 2000 --arena-size 8M \
	--checksum-log "$T/two-b.sums"
B=$GUEST_PID
start remus-two-b remus -i 50 --insecure --name b proc:$B 127.0.0.1:$port
RB=$LAST_PID
wait_for 30 test -s "$T/st-two/b/proc-epoch" || fail "two: second guest not committed"
sleep 1
kill -INT $RA $RB
wait $RA || fail "two: remus a exited $?"
wait $RB || fail "two: remus b exited $?"
# remus exits once END is written, epochs it sent after the last ACK may
# still be committing on the backup: the replicas are read after both
# sessions are over, not while an epoch is being applied.
wait_for 20 sh -c "[ \$(grep -c 'session over: clean end' '$T/remusd-two.log') -ge 2 ]" ||
	fail "two: the sessions did not end cleanly"
kill -9 $A $B
ea=$(replica_matches "$T/st-two/a" "$T/two-a.sums") || fail "two: a: $ea"
eb=$(replica_matches "$T/st-two/b" "$T/two-b.sums") || fail "two: b: $eb"
echo "two guests on one remusd: replicas at epochs $ea and $eb, checksums ok"

# -s '': the "host" is the whole command, as with xl remus -s ''.
touch "$T/remusd-cmd.log"
run_one cmd "remusd --no-fence --receive -D $T/st-cmd --guest 'g-cmd=$(dirtier cmd)'" -s ''
# -s with the backup's own flags (remusd --receive refuses to start without
# a fence choice): "env X=1" stands in for "ssh host".
run_one sargs X=1 -s env --remusd-args "--no-fence -D $T/st-sargs --guest 'g-sargs=$(dirtier sargs)'"

# The backup applies epoch 4 but its ACK is lost (REMUS_FAULT=ack-drop):
# ACK(5) acknowledges both, protection goes on.
touch "$T/remusd-ackdrop.log"
REMUS_FAULT=ack-drop REMUS_FAULT_EPOCH=4 run_one ackdrop \
	"remusd --no-fence --receive -D $T/st-ackdrop --guest 'g-ackdrop=$(dirtier ackdrop)'" -s '' --stats-json "$T/ackdrop.json"
grep -q "fault ack-drop" "$T/remus-ackdrop.log" || fail "ackdrop: the fault did not fire"
awk -F'[:,]' '{ if ($2 != NR) exit 1 }' "$T/ackdrop.json" || fail "ackdrop: an epoch was never acknowledged"
echo PASS
