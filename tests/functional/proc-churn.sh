#!/bin/bash
# proc-churn.sh -- controllers killed -9 at random moments (suspended or
# not, mid-copy or mid-hello) never leave the guest stuck or refusing the
# next one: after each kill remus-kvd answers at once and a new controller
# attaches.  ITER (default 30) rounds.
. "$(dirname "$0")/proc-lib.sh"
requires_root

ITER=${ITER:-30}
port=$(pick_port)
start_guest kvd remus-kvd --listen "127.0.0.1:$port" --arena-size 32M
wait_for kv "$port" PING >/dev/null || fail "kvd does not answer"
for i in $(seq 1 200); do kv "$port" "SET k$i v$i" >/dev/null; done

for ((i = 1; i <= ITER; i++)); do
	remus-proc-snap -n 100000 -i 1 "$GUEST_PID" "$T/rep" >/dev/null 2>"$T/snap.err" &
	c=$!
	sleep "$(printf "0.%03d" $((RANDOM % 300 + 5)))"
	kill -9 $c 2>/dev/null
	wait $c 2>/dev/null || true
	# Not stuck: it answers within 2 s, with its data.
	r=$(timeout 2 bash -c "$(declare -f kv); kv $port 'INCR n' 'GET k7'") ||
		fail "round $i: the guest is stuck after its controller died"
	[ "$r" = "VALUE $i
VALUE v7" ] || fail "round $i: wrong answers: $r"
done
# And a last controller attaches and runs epochs.
remus-proc-snap -n 3 -i 10 "$GUEST_PID" "$T/rep" >"$T/last.log" 2>"$T/last.err" ||
	fail "a controller after the churn: $(cat "$T/last.err")"
echo "PASS ($ITER controllers killed)"
