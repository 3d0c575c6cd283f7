#!/usr/bin/env bash
# kill -9 of the primary at random moments, ITER (>= 20) times: every time
# the backup fails over and activates the guest, and the replica it
# activated from equals, byte for byte (by checksum), the arena
# remus-dirtier recorded at the backup's last committed, i.e. last
# acknowledged, epoch -- never the epoch in flight.  Odd runs use TCP to
# remusd --no-fence --listen, even runs remusd --no-fence --receive started by remus -s ''.
# REMUSD_ARGS: more remusd flags (engine-kill9-sync: --proc-sync;
# engine-kill9-loop: --no-commit-thread, every commit in remusd's loop).
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null

ITER=${ITER:-20}
activated=0

for ((i = 1; i <= ITER; i++)); do
	# The replica of guest g$i lives in STATEDIR/g$i.
	st="$T/st$i/g$i"
	start_guest "g$i" remus-dirtier --pages 250 --working-set 2500 \
		--arena-size 16M --checksum-log "$T/sums$i"
	gpid=$GUEST_PID
	if ((i % 2)); then
		port=$(pick_port)
		# shellcheck disable=SC2086
		start "remusd$i" remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st$i" \
			${REMUSD_ARGS:-} --guest "g$i=$GUEST_CMD"
		B=$LAST_PID
		wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." ||
			fail "run $i: remusd did not listen"
		start "remus$i" remus -i 40 --insecure --name "g$i" proc:"$gpid" 127.0.0.1:$port
	else
		start "remus$i" remus -i 40 -s '' --name "g$i" proc:"$gpid" \
			"remusd --no-fence --receive -D $T/st$i ${REMUSD_ARGS:-} --guest 'g$i=$GUEST_CMD'"
		B=""
	fi
	R=$LAST_PID
	# Random moment once protection is on (epoch 1 committed): 0..1.2 s.
	wait_for 30 test -s "$st/proc-epoch" || fail "run $i: nothing committed"
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	((RANDOM % 2)) && sleep 0.$((RANDOM % 6))
	kill -9 $R 2>/dev/null || true
	wait $R 2>/dev/null || true
	# The backup notices (EOF) and activates within its timeout.
	wait_for 20 test -s "$st/proc-guest.pid" || fail "run $i: backup did not activate"
	grep -h "failover: ACTIVATING -> ACTIVATED" "$T/remusd$i.log" \
		"$T/remus$i.log" 2>/dev/null | head -1 | grep -q . ||
		fail "run $i: no failover log line"
	kill -9 "$gpid" 2>/dev/null || true
	kill -9 "$(cat "$st/proc-guest.pid")" 2>/dev/null || true
	e=$(replica_matches "$st" "$T/sums$i") || fail "run $i: $e"
	activated=$((activated + 1))
	echo "run $i: killed at epoch >= $e, activated from epoch $e, checksum ok"
	[ -n "$B" ] && { kill -TERM $B 2>/dev/null; wait $B 2>/dev/null || true; }
	rm -f "$T/sums$i"
done
echo "$activated/$ITER failovers activated the last acknowledged epoch"

# Killed during the full epoch 1 (a 1 GiB guest takes a while): unless
# epoch 1 had entirely reached the backup, nothing is committed and the
# backup must not activate anything.
for i in 1 2; do
	st="$T/full$i/gf$i"
	start_guest "gf$i" remus-dirtier --pages 100 --working-set 1000 --arena-size 1G
	gpid=$GUEST_PID
	port=$(pick_port)
	# shellcheck disable=SC2086
	start "remusdf$i" remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/full$i" \
		${REMUSD_ARGS:-} --guest "gf$i=$GUEST_CMD"
	B=$LAST_PID
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "full $i: no listen"
	start "remusf$i" remus -i 40 --insecure --name "gf$i" proc:"$gpid" 127.0.0.1:$port
	R=$LAST_PID
	wait_for 20 grep -q "full checkpoint of" "$T/remusf$i.log" || fail "full $i: no epoch 1"
	kill -9 $R 2>/dev/null || true
	wait $R 2>/dev/null || true
	wait_for 20 grep -q "session over" "$T/remusdf$i.log" || fail "full $i: backup did not notice"
	if [ -s "$st/proc-epoch" ]; then
		echo "full $i: epoch 1 had reached the backup whole before the kill"
		wait_for 20 test -s "$st/proc-guest.pid" || fail "full $i: epoch 1 committed, not activated"
		kill -9 "$(cat "$st/proc-guest.pid")" 2>/dev/null || true
	else
		grep -q "nothing to activate" "$T/remusdf$i.log" ||
			fail "full $i: backup did not refuse to activate a torn epoch 1"
		[ ! -e "$st/proc-guest.pid" ] || fail "full $i: activated without a committed epoch"
		echo "full $i: killed inside epoch 1: nothing committed, nothing activated"
	fi
	kill -9 "$gpid" $B 2>/dev/null || true
done
echo PASS
