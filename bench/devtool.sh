#!/usr/bin/env bash
# bench/devtool.sh -- what an external device tool (remus --device-tool)
# costs per epoch, fork + exec against the coprocess mode, measured side by
# side in one run (a benchmark, not a test: `cmake --build <dir> --target
# bench-devtool`, as root).
#
# A remus-dirtier guest is protected to the blackhole (-b, the whole epoch
# loop with local ACKs) at -i 50 for DURATION_S (default 5) seconds per
# case: no tool (the baseline pause), a tool that does nothing (a sh script
# that exits 0; a sh loop answering "ok"), and contrib's state-copy (a 4 KiB
# state file copied per epoch).  Step times come from remus's own debug line
# per step (the time from spawn or request to exit or answer); the pause
# from --stats-json (step 2 runs inside it).  Each case ends with
#   BENCH devtool mode=<none|exec|coproc> tool=<noop|state-copy> step=2
#     us_p50=<x> us_p99=<x> step3_us_p50=<x> pause_us_p50=<x>
#     base_pause_us_p50=<x> epochs=<n>
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export REMUS_BUILD=${REMUS_BUILD:-$HERE/../build}
. "$HERE/../tests/functional/functions.sh"
set +e
requires_root
DURATION_S=${DURATION_S:-5}
TOOLS="$HERE/../contrib/device-tools"

cat >"$T/noop" <<'EOF'
#!/bin/sh
[ "$1" = -type ] && [ "$3" = -coproc ] || exit 0
while read -r _ _; do echo ok; done
EOF
chmod +x "$T/noop"
head -c 4096 /dev/urandom >"$T/state"
mkdir -p "$T/dest"
export REMUS_STATECOPY_SRC="$T/state" REMUS_STATECOPY_DEST="$T/dest"

pct() {	# P: the P-th percentile of the numbers on stdin
	sort -n | awk -v p="$1" '{ a[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR
		print a[i] }'
}

base=""
run_case() {	# MODE TOOL SPEC
	local mode=$1 tool=$2 spec=$3 name="$1-$2" args=()
	[ -n "$spec" ] && args=(--device-tool "$spec")
	start_guest "g-$name" remus-dirtier --pages 200 --working-set 2000 --arena-size 16M
	local G=$GUEST_PID
	start "remus-$name" remus -b -vv -i 50 --stats-json "$T/$name.json" "${args[@]}" proc:"$G"
	local R=$LAST_PID
	sleep "$DURATION_S"
	kill -INT $R
	wait $R
	kill -9 "$G" 2>/dev/null
	# Epoch 1 is the full one: left out.
	local pause s2 s2_99 s3 n
	pause=$(grep -v '"full":1' "$T/$name.json" | sed 's/.*"pause_us":\([0-9]*\).*/\1/' | pct 50)
	n=$(grep -vc '"full":1' "$T/$name.json")
	s2=$(grep -o 'step 2 epoch [0-9]*: ok in [0-9]* us' "$T/remus-$name.log" |
		awk '$4 != "1:" { print $7 }' | pct 50)
	s2_99=$(grep -o 'step 2 epoch [0-9]*: ok in [0-9]* us' "$T/remus-$name.log" |
		awk '$4 != "1:" { print $7 }' | pct 99)
	s3=$(grep -o 'step 3 epoch [0-9]*: ok in [0-9]* us' "$T/remus-$name.log" |
		awk '{ print $7 }' | pct 50)
	[ -z "$base" ] && base=$pause
	if [ "$mode" = none ]; then
		s2=0 s2_99=0 s3=0
	fi
	printf '%-7s %-10s step 2 p50 %7s us p99 %7s us, step 3 p50 %7s us, pause p50 %6s us (no tool: %s us)\n' \
		"$mode" "$tool" "$s2" "$s2_99" "$s3" "$pause" "$base"
	echo "BENCH devtool mode=$mode tool=$tool step=2 us_p50=$s2 us_p99=$s2_99 step3_us_p50=$s3 pause_us_p50=$pause base_pause_us_p50=$base epochs=$n"
}

run_case none none ""
run_case exec noop "noop=$T/noop"
run_case coproc noop "noop=coproc:$T/noop"
run_case exec state-copy "tpm=$TOOLS/state-copy"
run_case coproc state-copy "tpm=coproc:$TOOLS/state-copy"
