#!/usr/bin/env bash
# Silence is loss, both ways.  A stopped primary (SIGSTOP: no EOF, no
# bytes) makes the backup fail over on its heartbeat timeout; a stopped
# backup makes the primary declare it lost on its own timeout, release
# everything and leave the guest running unprotected (status 4).
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null

# ---- The primary goes silent ------------------------------------------------
start_guest g1 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M \
	--checksum-log "$T/sums1"
start remus1 remus -i 50 -s '' --name g1 proc:"$GUEST_PID" \
	"remusd --no-fence --receive -D $T/st1 -t 400 --guest 'g1=$GUEST_CMD'"
R=$LAST_PID
wait_for 30 test -s "$T/st1/g1/proc-epoch" || fail "nothing committed"
sleep 0.5
kill -STOP $R 2>/dev/null || true
t0=$(date +%s%N)
wait_for 20 test -s "$T/st1/g1/proc-guest.pid" || fail "backup did not fail over on silence"
t1=$(date +%s%N)
kill -9 $R 2>/dev/null || true
kill -9 "$(cat "$T/st1/g1/proc-guest.pid")" "$GUEST_PID" 2>/dev/null || true
grep -q "primary lost: heartbeat timeout" "$T/remus1.log" || fail "failover reason is not the heartbeat timeout"
e=$(replica_matches "$T/st1/g1" "$T/sums1") || fail "$e"
echo "primary stopped: backup failed over after $(((t1 - t0) / 1000000)) ms, from epoch $e"

# ---- The backup goes silent -------------------------------------------------
start_guest g2 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
port=$(pick_port)
# The backup's -t is the session's T (the handshake); remus's --timeout
# is only the longest it accepts.
start remusd2 remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st2" -t 800 \
	--guest "g2=$GUEST_CMD"
B=$LAST_PID
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
start remus2 remus -i 50 --insecure --timeout 3000 --reconnect-interval 0 --name g2 proc:"$GUEST_PID" 127.0.0.1:$port
R=$LAST_PID
wait_for 30 test -s "$T/st2/g2/proc-epoch" || fail "nothing committed (2)"
kill -STOP $B
status=0
wait $R || status=$?
kill -9 $B
[ $status -eq 4 ] || fail "remus exited $status, want 4 (backup lost)"
grep -q "lost: heartbeat timeout" "$T/remus2.log" ||
	fail "no 'lost: heartbeat timeout' line"
grep -q "PROTECTED -> HOLDING" "$T/remus2.log" || fail "output not held after the loss (P2)"
grep -q "continues unprotected" "$T/remus2.log" || fail "output never released (P3)"
kill -0 "$GUEST_PID" || fail "the guest died with its backup"
echo "backup stopped: remus released it and exited 4; the guest runs on"

# ---- A backup that would wait longer than remus accepts is refused ----------
port=$(pick_port)
start remusd3 remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st3" -t 5000 \
	--guest "g2=$GUEST_CMD"
B=$LAST_PID
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen (3)"
status=0
timeout 60 remus -i 50 --insecure --timeout 1000 --reconnect-interval 0 --name g2 proc:"$GUEST_PID" 127.0.0.1:$port \
	>"$T/remus3.log" 2>&1 || status=$?
kill $B 2>/dev/null || true
[ $status -eq 3 ] || fail "remus exited $status, want 3 (handshake refused)"
grep -c "refusing the session: the backup's timeout 5000 ms is longer than --timeout 1000 ms" \
	"$T/remus3.log" | grep -qx 1 || fail "no one-line refusal"
test -s "$T/st3/g2/proc-epoch" && fail "an epoch was committed in a refused session"
echo "backup timeout 5000 ms > remus --timeout 1000 ms: refused in one line, exit 3"
echo PASS
