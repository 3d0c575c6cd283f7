#!/bin/bash
# proc-kvd.sh -- remus-kvd's protocol, and a failover of it through the
# proc driver: epochs into a replica (remus-proc-snap), the primary killed,
# the replica activated on another port (remus-proc-snap -L): every key the
# clients were told OK before the last epoch is there.
. "$(dirname "$0")/proc-lib.sh"
requires_root

port=$(pick_port)
start_guest kvd remus-kvd --listen "127.0.0.1:$port" --arena-size 64M
wait_for kv "$port" PING >/dev/null || fail "kvd does not answer"

out=$(kv "$port" "SET a hello world" "GET a" "INCR n" "INCR n" "GET nosuch" \
    "DEL a" "GET a" "DEL a" "COUNT" "BOGUS x" "GET" "INCR a b" "set  x" "PING")
want="OK
VALUE hello world
VALUE 1
VALUE 2
NOTFOUND
OK
NOTFOUND
NOTFOUND
VALUE 1
ERR unknown command
ERR bad key (1 to 250 bytes, no spaces)
ERR extra arguments
ERR bad key (1 to 250 bytes, no spaces)
PONG"
[ "$out" = "$want" ] || fail "protocol: got
$out"
[ "$(kv "$port" "SET s x" "INCR s")" = "OK
ERR not an integer" ] || fail "INCR of a non-integer"

# Enough keys to grow the table (rehash inside the arena).
reqs=()
for i in $(seq 1 3000); do reqs+=("SET key$i value-$i"); done
kv "$port" "${reqs[@]}" | sort | uniq -c | grep -qx " *3000 OK" || fail "3000 SETs"
[ "$(kv "$port" "GET key1234")" = "VALUE value-1234" ] || fail "GET after growth"

# Failover: replicate, kill, activate on another port.
port2=$(pick_port)
remus-proc-snap -n 3 -i 50 -k -a -L "127.0.0.1:$port2" \
    "$GUEST_PID" "$T/replica" >"$T/snap.log" 2>"$T/snap.err" ||
	fail "remus-proc-snap"
grep -qx "committed 3" "$T/snap.log" || fail "no commit"
grep -qx "activated" "$T/snap.log" || fail "not activated"
kill -0 "$GUEST_PID" 2>/dev/null && fail "the primary still runs"
wait_for kv "$port2" PING >/dev/null || fail "the activated kvd does not answer on $port2"
[ "$(kv "$port2" "GET key1234" "GET key3000" "GET n" "COUNT" "INCR n")" = "VALUE value-1234
VALUE value-3000
VALUE 2
VALUE 3002
VALUE 3" ] || fail "the activated kvd lost state"
# It can be protected again (a new controller, a new pid).
pid2=$(cat "$T/replica/proc-guest.pid")
remus-proc-snap -n 2 -i 10 "$pid2" "$T/replica2" >"$T/snap2.log" 2>"$T/snap2.err" ||
	fail "protecting the activated kvd"
kill -9 "$pid2"
echo "PASS"
