#!/usr/bin/env bash
# bench/netbuf.sh -- what network buffering costs a client, per driver and
# checkpoint interval, measured side by side in one run (a benchmark, not
# a test: `cmake --build <dir> --target bench-netbuf`, as root).
#
# Latency: remus-kvd protected by remus in the namespaces of
# tests/functional/netbuf-lib.sh; a client sends requests at random phases
# of the epoch (a random 0..interval pause before each) and logs each
# round trip.  "added" = round trip with buffering minus the p50 round trip
# of the same guest protected without buffering (remus -F -n), next to the
# expectation interval/2 + pause + ACK round trip (p50s from remus
# --stats-json).
#
# Packets per second: a UDP flood from the guest's namespace to the host
# side, held by `remus-netbuf pump` (an epoch every interval, released at
# once) and without any buffering (the ratio is the driver's cost).
#
# Each case ends with
#   BENCH netbuf driver=<plug|nfqueue> interval_ms=<n>
#     added_latency_ms_p50=<x> added_latency_ms_p99=<x> pps=<x> ...
# DRIVERS (default: nfqueue, plus plug where the kernel has sch_plug),
# INTERVALS (default "25 50 100 200"), DURATION_MS (client run, at least
# 4000, else 50 intervals),
# FLOOD (datagrams per pps run, 100000).  BENCH_LAB=1 runs it inside the
# kernel lab instead (Debian's kernel under QEMU TCG, which has sch_plug):
# plug and nfqueue side by side.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "${BENCH_LAB:-}" = 1 ]; then
	# The plug driver, where this kernel lacks sch_plug: in the lab.
	LAB_TESTS=b-netbuf.sh LAB_TIMEOUT=${LAB_TIMEOUT:-1500} \
	    bash "$HERE/../tests/lab/kernel/run.sh"
	exit $?
fi
export REMUS_BUILD=${REMUS_BUILD:-$HERE/../build}
. "$HERE/../tests/functional/functions.sh"
. "$HERE/../tests/functional/netbuf-lib.sh"
set +e
requires_root
requires ip netns list

INTERVALS=${INTERVALS:-25 50 100 200}
DURATION_MS=${DURATION_MS:-4000}
FLOOD=${FLOOD:-100000}
if [ -z "${DRIVERS:-}" ]; then
	DRIVERS=nfqueue
	[ "$(remus-netbuf probe 2>/dev/null)" = plug=1 ] && DRIVERS="plug nfqueue"
fi

nb_net_up
KVD_LISTEN='[::]:7000' nb_guest_start 1
run=0

# pct P FILE: the P-th percentile of the numbers in FILE.
pct() {
	sort -n "$2" | awk -v p="$1" '{v[NR] = $1} END {
		if (NR == 0) { print 0; exit }
		i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1
		print v[i] }'
}

# protect ARGS...: start remusd and remus with ARGS; sets R B ST.
protect() {
	run=$((run + 1))
	# The guest's replica: STATEDIR/NAME.
	ST="$T/st$run/$GUEST_NAME"
	ip netns exec "$NS_B" remusd --no-fence --insecure --listen 10.91.3.2:5270 -D "$T/st$run" -t 3000 \
	    --guest "$GUEST_NAME=$GUEST_CMD" >"$T/remusd$run.log" 2>&1 &
	B=$!
	_kill_pids="$_kill_pids $B"
	wait_for 10 sh -c "ip netns exec $NS_B ss -Htln 'sport = :5270' | grep -q ." ||
		fail "remusd did not listen"
	ip netns exec "$NS_P" remus --insecure --stats-json "$T/stats$run.json" "$@" \
	    --name "$GUEST_NAME" proc:"$GUEST_PID" 10.91.3.2:5270 >"$T/remus$run.log" 2>&1 &
	R=$!
	_kill_pids="$_kill_pids $R"
	wait_for 30 test -s "$ST/proc-epoch" || fail "remus $*: nothing committed"
}

unprotect() {
	kill -TERM $R 2>/dev/null; wait $R 2>/dev/null
	kill -TERM $B 2>/dev/null; wait $B 2>/dev/null
}

# client GAP_US: round trips in ms, one per line, into $T/lat; runs
# DURATION_MS or 50 gaps, whichever is longer (enough samples for a p99
# of sorts at long intervals).
client() {
	local d=$((($1 / 1000) * 50))
	[ "$d" -gt "$DURATION_MS" ] || d=$DURATION_MS
	inC remus-netbuf kv-client 10.91.1.2 7000 "$T/client$run.log" \
	    "$d" "b$run-" "$1"
	awk '$1 == "SET" || $1 == "GET" { printf "%.3f\n", ($NF - $(NF-1)) / 1000 }' \
	    "$T/client$run.log" >"$T/lat"
	[ -s "$T/lat" ] || fail "client got no reply: $(tail -1 "$T/client$run.log")"
}

# json_p50 FIELD: p50 of FIELD over the non-full epochs of this run
json_p50() {
	sed -n "/\"full\":0/s/.*\"$1\":\([0-9]*\).*/\1/p" "$T/stats$run.json" >"$T/j"
	pct 50 "$T/j"
}

# pps [pump args...]: datagrams per second from G to P's side of the veth
pps() {
	local rx pump=""
	if [ $# -gt 0 ]; then
		ip netns exec "$NS_P" remus-netbuf pump "$@" "$HIF" 600000 \
		    >"$T/pump" 2>&1 &
		pump=$!
		wait_for 20 grep -q ready "$T/pump"
	fi
	# Quiet for 3 s ends the count: longer than any epoch here.
	ip netns exec "$NS_P" remus-netbuf udp-recv 5555 3000 >"$T/rx" 2>&1 &
	rx=$!
	wait_for 10 grep -q listening "$T/rx"
	ip netns exec "$NS_G" remus-netbuf udp-send 10.91.1.1 5555 "$FLOOD"
	wait $rx
	[ -n "$pump" ] && { kill -TERM $pump 2>/dev/null; wait $pump 2>/dev/null; }
	# "PPS RECEIVED DROPS" (drops: the driver's counter, 0 unbuffered)
	awk -v d="$(sed -n 's/.*drops=\([0-9]*\).*/\1/p' "$T/pump" 2>/dev/null)" \
	    '/^received/ { printf "%d %d %d\n", ($4 > 0 ? $2 / ($4 / 1e6) : 0),
	    $2, d + 0 }' "$T/rx"
}

# Baselines: protected without buffering; flood without buffering.
protect -i 50 -F -n
client 0
base_p50=$(pct 50 "$T/lat")
unprotect
read -r base_pps base_rx _ <<<"$(pps)"
echo "baseline: round trip p50 ${base_p50} ms (no buffering), flood ${base_pps} pps ($base_rx of $FLOOD received)"

for drv in $DRIVERS; do
	for iv in $INTERVALS; do
		protect -i "$iv" --netbuf-if "$HIF" --netbuf-driver "$drv"
		client $((iv * 1000))
		p50=$(pct 50 "$T/lat") p99=$(pct 99 "$T/lat")
		n=$(wc -l <"$T/lat")
		pause=$(json_p50 pause_us) rtt=$(json_p50 ack_rtt_us)
		unprotect
		read -r p prx pdrops <<<"$(pps -d "$drv" -i "$iv")"
		awk -v d="$drv" -v iv="$iv" -v p50="$p50" -v p99="$p99" \
		    -v b="$base_p50" -v pause="$pause" -v rtt="$rtt" -v n="$n" \
		    -v pps="$p" -v bpps="$base_pps" -v prx="$prx" -v pd="$pdrops" \
		    -v flood="$FLOOD" 'BEGIN {
			ex = iv / 2 + pause / 1000 + rtt / 1000
			a50 = p50 - b; a99 = p99 - b
			printf "%s %d ms: %d requests, added latency p50 %.2f ms " \
			    "(expected ~%.2f = %d/2 + pause %.2f + ack rtt %.2f), " \
			    "p99 %.2f ms; %d pps (%.0f%% of unbuffered), %d of %d " \
			    "received, %d dropped by the driver\n", d, iv,
			    n, a50, ex, iv, pause / 1000, rtt / 1000, a99, pps,
			    bpps ? 100 * pps / bpps : 0, prx, flood, pd
			printf "BENCH netbuf driver=%s interval_ms=%d " \
			    "added_latency_ms_p50=%.2f added_latency_ms_p99=%.2f " \
			    "pps=%d expected_ms=%.2f pause_ms=%.2f ack_rtt_ms=%.2f " \
			    "unbuffered_pps=%d requests=%d received=%d drops=%d\n",
			    d, iv, a50, a99, pps, ex, pause / 1000, rtt / 1000, bpps,
			    n, prx, pd
		}'
	done
done
