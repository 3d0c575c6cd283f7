#!/usr/bin/env bash
# trust-limits.sh -- what a peer can make remusd hold is bounded (issue 12),
# while a legitimate guest keeps being protected by the same remusd:
#   - a peer trickling its stream header one byte every 0.8 s, and a silent
#     one, are dropped at the header + HELLO deadline (--hello-timeout);
#   - a peer that got in (a configured guest's name and program) and then
#     trickles a record is dropped at the progress deadline (whole records
#     count, not bytes), and leaves no directory behind;
#   - a header announcing more memory than --max-guest-mem is refused;
#   - connections beyond --max-sessions are refused at once;
#   - a flood of sessions that send a whole memory image and never commit
#     leaves the state directory as it was;
#   - with descriptors exhausted, accept() backs off: a few log lines, not
#     a spinning loop.
# The legitimate guest's epoch rate is printed before and during the
# attacks; it must not collapse (a third of it at least).
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null
requires prlimit --version

port=$(pick_port)
st="$T/st"
DIRTIER=$(command -v remus-dirtier)
legit=$(guest_cmd legit remus-dirtier --pages 100 --working-set 1000 \
	--arena-size 8M --checksum-log "$T/legit.sums")
start remusd remusd --no-fence --insecure --listen "127.0.0.1:$port" -D "$st" \
	--hello-timeout 2000 --max-guest-mem 64M --max-sessions 6 \
	--guest "legit=$legit" --guest "spare=$DIRTIER --pages 1"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
start_guest legit remus-dirtier --pages 100 --working-set 1000 \
	--arena-size 8M --checksum-log "$T/legit.sums"
G=$GUEST_PID
start remus remus -i 50 --insecure --name legit proc:"$G" "127.0.0.1:$port"
R=$LAST_PID
wait_for 30 test -s "$st/legit/proc-epoch" || fail "legit: nothing committed"

epoch() { cat "$st/legit/proc-epoch"; }
e0=$(epoch); t0=$(date +%s.%N)
sleep 3
e1=$(epoch); t1=$(date +%s.%N)
rate() { awk -v a="$1" -v b="$2" -v s="$3" -v t="$4" 'BEGIN { printf "%.1f", (b - a) / (t - s) }'; }
rate_before=$(rate "$e0" "$e1" "$t0" "$t1")

peer() {	# LABEL MODE [flags]: remus-trust-peer, its line in $T/LABEL.out
	local label=$1 mode=$2
	shift 2
	remus-trust-peer "$@" "$mode" "127.0.0.1:$port" >"$T/$label.out" 2>&1 ||
		fail "$label: $(cat "$T/$label.out")"
}
ms() { sed -n 's/^closed after \([0-9]*\) ms.*/\1/p' "$T/$1.out"; }

# All at once, in the background.
peer slow slow -i 800 -w 20000 &
p1=$!
peer silent silent -w 20000 &
p2=$!
peer slowrec slowrec -i 800 -w 30000 -n spare -p "$DIRTIER" -a "remus-dirtier" -P 4096 &
p3=$!
peer bigmem bigmem -m 128 -w 10000 &
p4=$!
wait $p1 $p2 $p3 $p4
e2=$(epoch); t2=$(date +%s.%N)
rate_during=$(rate "$e1" "$e2" "$t1" "$t2")

for l in slow silent slowrec bigmem; do echo "$l: $(cat "$T/$l.out")"; done
n=$(ms slow); [ -n "$n" ] && [ "$n" -lt 4000 ] || fail "slow peer not dropped at the 2 s HELLO deadline"
n=$(ms silent); [ -n "$n" ] && [ "$n" -lt 4000 ] || fail "silent peer not dropped at the 2 s HELLO deadline"
grep -q "dropped: no stream header and HELLO within 2000 ms" "$T/remusd.log" ||
	fail "no line for the HELLO deadline"
n=$(ms slowrec); [ -n "$n" ] && [ "$n" -lt 9000 ] || fail "trickling peer not dropped at the 5 s progress deadline"
grep -q "dropped: no progress for" "$T/remusd.log" || fail "no line for the progress deadline"
grep -q "error: guest too large" "$T/bigmem.out" || fail "bigmem: not refused"
grep -q "refused: a guest of 128 MiB, at most 64 MiB accepted here" "$T/remusd.log" ||
	fail "bigmem: no line naming the limit"
# Removed when remusd reaps the session, just after it dropped the peer
# (the peer may see the close first: under ASan it did).
wait_for 5 test ! -e "$st/spare" || fail "the trickling peer's directory was left behind"

# --max-sessions 6: legit and five holders; the sixth is refused at once.
holders=()
for i in 1 2 3 4 5; do
	peer "hold$i" hold -w 1500 &
	holders+=($!)
done
sleep 0.5
peer hold6 hold -w 3000
wait "${holders[@]}"
n=$(ms hold6); [ -n "$n" ] && [ "$n" -lt 1000 ] || fail "the connection past --max-sessions was not refused: $(cat "$T/hold6.out")"
grep -q "refused: 6 sessions already (--max-sessions 6)" "$T/remusd.log" ||
	fail "no line for --max-sessions"
echo "max-sessions: $(cat "$T/hold6.out")"

# A flood of sessions that never commit: each sends 8 MiB of pages into a
# guest's fresh directory and closes before EPOCH_END.
before=$(du -sk "$st" | cut -f1)
max=0
for i in $(seq 1 20); do
	peer "ab$i" abandon -w 5000 -n spare -p "$DIRTIER" -a "remus-dirtier" -P 2048
	s=$(du -sk "$st" | cut -f1)
	[ "$s" -gt "$max" ] && max=$s
done
wait_for 10 sh -c "[ ! -e '$st/spare' ]" || fail "abandoned sessions left $st/spare"
after=$(du -sk "$st" | cut -f1)
echo "flood: 20 abandoned sessions of 8 MiB: state directory ${before} KiB before," \
	"at most ${max} KiB between them, ${after} KiB after"
[ "$after" -le $((before + 1024)) ] || fail "the state directory grew from $before to $after KiB"
[ "$(grep -c 'session over: nothing committed' "$T/remusd.log")" -ge 20 ] ||
	fail "abandoned sessions did not end"

e3=$(epoch)
[ "$e3" -gt "$e2" ] || fail "legit stopped committing"
echo "legit: $rate_before epochs/s before, $rate_during during the deadline attacks"
awk -v d="$rate_during" -v b="$rate_before" 'BEGIN { exit !(d * 3 >= b) }' ||
	fail "legit's epoch rate collapsed under the attacks"
kill -INT $R
wait $R || fail "legit: remus exited $? after SIGINT"
kill -9 "$G"
e=$(replica_matches "$st/legit" "$T/legit.sums") || fail "legit: $e"
echo "legit: replica == arena at epoch $e"

# Descriptors exhausted: remusd with 24 of them, 60 connections held.
port2=$(pick_port)
start remusd-fd prlimit --nofile=24 remusd --no-fence --insecure --listen "127.0.0.1:$port2" \
	-D "$T/st-fd" --hello-timeout 3000
FD=$LAST_PID
wait_for 10 sh -c "ss -Htln 'sport = :$port2' | grep -q ." || fail "remusd-fd did not listen"
python3 - "$port2" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(60):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass
    held.append(s)
time.sleep(6)
EOF
sleep 0.5
n=$(grep -c "accept: " "$T/remusd-fd.log" || true)
lines=$(wc -l <"$T/remusd-fd.log")
bytes=$(wc -c <"$T/remusd-fd.log")
conns=$(grep -c ": connected$" "$T/remusd-fd.log" || true)
echo "fd exhaustion: $conns connections served, $n accept lines, $lines lines," \
	"$bytes bytes of log in 6 s"
grep -q "accept: Too many open files: not accepting for" "$T/remusd-fd.log" ||
	fail "accept did not back off on EMFILE"
# A few lines per 10 s window (and one more with the count), not one per
# spin of the loop.
[ "$n" -le 12 ] || fail "remusd-fd logged $n accept lines in 6 s"
kill -0 $FD 2>/dev/null || fail "remusd-fd died"
echo PASS
