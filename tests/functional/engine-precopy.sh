#!/usr/bin/env bash
# engine-precopy.sh -- with --precopy, every committed epoch is still the
# guest's arena at that epoch's suspend, byte for byte, including the pages
# the guest wrote between the pre-copy and the suspend.
#
# remus-dirtier in rate mode writes pages continuously along a fixed cycle
# through its working set.  REMUS_FAULT=precopy-slow widens the window
# between the pre-copy and the suspend to 20 ms.  At 20,000 writes a second
# over 600 pages (a cycle in 30 ms, less than an epoch) the pages written in
# the window were written since the last suspend too: the pre-copy has
# them, and they must be copied again.  At 4,000 over 1,500 pages (a cycle
# in 375 ms) they were not: only the paused pass finds them.  remusd -t
# 3000: a loaded machine's slow commits are not what is tested here.  A pre-copy that missed either kind, or a paused pass that did
# not copy a pre-copied page again, leaves the replica different from the
# checksum the guest recorded at the suspend.  The stats must show both
# kinds in the window, so that the test cannot pass without exercising it
# (--precopy on: every epoch pre-copies).  Then the default (auto: epochs
# of 256 pages or more pre-copy), --precopy off, and a bad value.
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null

# The pre-copy needs a dirty log that can be read while the guest runs:
# PAGEMAP_SCAN (Linux >= 6.7).  Soft-dirty kernels (the kernel lab's 6.1)
# never pre-copy.
start_guest probe remus-dirtier --pages 1 --working-set 16 --arena-size 1M
remus -b -i 50 proc:"$GUEST_PID" >"$T/probe.log" 2>&1 &
P=$!
wait_for 10 grep -q 'dirty tracking' "$T/probe.log" || fail "probe: remus did not attach: $(cat "$T/probe.log")"
kill -INT $P
wait $P || true
kill -9 "$GUEST_PID"
if ! grep -q 'dirty tracking pagemap-scan' "$T/probe.log"; then
	echo "SKIP: no pre-copy here: $(grep -m1 'dirty tracking\|no pre-copy' "$T/probe.log")"
	exit 77
fi
grep -q 'no pre-copy' "$T/probe.log" && fail "pagemap-scan but no pre-copy: $(cat "$T/probe.log")"

dirtier() {	# name rate working-set
	guest_cmd "g-$1" remus-dirtier --rate "$2" --working-set "$3" \
		--arena-size 32M --checksum-log "$T/$1.sums"
}

run_one() {	# name rate working-set remus-flags...
	local name=$1 rate=$2 ws=$3 e port
	shift 3
	port=$(pick_port)
	start "remusd-$name" remusd --no-fence --insecure -t 3000 --listen 127.0.0.1:$port \
		-D "$T/st-$name" --guest "g-$name=$(dirtier "$name" "$rate" "$ws")"
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "$name: remusd did not listen"
	start_guest "g-$name" remus-dirtier --rate "$rate" --working-set "$ws" \
		--arena-size 32M --checksum-log "$T/$name.sums"
	start "remus-$name" remus -i 50 --insecure --name "g-$name" \
		--stats-json "$T/$name.json" "$@" proc:"$GUEST_PID" 127.0.0.1:$port
	local R=$LAST_PID
	wait_for 30 sh -c "[ \$(wc -l <'$T/$name.json') -ge 12 ]" ||
		fail "$name: 12 epochs not acknowledged: $(tail -3 "$T/remus-$name.log")"
	kill -INT $R
	wait $R || fail "$name: remus exited $? after SIGINT"
	wait_for 20 grep -q 'session over: clean end' "$T/remusd-$name.log" ||
		fail "$name: the session did not end cleanly"
	kill -9 "$GUEST_PID"
	e=$(replica_matches "$T/st-$name/g-$name" "$T/$name.sums") || fail "$name: $e"
	[ "$e" -ge 12 ] || fail "$name: only $e epochs committed"
	echo "$name: replica == guest's arena at epoch $e"
}

# window NAME KIND: count the epochs (not the full one) with pages of KIND
# in the window: "again", pre-copied pages written again (beyond the
# dirtier's counters page, written with every page), or "new", pages
# written only after the pre-copy.  Fails unless 3 or more have some.
window() {
	awk -F'[:,]' -v kind="$2" '
	{ for (i = 1; i < NF; i += 2) v[$i] = $(i + 1) }
	v["\"full\""] == 0 {
		n++
		if (v["\"precopy_pages\""] > 0) pre++
		if (kind == "again" && v["\"recopy_pages\""] > 1) k++
		if (kind == "new" && v["\"dirty_pages\""] > v["\"precopy_pages\""]) k++
	}
	END {
		printf "%d epochs: %d pre-copied, %d with pages %s in the window\n", n, pre, k, kind == "new" ? "written only after the pre-copy" : "written again after theirs"
		exit !(n >= 10 && pre >= n / 2 && k >= 3)
	}' "$T/$1.json" || fail "$1: the window was not exercised: $(head -3 "$T/$1.json")"
}

# The window, widened, both ways.
REMUS_FAULT=precopy-slow run_one again 20000 600 --precopy on
window again again
REMUS_FAULT=precopy-slow run_one new 4000 1500 --precopy on
window new new

# The default (auto), unwidened: about 400 pages an epoch, pre-copied.
run_one auto 8000 3000
awk -F'"precopy_pages":' 'NR > 1 { split($2, a, ","); if (a[1] > 0) n++ } END { exit n < 5 }' "$T/auto.json" ||
	fail "auto: no pre-copy at ~400 pages an epoch: $(head -3 "$T/auto.json")"

# Off: nothing is pre-copied.
run_one off 4000 1500 --precopy off
awk -F'"precopy_pages":' '{ split($2, a, ","); if (a[1] != 0) exit 1 }' "$T/off.json" ||
	fail "off: pages were pre-copied"

# A bad value: one line naming it, the usage exit status.
st=0
remus --precopy maybe -b proc:1 >"$T/bad.log" 2>&1 || st=$?
[ $st -eq 1 ] || fail "--precopy maybe: exit $st, want 1 (usage)"
grep -q -- '--precopy maybe: want auto, on or off' "$T/bad.log" || fail "--precopy maybe: $(cat "$T/bad.log")"
echo PASS
