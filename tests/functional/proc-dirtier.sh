#!/bin/bash
# proc-dirtier.sh -- the replica a driver builds equals, byte for byte
# (remus-arena-sum), the arena remus-dirtier summed at the same suspend, for
# every dirty tracking method this kernel has; each epoch finds at most the
# pages the dirtier wrote since the last one; the activated replica carries
# the dirtier's counters on.
. "$(dirname "$0")/proc-lib.sh"
requires_root

methods=""
for m in pagemap-scan softdirty; do
	start_guest "probe-$m" env REMUS_PROC_DIRTY=$m remus-dirtier --pages 1 --working-set 16
	if remus-proc-snap -m $m -n 1 "$GUEST_PID" "$T/probe-$m" \
	    >/dev/null 2>"$T/probe-$m.err"; then
		methods="$methods $m"
	else
		echo "method $m unavailable here: $(grep -m1 'dirty tracking\|no dirty' "$T/probe-$m.err")"
		grep -q "Linux >= 6.7\|CONFIG_MEM_SOFT_DIRTY" "$T/probe-$m.err" ||
			fail "unclear error for $m: $(cat "$T/probe-$m.err")"
	fi
	kill -9 "$GUEST_PID"
done
[ -n "$methods" ] || { echo "SKIP: no dirty tracking on this kernel"; exit 77; }

for m in $methods; do
	# The guests' own variable (softdirty: no uffd-wp registration);
	# remus-proc-snap -m is the driver's setting.
	export REMUS_PROC_DIRTY=$m
	rm -f "$T/sums"
	start_guest "d-$m" remus-dirtier --pages 200 --working-set 5000 \
	    --slice-ms 5 --checksum-log "$T/sums"
	n=12
	remus-proc-snap -m $m -n $n -i 30 -k -a "$GUEST_PID" "$T/rep-$m" \
	    >"$T/snap-$m.log" 2>"$T/snap-$m.err" || fail "$m: remus-proc-snap"
	grep -q "dirty tracking $m" "$T/snap-$m.err" || fail "$m: not used"
	want=$(sum_line "$T/sums" $n) || fail "$m: no checksum for suspend $n"
	got=$(remus-arena-sum "$T/rep-$m/proc-arena.img")
	[ "$got" = "$want" ] || fail "$m: replica $got, guest had $want at suspend $n"
	[ "$(cat "$T/rep-$m/proc-epoch")" = $n ] || fail "$m: committed epoch file"
	# 200 pages per cycle plus the page holding the counters.
	awk '$1 == "epoch" && $2 > 1 && ($4 < 1 || $4 > 201) { bad = 1 } END { exit bad }' \
	    "$T/snap-$m.log" || fail "$m: dirty counts: $(cat "$T/snap-$m.log")"
	echo "$m: replica equals the guest at suspend $n ($got)"

	# Activated: the dirtier goes on from the replica; its 13th suspend
	# ever is the new controller's first.
	pid2=$(cat "$T/rep-$m/proc-guest.pid")
	kill -0 "$pid2" || fail "$m: the activated dirtier is not running"
	remus-proc-snap -m $m -n 1 "$pid2" "$T/rep2-$m" >/dev/null 2>"$T/snap2-$m.err" ||
		fail "$m: protecting the activated dirtier"
	awk '$1 == 1 && $3 == 13 { ok = 1 } END { exit !ok }' "$T/sums" ||
		fail "$m: the activated dirtier lost its counters: $(tail -3 "$T/sums")"
	kill -9 "$pid2"
	rm -f "$T/d-$m.pid"
	unset REMUS_PROC_DIRTY
done
# Rate mode: writes go on while remus copies; the paused epochs still
# capture exactly the suspended arena.
rm -f "$T/sums"
start_guest rate remus-dirtier --rate 3000 --working-set 5000 \
    --checksum-log "$T/sums"
remus-proc-snap -n 8 -i 50 -k "$GUEST_PID" "$T/rep-rate" >"$T/snap-rate.log" \
    2>"$T/snap-rate.err" || fail "rate: remus-proc-snap"
want=$(sum_line "$T/sums" 8) || fail "rate: no checksum for suspend 8"
got=$(remus-arena-sum "$T/rep-rate/proc-arena.img")
[ "$got" = "$want" ] || fail "rate: replica $got, guest had $want"
awk '$1 == "epoch" && $2 > 1 && $4 > 1 { n++ } END { exit n < 3 }' \
    "$T/snap-rate.log" || fail "rate: the dirtier did not dirty: $(cat "$T/snap-rate.log")"
echo "rate mode: replica equals the guest at suspend 8"
echo "PASS"
