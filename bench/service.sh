#!/usr/bin/env bash
# bench/service.sh -- the user's view of Remus: what a protected service's
# clients see, unprotected vs remus --trigger interval vs --trigger output,
# all in one run (a benchmark, not a test: as root, `cmake --build <dir>
# --target bench-service`, or MODE=quick for CI-sized cases).
#
# remus-kvd runs in the network of tests/functional/netbuf-lib.sh (client
# C, primary host P, guest G, backup B: netns + veth), protected by remus
# --netbuf-if (nfqueue, or NETBUF_DRIVER) against remusd in B.  For each
# protection (unprotected: no remus at all; then for each -i in INTERVALS,
# --trigger interval and --trigger output) the same guest serves, one
# after the other:
#   - closed loop: N clients (CLIENTS, default "1 4 16"), each its own
#     connection with one request outstanding (remus-netbuf kv-client:
#     SET, and a GET after every second SET), for DURATION_MS;
#   - open loop: one connection sending OPEN_RATE SETs a second on a fixed
#     schedule whatever the replies do (remus-netbuf kv-open); its latency
#     counts from the scheduled send time.
# Per case: throughput (replies/s), round-trip latency p50/p99/p999 (ms,
# the client's clock), the guest's paused share and epochs/s over the
# case's window (remus --stats-json: sum of pause_us and epochs whose
# suspend falls in it), and the CPU of remus and remusd over it
# (/proc/PID/stat of every process in P's and B's namespaces).  Each case
# ends with
#   BENCH service clients=<N|open> trigger=<none|interval|output>
#     interval_ms=<n> ops=<replies/s> lat_ms_p50=X lat_ms_p99=X
#     lat_ms_p999=X paused_pct=X hz=X remus_cpu_pct=X remusd_cpu_pct=X
# and the run with a table of each protection's figures relative to
# unprotected (ratios measured side by side are what count: the machine
# may be shared).
#
# MODE=quick: 2 s a case (CI; ~3 min in all); MODE=full (default): 10 s.
# INTERVALS (default "25 50 100 200"), CLIENTS, OPEN_RATE (default 200),
# TRIGGERS (default "interval output"), DURATION_MS overrides MODE,
# REMUS_EXTRA (more remus flags for every protected case, e.g.
# "--max-rate 2000"), BASE_BUILD=<another build tree>: every protected
# case runs with that build's remus and remusd too, just before this
# build's (BENCH lines then say remusd=base or remusd=new; the guest is
# this build's); BASE_REMUS_EXTRA: remus flags for the base side only
# (BASE_BUILD=<this build> BASE_REMUS_EXTRA="--max-rate 500" compares a
# setting within one build).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export REMUS_BUILD=${REMUS_BUILD:-$HERE/../build}
. "$HERE/../tests/functional/functions.sh"
. "$HERE/../tests/functional/netbuf-lib.sh"
set +e
requires_root
requires ip netns list

MODE=${MODE:-full}
case $MODE in
quick) DURATION_MS=${DURATION_MS:-2000} ;;
full) DURATION_MS=${DURATION_MS:-10000} ;;
*) echo "MODE=$MODE: want quick or full" >&2; exit 1 ;;
esac
INTERVALS=${INTERVALS:-25 50 100 200}
CLIENTS=${CLIENTS:-1 4 16}
OPEN_RATE=${OPEN_RATE:-200}
TRIGGERS=${TRIGGERS:-interval output}
NETBUF_DRIVER=${NETBUF_DRIVER:-nfqueue}
HZ=$(getconf CLK_TCK)
echo "bench/service: MODE=$MODE ($DURATION_MS ms a case), driver" \
    "$NETBUF_DRIVER, intervals $INTERVALS, closed-loop clients $CLIENTS," \
    "open loop $OPEN_RATE/s; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

nb_net_up
KVD_LISTEN='[::]:7000' nb_guest_start 1
run=0 R="" B=""

# ticks NS: utime + stime of every process in namespace NS (clock ticks)
ticks() {
	local p sum=0 t
	for p in $(ip netns pids "$1" 2>/dev/null); do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue
		sum=$((sum + ${t:-0}))
	done
	echo $sum
}

# protect ARGS...: remusd ($REMUSD) in B, remus ($REMUS) with ARGS in
# P; sets R B ST.
REMUSD=remusd REMUS=remus
protect() {
	run=$((run + 1))
	ST="$T/st$run"
	ip netns exec "$NS_B" "$REMUSD" --no-fence --insecure --listen 10.91.3.2:5270 \
	    -D "$ST" -t 3000 --guest "$GUEST_NAME=$GUEST_CMD" \
	    >"$T/remusd$run.log" 2>&1 &
	B=$!
	_kill_pids="$_kill_pids $B"
	wait_for 10 sh -c "ip netns exec $NS_B ss -Htln 'sport = :5270' | grep -q ." ||
		fail "remusd did not listen"
	ip netns exec "$NS_P" "$REMUS" --insecure --stats-json "$T/stats$run.json" \
	    --netbuf-if "$HIF" --netbuf-driver "$NETBUF_DRIVER" ${REMUS_EXTRA:-} \
	    ${SIDE_EXTRA:-} "$@" \
	    --name "$GUEST_NAME" proc:"$GUEST_PID" 10.91.3.2:5270 \
	    >"$T/remus$run.log" 2>&1 &
	R=$!
	_kill_pids="$_kill_pids $R"
	wait_for 30 test -s "$ST/$GUEST_NAME/proc-epoch" || fail "remus $*: nothing committed"
	sleep 0.5	# past the full epoch
}

unprotect() {
	[ -n "$R" ] && { kill -TERM "$R" 2>/dev/null; wait "$R" 2>/dev/null; }
	[ -n "$B" ] && { kill -TERM "$B" 2>/dev/null; wait "$B" 2>/dev/null; }
	R="" B=""
}

# load KIND N: run the load (closed N clients, or open), then print the
# case's figures "ops p50 p99 p999 t0_us t1_us" from the client logs.
load() {
	local kind=$1 n=$2 i pids="" logs=""
	if [ "$kind" = closed ]; then
		for ((i = 1; i <= n; i++)); do
			inC remus-netbuf kv-client 10.91.1.2 7000 \
			    "$T/c$run-$n-$i.log" "$DURATION_MS" "r$run-$n-$i-" &
			pids="$pids $!" logs="$logs $T/c$run-$n-$i.log"
		done
	else
		inC remus-netbuf kv-open 10.91.1.2 7000 "$T/o$run.log" \
		    "$DURATION_MS" "$OPEN_RATE" "o$run-" &
		pids=$! logs="$T/o$run.log"
	fi
	wait $pids
	# shellcheck disable=SC2086
	awk '$1 == "SET" || $1 == "GET" {
		ts = $(NF - 1); tr = $NF
		if (t0 == "" || ts < t0) t0 = ts
		if (tr > t1) t1 = tr
		print (tr - ts) / 1000 > "'"$T/lat"'"
		n++
	}
	END { printf "%d %s %s\n", n, t0 + 0, t1 + 0 }' $logs >"$T/win"
	read -r cnt t0 t1 <"$T/win"
	[ "$cnt" -gt 0 ] || fail "$kind $n: no reply: $(tail -1 ${logs%% *})"
	sort -n "$T/lat" >"$T/lat.s"
	awk -v cnt="$cnt" -v t0="$t0" -v t1="$t1" '{ v[NR] = $1 }
	function p(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1
		return v[i] }
	END { printf "%.1f %.2f %.2f %.2f %s %s\n",
	    cnt / ((t1 - t0) / 1e6), p(0.5), p(0.99), p(0.999), t0, t1 }' \
	    "$T/lat.s"
}

# window T0 T1: "paused_pct hz" from this run's --stats-json
window() {
	[ -f "$T/stats$run.json" ] || { echo "0 0"; return; }
	sed -n 's/.*"start_us":\([0-9]*\),.*"pause_us":\([0-9]*\),.*/\1 \2/p' \
	    "$T/stats$run.json" | awk -v t0="$1" -v t1="$2" '
	    $1 >= t0 && $1 <= t1 { n++; p += $2 }
	    END { d = (t1 - t0) / 1e6
		printf "%.2f %.1f\n", (d > 0 ? 100 * p / 1e6 / d : 0),
		    (d > 0 ? n / d : 0) }'
}

# cases TRIGGER INTERVAL: every load against the current protection
cases() {
	local trig=$1 iv=$2 kind n r0 b0 r1 b1 ops p50 p99 p999 t0 t1 pp hz
	for n in $CLIENTS open; do
		kind=closed
		[ "$n" = open ] && kind=open
		r0=$(ticks "$NS_P") b0=$(ticks "$NS_B")
		read -r ops p50 p99 p999 t0 t1 <<<"$(load $kind "$n")"
		r1=$(ticks "$NS_P") b1=$(ticks "$NS_B")
		read -r pp hz <<<"$(if [ "$trig" = none ]; then echo 0 0; else window "$t0" "$t1"; fi)"
		awk -v n="$n" -v trig="$trig" -v iv="$iv" -v ops="$ops" \
		    -v p50="$p50" -v p99="$p99" -v p999="$p999" -v pp="$pp" \
		    -v hz="$hz" -v rc=$((r1 - r0)) -v bc=$((b1 - b0)) \
		    -v side="${SIDE:+ remusd=$SIDE}" \
		    -v HZ="$HZ" -v d="$(((t1 - t0) / 1000))" 'BEGIN {
			rcpu = d > 0 ? 100 * rc / HZ / (d / 1000) : 0
			bcpu = d > 0 ? 100 * bc / HZ / (d / 1000) : 0
			printf "BENCH service clients=%s trigger=%s " \
			    "interval_ms=%d ops=%.1f lat_ms_p50=%.2f " \
			    "lat_ms_p99=%.2f lat_ms_p999=%.2f paused_pct=%.2f " \
			    "hz=%.1f remus_cpu_pct=%.1f remusd_cpu_pct=%.1f%s\n",
			    n, trig, iv, ops, p50, p99, p999, pp, hz, rcpu, bcpu,
			    side
		}' | tee -a "$T/bench"
	done
}

SIDES=""
if [ -n "${BASE_BUILD:-}" ]; then
	[ -x "$BASE_BUILD/bin/remusd" ] && [ -x "$BASE_BUILD/bin/remus" ] ||
		fail "BASE_BUILD=$BASE_BUILD: no bin/remus and bin/remusd"
	SIDES="base new"
fi
SIDE=""
cases none 0
for iv in $INTERVALS; do
	for trig in $TRIGGERS; do
		for SIDE in ${SIDES:-""}; do
			REMUSD=remusd REMUS=remus SIDE_EXTRA=""
			[ "$SIDE" = base ] && REMUSD=$BASE_BUILD/bin/remusd \
			    REMUS=$BASE_BUILD/bin/remus \
			    SIDE_EXTRA=${BASE_REMUS_EXTRA:-}
			protect -i "$iv" --trigger "$trig"
			cases "$trig" "$iv"
			unprotect
		done
	done
done

# Side by side: throughput and p50 relative to unprotected, per load.
echo "relative to unprotected (same run): ops ratio, p50 and p99 in ms"
awk '{
	split("", f)
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	key = f["clients"]
	if (f["trigger"] == "none") { base[key] = f["ops"]; next }
	printf "  clients=%-5s %-8s -i %-4s %s ops %6.1f (%5.1f%% of unprotected)" \
	    "  p50 %7.2f  p99 %7.2f  paused %5.2f%%  %5.1f Hz\n", key,
	    f["trigger"], f["interval_ms"], f["remusd"], f["ops"],
	    base[key] ? 100 * f["ops"] / base[key] : 0, f["lat_ms_p50"],
	    f["lat_ms_p99"], f["paused_pct"], f["hz"]
}' "$T/bench"
