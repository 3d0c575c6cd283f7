#!/usr/bin/env bash
# One byte of epoch N is corrupted on the wire (REMUS_FAULT=stream-corrupt,
# REMUS_FAULT_EPOCH=N).  The backup rejects the epoch with one line naming
# the error, never applies it, keeps epoch N - 1, and stands down: a
# primary that sends bytes is alive, so a corrupt stream never activates
# (docs/failover.md B1); ERROR reaches the primary, which releases at once
# and (--reconnect-interval 0) exits 4.  Also: the primary dies after
# sending half of epoch N (REMUS_FAULT=stream-truncate): the torn epoch is
# dropped and the backup activates N - 1 (a lost primary, B2).
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null

check_one() {	# name [remus flags]: corrupt epoch N, check the outcome
	local name=$1 N=6 status=0 e
	shift
	start_guest "g-$name" remus-dirtier --pages 300 --working-set 3000 \
		--arena-size 16M --checksum-log "$T/$name.sums"
	REMUS_FAULT=stream-corrupt REMUS_FAULT_EPOCH=$N timeout 60 \
		remus -i 50 --reconnect-interval 0 "$@" -s '' --name "g-$name" proc:"$GUEST_PID" \
		"remusd --no-fence --receive -D $T/st-$name --guest 'g-$name=$GUEST_CMD'" \
		>"$T/$name.log" 2>&1 || status=$?
	[ $status -eq 4 ] || fail "$name: remus exited $status, want 4 (backup lost)"
	grep -q "stood down: backup reported error .*stream error" \
		"$T/$name.log" || fail "$name: no 'stood down' line with the backup's reason"
	grep -q "HOLDING" "$T/$name.log" && fail "$name: held output after an ERROR"
	grep -q "continues unprotected" "$T/$name.log" || fail "$name: no release line"
	grep "remusd: .*stream error at offset.*keeping epoch" "$T/$name.log" >"$T/$name.err" || true
	[ "$(wc -l <"$T/$name.err")" -eq 1 ] || fail "$name: want one stream error line"
	grep -q "epoch $N: stream error at offset [0-9]*: .*keeping epoch $((N - 1))" \
		"$T/$name.err" || fail "$name: the error line does not say what is kept"
	grep -q "RECEIVING -> STOOD_DOWN" "$T/$name.log" || fail "$name: backup did not stand down"
	[ ! -e "$T/st-$name/g-$name/proc-guest.pid" ] || fail "$name: a corrupt stream activated the guest"
	e=$(replica_matches "$T/st-$name/g-$name" "$T/$name.sums") || fail "$name: $e"
	[ "$e" -eq $((N - 1)) ] || fail "$name: replica at epoch $e, want $((N - 1))"
	kill -0 "$GUEST_PID" || fail "$name: the primary's guest died"
	kill -9 "$GUEST_PID"
	echo "$name: $(cat "$T/$name.err")"
	echo "$name: replica at epoch $e, checksum ok"
}

check_one lz4		# the flipped byte breaks an LZ4 block or a header
check_one raw -u	# raw pages: only the epoch CRC can catch it

# REMUS_FAULT=stream-truncate: the primary sends half of epoch N and dies.
N=6
start_guest g-trunc remus-dirtier --pages 300 --working-set 3000 \
	--arena-size 16M --checksum-log "$T/trunc.sums"
status=0
REMUS_FAULT=stream-truncate REMUS_FAULT_EPOCH=$N timeout 60 \
	remus -i 50 -s '' --name g-trunc proc:"$GUEST_PID" \
	"remusd --no-fence --receive -D $T/st-trunc --guest 'g-trunc=$GUEST_CMD'" \
	>"$T/trunc.log" 2>&1 || status=$?
[ $status -eq 5 ] || fail "trunc: remus exited $status, want 5 (the fault's exit)"
wait_for 20 test -s "$T/st-trunc/g-trunc/proc-guest.pid" || fail "trunc: backup did not activate"
kill -9 "$(cat "$T/st-trunc/g-trunc/proc-guest.pid")" "$GUEST_PID" 2>/dev/null || true
grep -q "epoch $N: stream ended mid-epoch (.*); dropping it, keeping epoch $((N - 1))" \
	"$T/trunc.log" || fail "trunc: the backup did not say it dropped the torn epoch"
e=$(replica_matches "$T/st-trunc/g-trunc" "$T/trunc.sums") || fail "trunc: $e"
[ "$e" -eq $((N - 1)) ] || fail "trunc: replica at epoch $e, want $((N - 1))"
echo "trunc: half of epoch $N sent, replica at epoch $e, checksum ok"
echo PASS
