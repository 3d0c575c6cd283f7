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
start remus1 remus -i 50 -s '' proc:"$GUEST_PID" "remusd --receive -D $T/st1 -t 400"
R=$LAST_PID
wait_for 30 test -s "$T/st1/proc-epoch" || fail "nothing committed"
sleep 0.5
kill -STOP $R 2>/dev/null || true
t0=$(date +%s%N)
wait_for 20 test -s "$T/st1/proc-guest.pid" || fail "backup did not fail over on silence"
t1=$(date +%s%N)
kill -9 $R 2>/dev/null || true
kill -9 "$(cat "$T/st1/proc-guest.pid")" "$GUEST_PID" 2>/dev/null || true
grep -q "reason: heartbeat timeout" "$T/remus1.log" || fail "failover reason is not the heartbeat timeout"
e=$(replica_matches "$T/st1" "$T/sums1") || fail "$e"
echo "primary stopped: backup failed over after $(((t1 - t0) / 1000000)) ms, from epoch $e"

# ---- The backup goes silent -------------------------------------------------
start_guest g2 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
port=$(pick_port)
start remusd2 remusd --listen 127.0.0.1:$port -D "$T/st2" -t 60000
B=$LAST_PID
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
start remus2 remus -i 50 --timeout 800 proc:"$GUEST_PID" 127.0.0.1:$port
R=$LAST_PID
wait_for 30 test -s "$T/st2/proc-epoch" || fail "nothing committed (2)"
kill -STOP $B
status=0
wait $R || status=$?
kill -9 $B
[ $status -eq 4 ] || fail "remus exited $status, want 4 (backup lost)"
grep -q "backup lost: heartbeat timeout.*continues unprotected" "$T/remus2.log" ||
	fail "no 'backup lost: heartbeat timeout' line"
kill -0 "$GUEST_PID" || fail "the guest died with its backup"
echo "backup stopped: remus released it and exited 4; the guest runs on"
echo PASS
