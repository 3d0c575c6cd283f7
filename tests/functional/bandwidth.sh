#!/usr/bin/env bash
# bandwidth.sh -- remus --bandwidth MBIT caps the replication link: a
# 24 MiB proc guest whose every page holds data is protected uncompressed
# (-u) over loopback with a cap of 40 Mbit/s.  The bytes the kernel saw
# acknowledged on the connection (ss's bytes_acked, sampled every 0.1 s)
# over the time of the full first checkpoint give the rate actually
# carried, which must be the cap within 10% (loopback carries gigabits:
# without the cap the same checkpoint goes far faster, measured first).
# Every later epoch re-dirties the whole guest, so the cap stretches its
# period beyond the interval: remus must say so.  Then a live disk sync
# under the same cap: the sync and the link together keep to it.
. "$(dirname "$0")/functions.sh"
requires_root
requires which ss
CAP=${CAP:-40}
MIB=${MIB:-24}
pages=$((MIB * 256))

run() {	# NAME [remus flags...]: protect, sample the link, stop after epoch 2
	local name=$1
	shift
	start_guest "g-$name" remus-dirtier --pages $pages --working-set $pages \
		--arena-size $((MIB + 2))M --slice-ms 20
	# Unattached, it writes every page each slice: all hold data now.
	sleep 0.5
	local port
	port=$(pick_port)
	start "remusd-$name" remusd --no-fence --no-activate --insecure \
		--listen 127.0.0.1:$port -D "$T/st-$name" --guest "g-$name=$GUEST_CMD"
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "$name: remusd did not listen"
	start "remus-$name" remus -u -i 200 --insecure --stats-json "$T/$name.json" \
		"$@" --name "g-$name" proc:"$GUEST_PID" 127.0.0.1:$port
	local R=$LAST_PID
	# Sample until epoch 1 is acknowledged.
	: >"$T/$name.samples"
	for ((i = 0; i < 600; i++)); do
		b=$(ss -tinH state established "dport = :$port" 2>/dev/null |
			grep -o 'bytes_acked:[0-9]*' | head -1 | cut -d: -f2)
		echo "$(date +%s%N) ${b:-0}" >>"$T/$name.samples"
		grep -q '"epoch":1,' "$T/$name.json" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '"epoch":1,' "$T/$name.json" || fail "$name: epoch 1 not acknowledged in 60 s"
	RUN_PID=$R
}

# Rate over the samples between 10% and 90% of epoch 1's wire bytes
# (the connection's first bytes are the handshake, its last wait for ACKs).
measure() {	# NAME -> prints Mbit/s
	local w
	w=$(sed -n 's/.*"epoch":1,.*"wire_bytes":\([0-9]*\).*/\1/p' "$T/$1.json")
	awk -v w="$w" '$2 >= w * 0.1 && $2 <= w * 0.9 {
			if (!n++) { t0 = $1; b0 = $2 } t1 = $1; b1 = $2 }
		END { if (n < 5 || t1 == t0) { print "none"; exit }
			printf "%.1f\n", (b1 - b0) * 8 / ((t1 - t0) / 1e9) / 1e6 }' "$T/$1.samples"
}

stop_run() {
	kill -INT "$RUN_PID"
	wait "$RUN_PID" || true
}

run free
free_rate=$(sed -n 's/.*"epoch":1,.*"wire_bytes":\([0-9]*\),.*"send_us":\([0-9]*\),.*/\1 \2/p' "$T/free.json" |
	awk '{ printf "%.0f", $1 * 8 / $2 }')
stop_run
echo "no cap: epoch 1 ($MIB MiB) went at $free_rate Mbit/s (remus's own send time)"

run capped --bandwidth "$CAP"
rate=$(measure capped)
[ "$rate" != none ] || fail "capped: too few samples during epoch 1: $(wc -l <"$T/capped.samples")"
echo "capped at $CAP Mbit/s: measured $rate Mbit/s on the link during the full checkpoint"
awk -v r="$rate" -v c="$CAP" 'BEGIN { d = (r - c) / c; if (d < 0) d = -d; exit !(d <= 0.10) }' ||
	fail "capped: $rate Mbit/s is not within 10% of $CAP"
grep -q "epoch 1 (full): .* Mbit/s under --bandwidth $CAP" "$T/remus-capped.log" ||
	fail "capped: the full checkpoint's rate was not reported"
# Epoch 2 re-sends the whole guest: ~5 s for an interval of 200 ms.
wait_for 60 grep -q "stretched by --bandwidth $CAP" "$T/remus-capped.log" ||
	fail "capped: a stretched period was not reported"
grep -o "epoch [0-9]*: period .* stretched by --bandwidth $CAP" "$T/remus-capped.log" | head -1
stop_run

# The disk sync draws on the same bucket: a live initial copy of a
# 24 MiB image of random data (every block differs from the backup's
# empty one) while epochs run; the sync connection and the link together
# are sampled, and together they stay within 10% of the cap.
head -c $((MIB << 20)) /dev/urandom >"$T/p.img"
truncate -s ${MIB}M "$T/b.img"
start_guest g-disk remus-dirtier --pages 20 --working-set 200 --arena-size 4M
port=$(pick_port) sport=$(pick_port)
start remusd-disk remusd --no-fence --no-activate --disk-sync-listen "127.0.0.1:$sport" \
	--insecure --listen 127.0.0.1:$port -D "$T/st-disk" --disk "$T/b.img" \
	--guest "g-disk=$GUEST_CMD"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "disk: remusd did not listen"
start remus-disk remus -i 100 --insecure --bandwidth "$CAP" --disk-sync "127.0.0.1:$sport" \
	--disk "$T/p.img" --nbd-listen "unix:$T/nbd.sock" --name g-disk proc:"$GUEST_PID" 127.0.0.1:$port
RUN_PID=$LAST_PID
: >"$T/disk.samples"
for ((i = 0; i < 600; i++)); do
	s=$(ss -tinH state established "dport = :$sport" 2>/dev/null | grep -o 'bytes_acked:[0-9]*' | head -1 | cut -d: -f2)
	l=$(ss -tinH state established "dport = :$port" 2>/dev/null | grep -o 'bytes_acked:[0-9]*' | head -1 | cut -d: -f2)
	echo "$(date +%s%N) ${s:-0} ${l:-0}" >>"$T/disk.samples"
	[ "${s:-0}" -ge $(((MIB << 20) * 9 / 10)) ] && break
	sleep 0.1
done
drate=$(awk -v w=$((MIB << 20)) '$2 >= w * 0.1 && $2 <= w * 0.9 {
		if (!n++) { t0 = $1; s0 = $2; l0 = $3 } t1 = $1; s1 = $2; l1 = $3 }
	END { if (n < 5 || t1 == t0) { print "none"; exit }
		dt = (t1 - t0) / 1e9
		printf "%.1f %.1f\n", (s1 - s0 + l1 - l0) * 8 / dt / 1e6, (s1 - s0) * 8 / dt / 1e6 }' "$T/disk.samples")
[ "$drate" != none ] || fail "disk: too few samples during the sync"
set -- $drate
echo "disk sync under a $CAP Mbit/s cap: sync and link together $1 Mbit/s (the sync alone $2)"
awk -v r="$1" -v c="$CAP" 'BEGIN { d = (r - c) / c; if (d < 0) d = -d; exit !(d <= 0.10) }' ||
	fail "disk: $1 Mbit/s together is not within 10% of $CAP"
stop_run
echo "bandwidth: cap $CAP Mbit/s, measured $rate Mbit/s, uncapped $free_rate Mbit/s"
echo PASS
