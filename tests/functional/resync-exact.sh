#!/usr/bin/env bash
# resync-exact.sh -- the replica an incremental resync produces is the
# guest's memory at that epoch, byte for byte, including the pages the
# guest wrote while the resync was hashing (docs/failover.md,
# "Incremental resync", step 3).
#
# remus-dirtier in rate mode writes pages continuously (2000 a second,
# along a fixed permutation of its 7000-page working set), also while
# remus copies and hashes the arena for the resync; remusd is restarted on
# its state directory, remus reconnects and resyncs.  The pages written
# during the resync are the next ones of the permutation after those
# written while the backup was away, so they were unchanged before it:
# their hashes match whenever remus copied them before their write, and
# only the dirty log brings them to the backup.  Right after the resync
# epoch commits (the interval is 3 s, and remusd is frozen while the
# image is summed), the image must equal the checksum the guest recorded
# at that epoch's suspend, and remus must have counted pages dirtied
# meanwhile (so the case was exercised).  Then a later epoch is checked
# the same way.
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null

# remusd -D "$T/st" keeps guest g's replica in st=$T/st/g.
st="$T/st/g"
start_guest g remus-dirtier --rate 2000 --pages 1 --working-set 7000 \
	--arena-size 32M --checksum-log "$T/sums"
port=$(pick_port)
start remusd1 remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st" -t 500 --guest "g=$GUEST_CMD"
B=$LAST_PID
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
start remus remus -i 3000 --timeout 3000 --reconnect-interval 200 --insecure \
	--name g proc:"$GUEST_PID" 127.0.0.1:$port
R=$LAST_PID
wait_for 30 sh -c "[ \"\$(cat $st/proc-epoch 2>/dev/null)\" -ge 2 ] 2>/dev/null" ||
	fail "the first session did not reach epoch 2: $(tail -3 "$T/remus.log")"
e0=$(cat "$st/proc-epoch")
kill -TERM "$B"
wait "$B" 2>/dev/null
start remusd2 remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st" -t 500 --guest "g=$GUEST_CMD"
B=$LAST_PID
wait_for 30 grep -q 'incremental resync committed' "$T/remus.log" ||
	fail "no incremental resync: $(grep -Ei 'resync|full|backup' "$T/remus.log" | tail -5)"
kill -STOP "$B"
line=$(grep -m1 'incremental resync committed' "$T/remus.log" | sed 's/.*ckpt: //')
echo "resync: $line"
e=$(echo "$line" | sed -n 's/^epoch \([0-9]*\): .*/\1/p')
dirt=$(echo "$line" | sed -n 's/.* \([0-9]*\) dirtied meanwhile.*/\1/p')
diff=$(echo "$line" | sed -n 's/.*committed: \([0-9]*\) of.*/\1/p')
[ "$(cat "$st/proc-epoch")" = "$e" ] ||
	fail "the replica is at epoch $(cat "$st/proc-epoch"), not the resync's $e"
got=$(replica_matches "$st" "$T/sums") || { kill -CONT "$B"; fail "resync epoch: $got"; }
kill -CONT "$B"
echo "the replica of resync epoch $e (after epoch $e0 of the first session) is the guest's arena at that epoch"
[ "${dirt:-0}" -gt 0 ] || fail "no page was dirtied during the resync: the case was not exercised"
grep -q 'resuming the replica of epoch' "$T/remusd2.log" || fail "remusd did not resume its replica"
# One more epoch on top of the resynced replica.
wait_for 10 sh -c "[ \$(cat '$st/proc-epoch') -gt $e ]" || fail "no epoch after the resync"
kill -STOP "$B"
got=$(replica_matches "$st" "$T/sums") || { kill -CONT "$B"; fail "after the resync: $got"; }
kill -CONT "$B"
echo "and epoch $got after it; $diff pages differed, $dirt were written during the resync"
echo PASS
