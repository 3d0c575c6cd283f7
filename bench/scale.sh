#!/usr/bin/env bash
# bench/scale.sh -- many guests into one backup: N = 1, 2, 4, 8 proc guests
# (remus-dirtier, 200 dirty pages per epoch), each protected by its own
# remus at -i 25 (40 Hz), all into ONE remusd --listen on loopback, in one
# run (a benchmark, not a test: as root, `cmake --build <dir> --target
# bench-scale`).
#
# Per N, over DURATION_MS after a warm-up (the full epochs): the aggregate
# rate of acknowledged epochs (sum over the guests of epochs / time, from
# each remus's --stats-json), the ACK round trip p99 over every epoch of
# every guest, and the CPU of remusd (and of all the remus processes) from
# /proc/PID/stat.  Each case ends with
#   BENCH scale guests=N hz_total=X hz_target=X ack_rtt_ms_p99=X
#     ack_rtt_ms_p50=X remusd_cpu_pct=X remus_cpu_pct=X
# (the ACK round trip includes the backup making the epoch durable:
# replica writes and fsync before the ACK).
# Guests have distinct names (remus --name gN-I), each configured on the
# remusd (--guest gN-I=COMMAND), as remusd requires of proc guests.  GUESTS (default "1 2 4 8"), DURATION_MS (default 5000),
# INTERVAL_MS (25), PAGES (200), ARENA (64M per guest).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export REMUS_BUILD=${REMUS_BUILD:-$HERE/../build}
. "$HERE/../tests/functional/functions.sh"
set +e
requires_root

GUESTS=${GUESTS:-1 2 4 8}
DURATION_MS=${DURATION_MS:-5000}
INTERVAL_MS=${INTERVAL_MS:-25}
PAGES=${PAGES:-200}
ARENA=${ARENA:-64M}
HZ=$(getconf CLK_TCK)
PORT=$(pick_port)
echo "bench/scale: $PAGES pages per epoch at -i $INTERVAL_MS, arenas of" \
    "$ARENA, $DURATION_MS ms a case; $(nproc) CPUs, load" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"

ticks() {	# ticks PID...: utime + stime
	local p sum=0 t
	for p in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue
		sum=$((sum + ${t:-0}))
	done
	echo $sum
}

gcmd() {	# gcmd N I: what guest I of the case of N runs
	guest_cmd "g$1-$2" remus-dirtier --pages "$PAGES" \
	    --working-set 5000 --arena-size "$ARENA"
}
confs=()
for n in $GUESTS; do
	for ((i = 1; i <= n; i++)); do
		confs+=(--guest "g$n-$i=$(gcmd "$n" "$i")")
	done
done
remusd --no-fence --insecure --listen "127.0.0.1:$PORT" -D "$T/st" -t 3000 \
    "${confs[@]}" >"$T/remusd.log" 2>&1 &
D=$!
_kill_pids="$_kill_pids $D"
wait_for 10 sh -c "ss -Htln 'sport = :$PORT' | grep -q ." ||
	fail "remusd did not listen"

for n in $GUESTS; do
	rpids="" gpids=""
	for ((i = 1; i <= n; i++)); do
		start_guest "g$n-$i" remus-dirtier --pages "$PAGES" \
		    --working-set 5000 --arena-size "$ARENA"
		gpids="$gpids $GUEST_PID"
		remus -i "$INTERVAL_MS" -F -n --insecure \
		    --stats-json "$T/s$n-$i.json" --name "g$n-$i" proc:"$GUEST_PID" \
		    "127.0.0.1:$PORT" >"$T/remus$n-$i.log" 2>&1 &
		rpids="$rpids $!"
		_kill_pids="$_kill_pids $!"
	done
	# Warm-up: every guest past its full epoch and a few more.
	for ((i = 1; i <= n; i++)); do
		wait_for 60 sh -c "[ \$(grep -c '\"full\":0' '$T/s$n-$i.json' 2>/dev/null || echo 0) -ge 10 ]" ||
			fail "guest $i of $n: no epochs: $(tail -2 "$T/remus$n-$i.log")"
	done
	for ((i = 1; i <= n; i++)); do wc -l <"$T/s$n-$i.json"; done >"$T/lines0"
	d0=$(ticks $D) r0=$(ticks $rpids)
	sleep "$(awk -v d="$DURATION_MS" 'BEGIN { print d / 1000 }')"
	d1=$(ticks $D) r1=$(ticks $rpids)
	# shellcheck disable=SC2086
	kill -TERM $rpids 2>/dev/null
	wait $rpids 2>/dev/null
	# shellcheck disable=SC2086
	kill -9 $gpids 2>/dev/null
	# The epochs of the measured window: those after the warm-up lines.
	for ((i = 1; i <= n; i++)); do
		skip=$(sed -n "${i}p" "$T/lines0")
		tail -n +"$((skip + 1))" "$T/s$n-$i.json" |
		    sed -n 's/.*"start_us":\([0-9]*\),.*"ack_rtt_us":\([0-9]*\),.*/\1 \2/p' |
		    awk -v g="$i" '{ print g, $1, $2 }'
	done >"$T/win$n"
	read -r p50 p99 <<<"$(awk '{ print $3 }' "$T/win$n" | sort -n |
	    awk '{ v[NR] = $1 }
	    function p(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1
		return NR ? v[i] / 1000 : 0 }
	    END { printf "%.2f %.2f\n", p(0.5), p(0.99) }')"
	awk -v n="$n" -v iv="$INTERVAL_MS" -v dc=$((d1 - d0)) -v rc=$((r1 - r0)) \
	    -v p50="$p50" -v p99="$p99" \
	    -v HZ="$HZ" -v dur="$DURATION_MS" '
	{
		if (!($1 in first) || $2 < first[$1]) first[$1] = $2
		if ($2 > last[$1]) last[$1] = $2
		cnt[$1]++
	}
	END {
		for (g in cnt)
			if (last[g] > first[g])
				hz += (cnt[g] - 1) / ((last[g] - first[g]) / 1e6)
		printf "BENCH scale guests=%d hz_total=%.1f hz_target=%d " \
		    "ack_rtt_ms_p99=%.2f ack_rtt_ms_p50=%.2f " \
		    "remusd_cpu_pct=%.1f remus_cpu_pct=%.1f\n",
		    n, hz, n * 1000 / iv, p99, p50, 100 * dc / HZ / (dur / 1000),
		    100 * rc / HZ / (dur / 1000)
	}' "$T/win$n"
done
kill -TERM $D 2>/dev/null
wait $D 2>/dev/null
