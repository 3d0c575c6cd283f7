#!/usr/bin/env bash
# trust-guests.sh -- three proc guests protected through one remusd, each in
# its own directory (STATEDIR/NAME), isolated: guest a's primary is killed
# (-9) and only a fails over, from its own last committed epoch, while b and
# c keep committing; then b's; c ends cleanly with END and is not
# activated.  While an activated copy runs, no session replicates over it.
# A restarted remusd finds every guest's replica again.
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null

port=$(pick_port)
st="$T/st"
args=()
for g in a b c; do
	args+=(--guest "$g=$(guest_cmd "g-$g" remus-dirtier --pages 100 --working-set 1000 \
		--arena-size 8M --checksum-log "$T/$g.sums")")
done
start remusd remusd --no-fence --insecure --listen "127.0.0.1:$port" -D "$st" "${args[@]}"
B=$LAST_PID
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"

declare -A gpid rpid
for g in a b c; do
	start_guest "g-$g" remus-dirtier --pages 100 --working-set 1000 \
		--arena-size 8M --checksum-log "$T/$g.sums"
	gpid[$g]=$GUEST_PID
	start "remus-$g" remus -i 50 --insecure --name "$g" proc:"$GUEST_PID" "127.0.0.1:$port"
	rpid[$g]=$LAST_PID
done
for g in a b c; do
	wait_for 30 test -s "$st/$g/proc-epoch" || fail "$g: nothing committed"
done
epoch() { cat "$st/$1/proc-epoch"; }

# fail_over G: kill G's primary; G alone activates, from its own replica.
fail_over() {
	local g=$1 others=() o e before=()
	for o in a b c; do
		[ "$o" != "$g" ] && [ ! -e "$st/$o/proc-guest.pid" ] && others+=("$o")
	done
	for o in "${others[@]}"; do before+=("$(epoch "$o")"); done
	kill -9 "${rpid[$g]}"
	wait "${rpid[$g]}" 2>/dev/null || true
	wait_for 20 test -s "$st/$g/proc-guest.pid" || fail "$g: backup did not activate"
	# While the activated copy runs from its replica, a new session for
	# G (the old primary back) must not write over it.
	remus-trust-peer -w 5000 -n "$g" -p "$(command -v remus-dirtier)" -a remus-dirtier \
		hello "127.0.0.1:$port" >"$T/re-$g.out" 2>&1 || fail "$g: $(cat "$T/re-$g.out")"
	grep -q "error: activated here (pid $(cat "$st/$g/proc-guest.pid") runs from" "$T/re-$g.out" ||
		fail "$g: a new session over the activated copy: $(cat "$T/re-$g.out")"
	kill -9 "${gpid[$g]}" 2>/dev/null || true
	kill -9 "$(cat "$st/$g/proc-guest.pid")" 2>/dev/null || true
	e=$(replica_matches "$st/$g" "$T/$g.sums") || fail "$g: $e"
	local i=0
	for o in "${others[@]}"; do
		[ ! -e "$st/$o/proc-guest.pid" ] || fail "$g's failover activated $o"
		wait_for 10 sh -c "[ \$(cat '$st/$o/proc-epoch') -gt $((before[i] + 5)) ]" ||
			fail "$o stopped committing when $g failed over"
		i=$((i + 1))
	done
	echo "$g: failed over alone from its epoch $e; ${others[*]} kept committing"
}
fail_over a
fail_over b

kill -INT "${rpid[c]}"
wait "${rpid[c]}" || fail "c: remus exited $? after SIGINT"
wait_for 10 sh -c "grep -q 'session over: clean end' '$T/remusd.log'" || fail "c: no clean end"
kill -9 "${gpid[c]}"
[ ! -e "$st/c/proc-guest.pid" ] || fail "c: END activated it"
e=$(replica_matches "$st/c" "$T/c.sums") || fail "c: $e"
echo "c: ended cleanly at epoch $e, kept, not activated"
# Three guests, and the two refused sessions over the activated copies.
[ "$(grep -c 'session over' "$T/remusd.log")" -eq 5 ] || fail "not five sessions over"

# A restarted remusd recovers and lists each guest's replica.
kill -TERM $B
wait $B 2>/dev/null || true
remusd --no-fence --insecure -n --listen "127.0.0.1:$(pick_port)" -D "$st" "${args[@]}" \
	>"$T/remusd-n.log" 2>&1 || fail "remusd -n: $(cat "$T/remusd-n.log")"
for g in a b c; do
	grep -q "$st/$g" "$T/remusd-n.log" || fail "remusd -n did not look at $g's replica"
done
echo PASS
