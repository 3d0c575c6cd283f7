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
#   BENCH scale guests=N remusd=new|base hz_total=X hz_target=X
#     ack_rtt_ms_p99=X ack_rtt_ms_p50=X remusd_cpu_pct=X remus_cpu_pct=X
#     warm=K runq_wait_us=X
# (warm: guests past their full epoch and 10 more within 60 s of their
# start: fewer than N when the remusd cannot keep up; runq_wait_us:
# how long remusd and the remus processes waited for a CPU per
# timeslice over the window, /proc/PID/task/*/schedstat: what a wakeup
# costs on this machine, the floor under every ACK round trip)
# (the ACK round trip includes the backup committing the epoch: journal,
# image, epoch files, and fsync with --proc-sync, before the ACK).
# Guests have distinct names (remus --name gN-I), each configured on the
# remusd (--guest gN-I=COMMAND), as remusd requires of proc guests.
# GUESTS (default "1 2 4 8"), DURATION_MS (default 5000), INTERVAL_MS
# (25), PAGES (200), ARENA (64M per guest), REMUSD_ARGS (more remusd
# flags, e.g. --proc-sync).
# Side by side: BASE_BUILD=<another build tree> runs every case with that
# build's remus and remusd too (remusd=base in the BENCH line; its own
# port and state directory; the guests are this build's), alternating
# with this build's (remusd=new), ROUNDS times (default 1): the
# machine's other load then weighs on both alike.  BASE_REMUSD_ARGS:
# remusd flags for the base side only, e.g. BASE_BUILD=<this build>
# BASE_REMUSD_ARGS=--no-commit-thread compares remusd's commit threads
# with commits in its one loop.
# BASE_NICE: the base side's remusd and remus processes run at that
# niceness (nice -n, e.g. -10; the guests do not): BASE_BUILD=<this
# build> BASE_NICE=-10 shows what CPU scheduling costs the ACK round
# trip on a busy machine.
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
ROUNDS=${ROUNDS:-1}
HZ=$(getconf CLK_TCK)
echo "bench/scale: $PAGES pages per epoch at -i $INTERVAL_MS, arenas of" \
    "$ARENA, $DURATION_MS ms a case; $(nproc) CPUs, load" \
    "$(cut -d' ' -f1-3 /proc/loadavg)${BASE_BUILD:+; base build $BASE_BUILD ${BASE_REMUSD_ARGS:-}${BASE_NICE:+ nice $BASE_NICE}}"

ticks() {	# ticks PID...: utime + stime
	local p sum=0 t
	for p in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue
		sum=$((sum + ${t:-0}))
	done
	echo $sum
}

# runq PID...: "ns waited on a run queue, timeslices" summed over the
# processes' threads (schedstat): how long a wakeup waits for a CPU,
# which no program of ours controls (a loaded machine).
runq() {
	local p w=0 n=0 a b
	for p in "$@"; do
		for f in /proc/"$p"/task/*/schedstat; do
			read -r _ a b <"$f" 2>/dev/null || continue
			w=$((w + a)) n=$((n + b))
		done
	done
	echo "$w $n"
}

nice_of() {	# nice_of WHICH: the command prefix for that side's processes
	[ "$1" = base ] && [ -n "${BASE_NICE:-}" ] && echo "nice -n $BASE_NICE"
	return 0
}

gcmd() {	# gcmd NAME: what guest NAME runs
	guest_cmd "$1" remus-dirtier --pages "$PAGES" \
	    --working-set 5000 --arena-size "$ARENA"
}

# start_remusd WHICH BINARY: one remusd (port PORT_<WHICH>, pid
# PID_<WHICH>) configured for every guest its cases run: W<r>-<n>-<i>,
# W the first letter of WHICH, r the round.
start_remusd() {
	local which=$1 bin=$2 confs=() n i r port pid extra=${REMUSD_ARGS:-}
	for ((r = 1; r <= ROUNDS; r++)); do
		for n in $GUESTS; do
			for ((i = 1; i <= n; i++)); do
				confs+=(--guest "${which:0:1}$r-$n-$i=$(gcmd "${which:0:1}$r-$n-$i")")
			done
		done
	done
	port=$(pick_port)
	[ "$which" = base ] && extra="$extra ${BASE_REMUSD_ARGS:-}"
	# shellcheck disable=SC2086,SC2046
	$(nice_of "$which") "$bin" --no-fence --insecure --listen "127.0.0.1:$port" \
	    -D "$T/st-$which" -t 3000 $extra "${confs[@]}" \
	    >"$T/remusd-$which.log" 2>&1 &
	pid=$!
	_kill_pids="$_kill_pids $pid"
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." ||
		fail "remusd ($which) did not listen"
	printf -v "PORT_$which" %s "$port"
	printf -v "PID_$which" %s "$pid"
}

# run_case WHICH ROUND N: N guests into that remusd, one BENCH line.
run_case() {
	local which=$1 r=$2 n=$3 i g rpids="" gpids="" port pid d0 d1 r0 r1
	local skip p50 p99 pre warm t_end rbin=remus q0 q1
	[ "$which" = base ] && rbin=$BASE_BUILD/bin/remus
	pre="${which:0:1}$r-$n"
	port=$(eval echo "\$PORT_$which")
	pid=$(eval echo "\$PID_$which")
	for ((i = 1; i <= n; i++)); do
		g="$pre-$i"
		start_guest "$g" remus-dirtier --pages "$PAGES" \
		    --working-set 5000 --arena-size "$ARENA"
		gpids="$gpids $GUEST_PID"
		# shellcheck disable=SC2046
		$(nice_of "$which") "$rbin" -i "$INTERVAL_MS" -F -n --insecure \
		    --stats-json "$T/s$g.json" --name "$g" proc:"$GUEST_PID" \
		    "127.0.0.1:$port" >"$T/remus$g.log" 2>&1 &
		rpids="$rpids $!"
		_kill_pids="$_kill_pids $!"
	done
	# Warm-up: every guest past its full epoch and a few more.  A remusd
	# that cannot keep up never gets some there: the case is measured
	# all the same (those guests add what they commit, maybe nothing),
	# and says how many were (warm=).
	warm=0 t_end=$((SECONDS + 60))
	for ((i = 1; i <= n; i++)); do
		g="$pre-$i"
		if wait_for $((t_end > SECONDS ? t_end - SECONDS : 1)) sh -c "[ \$(grep -c '\"full\":0' '$T/s$g.json' 2>/dev/null || echo 0) -ge 10 ]"; then
			warm=$((warm + 1))
		else
			echo "guest $g: not 10 epochs within 60 s: $(tail -1 "$T/remus$g.log")"
		fi
	done
	for ((i = 1; i <= n; i++)); do
		wc -l <"$T/s$pre-$i.json" 2>/dev/null || echo 0
	done >"$T/lines0"
	# shellcheck disable=SC2086
	d0=$(ticks "$pid") r0=$(ticks $rpids) q0=$(runq "$pid" $rpids)
	sleep "$(awk -v d="$DURATION_MS" 'BEGIN { print d / 1000 }')"
	# shellcheck disable=SC2086
	d1=$(ticks "$pid") r1=$(ticks $rpids) q1=$(runq "$pid" $rpids)
	# shellcheck disable=SC2086
	kill -TERM $rpids 2>/dev/null
	wait $rpids 2>/dev/null
	# shellcheck disable=SC2086
	kill -9 $gpids 2>/dev/null
	# The epochs of the measured window: those after the warm-up lines.
	for ((i = 1; i <= n; i++)); do
		skip=$(sed -n "${i}p" "$T/lines0")
		tail -n +"$((skip + 1))" "$T/s$pre-$i.json" 2>/dev/null |
		    sed -n 's/.*"start_us":\([0-9]*\),.*"ack_rtt_us":\([0-9]*\),.*/\1 \2/p' |
		    awk -v g="$i" '{ print g, $1, $2 }'
	done >"$T/win$pre"
	read -r p50 p99 <<<"$(awk '{ print $3 }' "$T/win$pre" | sort -n |
	    awk '{ v[NR] = $1 }
	    function p(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1
		return NR ? v[i] / 1000 : 0 }
	    END { printf "%.2f %.2f\n", p(0.5), p(0.99) }')"
	awk -v n="$n" -v which="$which" -v iv="$INTERVAL_MS" \
	    -v dc=$((d1 - d0)) -v rc=$((r1 - r0)) -v p50="$p50" -v p99="$p99" \
	    -v HZ="$HZ" -v dur="$DURATION_MS" -v warm="$warm" \
	    -v q0="$q0" -v q1="$q1" '
	{
		if (!($1 in first) || $2 < first[$1]) first[$1] = $2
		if ($2 > last[$1]) last[$1] = $2
		cnt[$1]++
	}
	END {
		for (g in cnt)
			if (last[g] > first[g])
				hz += (cnt[g] - 1) / ((last[g] - first[g]) / 1e6)
		split(q0, a, " "); split(q1, b, " ")
		runq = b[2] > a[2] ? (b[1] - a[1]) / (b[2] - a[2]) / 1000 : 0
		printf "BENCH scale guests=%d remusd=%s hz_total=%.1f " \
		    "hz_target=%d ack_rtt_ms_p99=%.2f ack_rtt_ms_p50=%.2f " \
		    "remusd_cpu_pct=%.1f remus_cpu_pct=%.1f warm=%d " \
		    "runq_wait_us=%.0f\n",
		    n, which, hz, n * 1000 / iv, p99, p50,
		    100 * dc / HZ / (dur / 1000), 100 * rc / HZ / (dur / 1000),
		    warm, runq
	}' "$T/win$pre"
}

sides="new"
[ -n "${BASE_BUILD:-}" ] && sides="base new"
for w in $sides; do
	if [ "$w" = base ]; then
		[ -x "$BASE_BUILD/bin/remusd" ] && [ -x "$BASE_BUILD/bin/remus" ] ||
			fail "BASE_BUILD=$BASE_BUILD: no bin/remus and bin/remusd"
		start_remusd base "$BASE_BUILD/bin/remusd"
	else
		start_remusd new remusd
	fi
done
for ((r = 1; r <= ROUNDS; r++)); do
	for n in $GUESTS; do
		for w in $sides; do
			run_case "$w" "$r" "$n"
		done
	done
done
for w in $sides; do
	pid=$(eval echo "\$PID_$w")
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
