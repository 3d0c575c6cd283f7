#!/bin/bash
# t-softdirty.sh -- the proc driver on Debian 12's own kernel (6.1): no
# PAGEMAP_SCAN, no async uffd-wp, but soft-dirty bits.  Runs inside the lab
# VM (remus-dirtier, remus-kvd, remus-proc-snap, remus-arena-sum on PATH).
#  - auto mode chooses soft-dirty; forcing pagemap-scan fails with one line
#    naming Linux >= 6.7;
#  - the replica built over soft-dirty epochs equals, byte for byte, the
#    arena the dirtier summed at the same suspend, and each epoch finds at
#    most the pages written since the last;
#  - the activated replica carries the dirtier's counters on;
#  - remus-kvd fails over with its keys.
. /lab/lib.sh

for b in remus-dirtier remus-kvd remus-proc-snap remus-arena-sum; do
	command -v $b >/dev/null || { fail softdirty "no $b in the lab"; exit 0; }
done
D=$(mktemp -d /tmp/softdirty.XXXXXX)

# wait_file FILE: up to 20 s for FILE to be non-empty.
wait_file() {
	local i
	for i in $(seq 200); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

remus-dirtier --pages 64 --working-set 2000 --slice-ms 5 \
    --checksum-log "$D/sums" --pidfile "$D/d.pid" >"$D/d.log" 2>&1 &
if ! wait_file "$D/d.pid"; then
	fail softdirty-start "remus-dirtier: $(cat "$D/d.log")"
	exit 0
fi
pid=$(cat "$D/d.pid")

# Forcing the method this kernel lacks: one clear line.
err=$(remus-proc-snap -m pagemap-scan -n 1 "$pid" "$D/none" 2>&1 >/dev/null)
st=$?
check softdirty-no-scan $([ $st -ne 0 ] && echo "$err" | grep -q "Linux >= 6.7"; echo $?) \
    "status $st: $err"

n=15
remus-proc-snap -n $n -i 20 -k -a "$pid" "$D/rep" >"$D/snap.log" 2>"$D/snap.err"
st=$?
if [ $st -ne 0 ]; then
	if grep -q "CONFIG_MEM_SOFT_DIRTY" "$D/snap.err"; then
		skip softdirty "kernel $(uname -r) has no soft-dirty bits"
	else
		fail softdirty "remus-proc-snap: $(tail -3 "$D/snap.err")"
	fi
	kill -9 "$pid" 2>/dev/null
	exit 0
fi
check softdirty-auto $(grep -q "dirty tracking softdirty" "$D/snap.err"; echo $?) \
    "$(grep -m1 'dirty tracking' "$D/snap.err")"

want=$(awk -v s=$n '$1 == s { v = $2 } END { print v }' "$D/sums")
got=$(remus-arena-sum "$D/rep/proc-arena.img")
check softdirty-replica $([ -n "$want" ] && [ "$got" = "$want" ]; echo $?) \
    "replica $got, guest at suspend $n: $want"
# 64 pages per cycle plus the page holding the counters.
bad=$(awk '$1 == "epoch" && $2 > 1 && ($4 < 1 || $4 > 65)' "$D/snap.log")
check softdirty-counts $([ -z "$bad" ]; echo $?) "${bad:-epochs 2..$n within 1..65 pages}"
pause=$(awk '$1 == "epoch" { s = s " " $6 } END { print s }' "$D/snap.log")
echo "softdirty pause_us per epoch:$pause"

pid2=$(cat "$D/rep/proc-guest.pid" 2>/dev/null)
if [ -n "$pid2" ] && kill -0 "$pid2" 2>/dev/null; then
	remus-proc-snap -n 1 "$pid2" "$D/rep2" >/dev/null 2>"$D/snap2.err"
	check softdirty-activate $(awk -v n=$((n + 1)) '$1 == 1 && $3 == n { ok = 1 } END { exit !ok }' "$D/sums"; echo $?) \
	    "counters after activation: $(tail -1 "$D/sums")"
	kill -9 "$pid2"
else
	fail softdirty-activate "no activated dirtier: $(tail -3 "$D/snap.err")"
fi

# remus-kvd over soft-dirty: keys survive a failover to another port.
kv() {	# kv PORT REQUEST...: one reply line per request
	local port=$1 line r
	shift
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	for r in "$@"; do
		printf '%s\n' "$r" >&3
		IFS= read -r -t 10 -u 3 line || { exec 3>&-; return 1; }
		printf '%s\n' "$line"
	done
	exec 3>&-
}
remus-kvd --listen 127.0.0.1:7301 --arena-size 16M --pidfile "$D/kvd.pid" \
    >"$D/kvd.log" 2>&1 &
wait_file "$D/kvd.pid"
for i in $(seq 50); do kv 7301 PING >/dev/null 2>&1 && break; sleep 0.1; done
kv 7301 "SET a 1" "SET b two words" "INCR c" "INCR c" >/dev/null
remus-proc-snap -n 3 -i 20 -k -a -L 127.0.0.1:7302 \
    "$(cat "$D/kvd.pid")" "$D/kvrep" >"$D/kvsnap.log" 2>"$D/kvsnap.err"
for i in $(seq 100); do kv 7302 PING >/dev/null 2>&1 && break; sleep 0.1; done
out=$(kv 7302 "GET a" "GET b" "GET c" 2>&1 | tr '\n' '|')
check softdirty-kvd $([ "$out" = "VALUE 1|VALUE two words|VALUE 2|" ]; echo $?) "$out"
kill -9 "$(cat "$D/kvrep/proc-guest.pid" 2>/dev/null)" 2>/dev/null
# The whole stack over soft-dirty: remus -> remusd on loopback, the
# primary killed; the backup's replica equals the dirtier's arena at the
# last committed epoch.
if command -v remus >/dev/null && command -v remusd >/dev/null; then
	rm -f "$D/sums" "$D/d.pid"
	remus-dirtier --pages 100 --working-set 3000 --checksum-log "$D/sums" \
	    --pidfile "$D/d.pid" >"$D/d2.log" 2>&1 &
	wait_file "$D/d.pid"
	# The backup runs only what it was told for guest "d" (never
	# activated here: --no-activate); its replica is in STATEDIR/d.
	remusd --no-fence -d -D "$D/state" --no-activate --insecure --listen 127.0.0.1:7310 \
	    --guest "d=remus-dirtier --pages 100 --working-set 3000 --checksum-log $D/sums --pidfile $D/d.pid" \
	    >"$D/remusd.log" 2>&1 &
	rd=$!
	sleep 1
	remus -i 100 --insecure --name d "proc:$(cat "$D/d.pid")" 127.0.0.1:7310 >"$D/remus.log" 2>&1 &
	rp=$!
	for i in $(seq 100); do [ -s "$D/state/d/proc-epoch" ] && break; sleep 0.1; done
	sleep 2
	kill -9 $rp
	for i in $(seq 100); do grep -q "session over" "$D/remusd.log" && break; sleep 0.1; done
	n=$(cat "$D/state/d/proc-epoch" 2>/dev/null)
	want=$(awk -v s="$n" '$1 == s { v = $2 } END { print v }' "$D/sums")
	got=$(remus-arena-sum "$D/state/d/proc-arena.img" 2>/dev/null)
	check softdirty-remus $([ -n "$n" ] && [ -n "$want" ] && [ "$got" = "$want" ]; echo $?) \
	    "epoch ${n:-none}: replica $got, guest $want; $(grep -m1 'dirty tracking' "$D/remus.log")"
	kill -9 "$(cat "$D/d.pid")" $rd 2>/dev/null
else
	skip softdirty-remus "no remus/remusd in the lab"
fi
rm -rf "$D"
exit 0
