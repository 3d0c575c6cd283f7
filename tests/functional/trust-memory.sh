#!/usr/bin/env bash
# trust-memory.sh -- what a record's announced length makes remusd
# allocate (issue 12: a cap on memory per open epoch).  Four peers, each
# with a configured guest's name and program, open an epoch, announce a
# 16 MiB page batch in its 8-byte header and then send it a byte every
# 0.2 s.  remusd's input buffer grows with the bytes that arrive, not to
# the announced size: its data segment (VmData: allocated, touched or
# not) must grow by less than one announced record for all four
# together (4 x 16 MiB before the change).  The peers are dropped at the
# progress deadline as trust-limits checks.
. "$(dirname "$0")/functions.sh"
requires_root

port=$(pick_port)
DIRTIER=$(command -v remus-dirtier)
gs=()
for i in 1 2 3 4; do gs+=(--guest "m$i=$DIRTIER --pages 1"); done
start remusd remusd --no-fence --insecure --listen "127.0.0.1:$port" -D "$T/st" \
	--max-sessions 8 "${gs[@]}"
B=$LAST_PID
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
vmdata() { awk '/^VmData:/ { print $2 }' "/proc/$B/status"; }
d0=$(vmdata)
for i in 1 2 3 4; do
	remus-trust-peer -i 200 -w 4000 -n "m$i" -p "$DIRTIER" -a remus-dirtier -P 4096 \
		slowrec "127.0.0.1:$port" >"$T/m$i.out" 2>&1 &
	pids+=($!)
done
# While the four trickle (after their headers and HELLOs are in).
peak=$d0
for ((k = 0; k < 15; k++)); do
	sleep 0.2
	d=$(vmdata)
	[ "$d" -gt "$peak" ] && peak=$d
done
for p in "${pids[@]}"; do wait "$p"; done
for i in 1 2 3 4; do echo "m$i: $(cat "$T/m$i.out")"; done
for i in 1 2 3 4; do
	# Still open (admitted, not refused), its header, HELLO, epoch
	# and record header sent (about 300 bytes).
	b=$(sed -n 's/^open after [0-9]* ms, sent \([0-9]*\) bytes$/\1/p' "$T/m$i.out")
	[ -n "$b" ] && [ "$b" -ge 250 ] ||
		fail "m$i was not admitted with its record header: $(cat "$T/m$i.out")"
done
echo "remusd VmData: $d0 kB before, $peak kB at most while 4 peers announced 16 MiB records"
grow=$((peak - d0))
[ "$grow" -lt 16384 ] ||
	fail "remusd's data grew by $grow kB for four announced 16 MiB records (the buffer follows the announcement)"
echo "grew by $grow kB (< 16384)"

# The guest state of one epoch: 4 MiB records, each legal alone, that add
# up past the 256 MiB an open epoch may hold in memory.  remusd refuses
# the epoch with one line naming the limit, does not activate (its own
# limit is not the primary's loss) and keeps the replica at epoch 1; its
# memory grows by less than one record may announce (64 MiB; 38 MiB
# measured: the state buffer and the input buffer), not by the epoch.
d0=$(vmdata)
remus-trust-peer -w 20000 -n m1 -p "$DIRTIER" -a remus-dirtier -P 4096 \
	bigstate "127.0.0.1:$port" >"$T/big.out" 2>&1 &
bp=$!
peak=$d0
while kill -0 "$bp" 2>/dev/null; do
	d=$(vmdata)
	[ "$d" -gt "$peak" ] && peak=$d
	sleep 0.1
done
wait "$bp"
echo "bigstate: $(cat "$T/big.out")"
grep -q "error: .*more than 256 MiB of guest state in one epoch" "$T/big.out" ||
	fail "remusd did not refuse 260 MiB of guest state in one epoch: $(cat "$T/big.out"); $(tail -3 "$T/remusd.log")"
sent=$(sed -n 's/.*sent \([0-9]*\) bytes.*/\1/p' "$T/big.out")
[ "$sent" -ge $((256 << 20)) ] || fail "refused after $sent bytes, before the limit"
grep -q "more than 256 MiB of guest state in one epoch" "$T/remusd.log" ||
	fail "remusd's log does not say which limit"
grep -q "activat" "$T/remusd.log" && grep -q "ACTIVATING" "$T/remusd.log" &&
	fail "remusd activated on its own limit: $(grep ACTIVAT "$T/remusd.log")"
[ "$(cat "$T/st/m1/proc-epoch" 2>/dev/null)" = 1 ] ||
	fail "the replica is not kept at epoch 1: '$(cat "$T/st/m1/proc-epoch" 2>/dev/null)'"
[ -e "$T/st/m1/proc-guest.pid" ] && fail "a guest was started on the backup"
echo "remusd VmData: $d0 kB before, $peak kB at most while a peer sent $((sent >> 20)) MiB of guest state in one epoch"
[ $((peak - d0)) -lt 65536 ] || fail "remusd's data grew by $((peak - d0)) kB for one epoch's guest state"
echo PASS
