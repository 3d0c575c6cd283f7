#!/usr/bin/env bash
# failover-policy.sh -- the failover policy of docs/failover.md, wired into
# remus and remusd, end to end with proc guests:
#   1. the backup's state directory fills up mid-run (ENOSPC on a small
#      tmpfs in a private mount namespace): remusd stands down (B1: no guest
#      activated), ERROR reaches remus, which releases at once (P3), keeps
#      running, reconnects to a restarted remusd, and epochs are committed
#      again (P4);
#   2. --fence 'exit 1' after kill -9 of remus: passive once the window
#      closes, nothing activated (B3);
#   3. --fence 'true' after kill -9 of remus: activated (B2, B4);
#   4. signals (P6): SIGHUP changes nothing, SIGUSR1 logs one status line
#      (remus and remusd), SIGQUIT stops remus in order (END: the backup
#      does not activate) and remusd without activating;
#   5. a silent backup (SIGSTOP): remus holds output for T + F + M (P2, P3),
#      and a SIGTERM meanwhile completes only when the hold ends (P6);
#   6. --fence-backup: a silent backup that is fenced releases at once.
. "$(dirname "$0")/functions.sh"
requires_root
requires unshare --version
requires nsenter --version
requires remus-arena-sum /dev/null

listening() {	# port
	wait_for 10 sh -c "ss -Htln 'sport = :$1' | grep -q ."
}

# ---- 1. ENOSPC mid-run: stand down, release, reconnect, resume -------------
start_guest g1 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
G1=$GUEST_PID
C1=$GUEST_CMD
port=$(pick_port)
mkdir -p "$T/small"
# The tmpfs exists only in remusd's mount namespace: nothing to unmount.
start remusd1 unshare -m --propagation private sh -c \
	"mount -t tmpfs -o size=12M tmpfs '$T/small' && exec remusd --no-fence --insecure -t 1000 --listen 127.0.0.1:$port -D '$T/small' --guest 'g1=$C1'"
B1=$LAST_PID
listening $port || fail "remusd (tmpfs) did not listen"
start remus1 remus -i 50 --insecure --reconnect-interval 300 --name g1 proc:"$G1" 127.0.0.1:$port
R1=$LAST_PID
wait_for 20 grep -q "epoch 1: committed" "$T/remusd1.log" || fail "1: nothing committed"
sleep 0.3
# Fill what the replica left free.  A commit rewrites its files in place
# (the image, the journal, proc-session, the proc-epoch pair), so that
# alone fails nothing: the guest's working set then grows (SIGUSR1: all
# 1000 pages an epoch, not 100), and the next epoch's journal needs ~4 MiB
# where it had ~400 KiB.  tmpfs counts whole pages: nothing is left.
nsenter -t "$B1" -m dd if=/dev/zero of="$T/small/filler" bs=4k \
	>/dev/null 2>&1 || true
nsenter -t "$B1" -m sh -c "[ \$(stat -f -c %a '$T/small') = 0 ]" ||
	fail "1: the state directory still has room after the fill"
kill -USR1 "$G1"
wait_for 20 grep -q "RECEIVING -> STOOD_DOWN" "$T/remusd1.log" ||
	fail "1: remusd did not stand down when its state directory filled"
grep -q "No space left on device" "$T/remusd1.log" || fail "1: ENOSPC not named"
# The last good replica is kept: the epoch before the one dropped, and
# proc-epoch names it.
kept=$(sed -n 's/.*dropping epoch \([0-9]*\), keeping epoch \([0-9]*\)$/\1 \2/p' "$T/remusd1.log" | head -1)
[ -n "$kept" ] && [ $((${kept% *} - 1)) = "${kept#* }" ] ||
	fail "1: remusd does not keep the epoch before the one it dropped ($kept)"
kept=${kept#* }
[ "$(nsenter -t "$B1" -m cat "$T/small/g1/proc-epoch")" = "$kept" ] ||
	fail "1: proc-epoch is not the kept epoch $kept"
wait_for 10 grep -q "stood down: backup reported error" "$T/remus1.log" ||
	fail "1: the ERROR did not reach remus"
grep -q "PROTECTED -> UNPROTECTED: backup stood down" "$T/remus1.log" ||
	fail "1: remus did not release at once"
grep -q "PROTECTED -> HOLDING" "$T/remus1.log" && fail "1: remus held output after an ERROR"
nsenter -t "$B1" -m test -e "$T/small/g1/proc-guest.pid" &&
	fail "1: a stood-down backup activated the guest"
kill -0 "$R1" || fail "1: remus exited after the backup stood down"
kill -0 "$G1" || fail "1: the guest died"
echo "1: ENOSPC: remusd stood down, nothing activated; remus released at once and runs on"
# A restarted remusd on the same port, with room: protection resumes.
kill -TERM "$B1"
wait "$B1" 2>/dev/null || true
start remusd1b remusd --no-fence --insecure -t 1000 --listen 127.0.0.1:$port -D "$T/st1b" \
	--guest "g1=$C1"
listening $port || fail "1: restarted remusd did not listen"
wait_for 30 test -s "$T/st1b/g1/proc-epoch" || fail "1: no epoch committed after the reconnect"
e0=$(cat "$T/st1b/g1/proc-epoch")
wait_for 10 sh -c "[ \$(cat '$T/st1b/g1/proc-epoch') -gt $e0 ]" ||
	fail "1: epochs do not go on after the reconnect"
grep -q "UNPROTECTED -> PROTECTED" "$T/remus1.log" || fail "1: no PROTECTED again"
echo "1: reconnected to the restarted remusd: epochs committed again (epoch $(cat "$T/st1b/g1/proc-epoch"))"

# ---- 4. Signals (P6), on this protected pair --------------------------------
n0=$(grep -c "acknowledged\|epoch" "$T/remus1.log" || true)
kill -HUP "$R1"
kill -HUP "$LAST_PID"
sleep 0.5
kill -0 "$R1" || fail "4: SIGHUP stopped remus"
kill -0 "$LAST_PID" || fail "4: SIGHUP stopped remusd"
kill -USR1 "$R1"
wait_for 5 grep -q "status: state PROTECTED, epoch [0-9]*, acked [0-9]*" "$T/remus1.log" ||
	fail "4: SIGUSR1: no status line from remus"
kill -USR1 "$LAST_PID"
wait_for 5 grep -q "status: 127.0.0.1:[0-9]*: receiving, last committed epoch" "$T/remusd1b.log" ||
	fail "4: SIGUSR1: no status line from remusd"
B1b=$LAST_PID
kill -QUIT "$R1"
status=0
wait "$R1" || status=$?
[ $status -eq 0 ] || fail "4: remus exited $status on SIGQUIT, want 0"
wait_for 10 grep -q "END from the primary" "$T/remusd1b.log" ||
	fail "4: SIGQUIT did not send END"
[ ! -e "$T/st1b/g1/proc-guest.pid" ] || fail "4: SIGQUIT to remus made the backup activate"
kill -QUIT "$B1b"
status=0
wait "$B1b" || status=$?
[ $status -eq 0 ] || fail "4: remusd exited $status on SIGQUIT"
echo "4: SIGHUP ignored, SIGUSR1 status lines, SIGQUIT: remus END + exit 0, remusd exit 0"
kill -9 "$G1" 2>/dev/null || true

# ---- 2. --fence 'exit 1': passive after the window ---------------------------
start_guest g2 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
port=$(pick_port)
start remusd2 remusd --insecure --fence 'exit 1' --fence-timeout 1500 -t 500 \
	--listen 127.0.0.1:$port -D "$T/st2" --guest "g2=$GUEST_CMD"
listening $port || fail "2: remusd did not listen"
start remus2 remus -i 50 --insecure --name g2 proc:"$GUEST_PID" 127.0.0.1:$port
wait_for 20 test -s "$T/st2/g2/proc-epoch" || fail "2: nothing committed"
kill -9 "$LAST_PID"
kill -9 "$GUEST_PID"
wait_for 20 grep -q "FENCING -> PASSIVE" "$T/remusd2.log" ||
	fail "2: remusd did not go passive when its fence failed"
grep -q "fence attempt" "$T/remusd2.log" || fail "2: no fence retries logged"
[ ! -e "$T/st2/g2/proc-guest.pid" ] || fail "2: activated without a fence"
grep -q "session over: primary lost, not activated" "$T/remusd2.log" ||
	fail "2: the session did not end 'not activated'"
echo "2: fence failing: $(grep -c 'fence: ' "$T/remusd2.log") fence lines, passive, nothing activated"

# ---- 3. --fence 'true': activated ---------------------------------------------
start_guest g3 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M \
	--checksum-log "$T/sums3"
port=$(pick_port)
start remusd3 remusd --insecure --fence 'test -n "$REMUS_FENCE_NAME"' -t 500 \
	--listen 127.0.0.1:$port -D "$T/st3" --guest "g3=$GUEST_CMD"
listening $port || fail "3: remusd did not listen"
start remus3 remus -i 50 --insecure --name g3 proc:"$GUEST_PID" 127.0.0.1:$port
wait_for 20 test -s "$T/st3/g3/proc-epoch" || fail "3: nothing committed"
kill -9 "$LAST_PID"
kill -9 "$GUEST_PID"
wait_for 20 test -s "$T/st3/g3/proc-guest.pid" || fail "3: fenced but not activated"
grep -q "FENCING -> ACTIVATING: fenced" "$T/remusd3.log" || fail "3: no fenced line"
e=$(replica_matches "$T/st3/g3" "$T/sums3") || fail "3: $e"
echo "3: fence ok: activated from epoch $e, checksum ok"

# ---- 5. Silent backup: held for T + F + M, SIGTERM waits for it -------------
start_guest g5 remus-dirtier --pages 50 --working-set 500 --arena-size 4M
port=$(pick_port)
start remusd5 remusd --insecure --fence true --fence-timeout 1500 -t 500 \
	--listen 127.0.0.1:$port -D "$T/st5" --guest "g5=$GUEST_CMD"
B5=$LAST_PID
listening $port || fail "5: remusd did not listen"
start remus5 remus -i 50 --insecure --name g5 proc:"$GUEST_PID" 127.0.0.1:$port
R5=$LAST_PID
wait_for 20 test -s "$T/st5/g5/proc-epoch" || fail "5: nothing committed"
kill -STOP "$B5"
wait_for 10 grep -q "PROTECTED -> HOLDING" "$T/remus5.log" || fail "5: no HOLDING"
t0=$(date +%s%N)
kill -TERM "$R5"
status=0
wait "$R5" || status=$?
ms=$((($(date +%s%N) - t0) / 1000000))
kill -9 "$B5"
[ $status -eq 0 ] || fail "5: remus exited $status on SIGTERM while holding"
grep -q "T+F+M = 500+1500+500" "$T/remus5.log" || fail "5: hold not T+F+M of the handshake"
grep -q "HOLDING -> UNPROTECTED: held" "$T/remus5.log" || fail "5: not released by the hold's end"
# SIGTERM came after the loss, so at most T+F+M = 2500 ms later; it must
# not have cut the hold short (1500 ms is far below what remained).
[ $ms -ge 1500 ] || fail "5: SIGTERM ended the hold after $ms ms"
echo "5: silent backup: output held T+F+M, SIGTERM completed $ms ms later, at the release"

# ---- 6. --fence-backup: released as soon as the backup is fenced ------------
start_guest g6 remus-dirtier --pages 50 --working-set 500 --arena-size 4M
port=$(pick_port)
start remusd6 remusd --no-fence --insecure -t 500 --listen 127.0.0.1:$port -D "$T/st6" --guest "g6=$GUEST_CMD"
B6=$LAST_PID
listening $port || fail "6: remusd did not listen"
start remus6 remus -i 50 --insecure --reconnect-interval 0 --name g6 \
	--fence-backup 'test -n "$REMUS_FENCE_GUEST"' proc:"$GUEST_PID" 127.0.0.1:$port
R6=$LAST_PID
wait_for 20 test -s "$T/st6/g6/proc-epoch" || fail "6: nothing committed"
kill -STOP "$B6"
status=0
wait "$R6" || status=$?
kill -9 "$B6"
[ $status -eq 4 ] || fail "6: remus exited $status, want 4 (released, not reconnecting)"
grep -q "HOLDING -> UNPROTECTED: the backup is fenced" "$T/remus6.log" ||
	fail "6: not released by the fence"
echo "6: --fence-backup succeeded: released at once, exit 4"
echo PASS
