#!/usr/bin/env bash
# device-tool.sh -- external device tools (remus/remusd --device-tool,
# seed 000) against real remus/remusd with proc guests:
#   refuse   drbd-like with its resource secondary here: step 0 refuses,
#            remus exits 7 with the tool's line, before it connects
#   fail2    a tool failing step 2 at epoch 4: that epoch fails like any
#            device hook (the backup is treated as lost), the backup never
#            commits epoch 4, remus ends (no reconnect) with 4
#   hang3    a tool that hangs at step 3: killed at --device-tool-timeout,
#            the epoch fails the same way
#   cofail / codie   a coprocess tool answering "fail REASON" at step 2
#            of epoch 4, or exiting there: the epoch fails as in fail2
#   success  state-copy (exec mode) and drbd-like (coprocess mode) on the
#            primary, the state file rewritten by the test as epochs run;
#            the steps come in the order 0, 1, then 2 and 3 per epoch with
#            3 before the release (3 of epoch E after its 2, in epoch
#            order; the next epoch's 2 may come first, never two more:
#            the engine suspends for n + 1 while n awaits its ACK, not
#            for n + 2); kill -9 of remus: remusd runs drbd-like
#            and state-copy "activate" before the guest starts, the
#            resource is promoted there and demoted on the primary, and
#            the restored state is the one of an acknowledged epoch.
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null
: "${REMUS_SRC:?}"
TOOLS="$REMUS_SRC/contrib/device-tools"

# A tool that records every call and fails step N at epoch E if told.
cat >"$T/trace-tool" <<EOF
#!/bin/sh
echo "\$*" >>"$T/trace.\$2"
case "\$*" in
*"-step \${FAIL_STEP:-x} "*"-epoch \${FAIL_EPOCH:-x}") echo "injected failure at step \$FAIL_STEP"; exit 3 ;;
*"-step \${HANG_STEP:-x} "*"-epoch \${HANG_EPOCH:-x}") exec sleep 30 ;;
esac
exit 0
EOF
chmod +x "$T/trace-tool"

# ---- refuse: step 0 ------------------------------------------------------
echo secondary >"$T/refuse.role"
start_guest g-refuse remus-dirtier --pages 50 --working-set 500 --arena-size 4M
port=$(pick_port)
start remusd-refuse remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st-refuse" \
	--guest "g-refuse=$GUEST_CMD"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
st=0
REMUS_DRBD_STATE="$T/refuse.role" remus -i 50 --insecure \
	--device-tool "drbd=$TOOLS/drbd-like" --name g-refuse proc:"$GUEST_PID" 127.0.0.1:$port \
	>"$T/remus-refuse.log" 2>&1 || st=$?
[ $st -eq 7 ] || fail "refuse: remus exited $st, want 7"
grep -q "drbd: step 0: .*drbd-like exited 1: resource of proc:$GUEST_PID is secondary here, not primary: refusing" \
	"$T/remus-refuse.log" || fail "refuse: the tool's reason was not said"
grep -q "refuses protection of proc:$GUEST_PID" "$T/remus-refuse.log" || fail "refuse: no refusal line"
[ ! -e "$T/st-refuse/g-refuse/proc-epoch" ] || fail "refuse: an epoch reached the backup"
# Step 0 runs before remus connects: the backup never heard of it.
! grep -q "connected" "$T/remusd-refuse.log" || fail "refuse: remus connected to the backup first"
kill -0 "$GUEST_PID" || fail "refuse: the guest did not survive the refusal"
echo "refuse: step 0 refused protection, remus exit 7: $(grep -o 'resource of.*refusing' "$T/remus-refuse.log")"

# ---- fail2: step 2 fails at epoch 4 ---------------------------------------
start_guest g-fail remus-dirtier --pages 50 --working-set 500 --arena-size 4M
port=$(pick_port)
start remusd-fail remusd --no-fence --no-activate --insecure --listen 127.0.0.1:$port -D "$T/st-fail" \
	--guest "g-fail=$GUEST_CMD"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
st=0
FAIL_STEP=2 FAIL_EPOCH=4 timeout 60 remus -i 50 --insecure --reconnect-interval 0 \
	--device-tool "trace=$T/trace-tool" --name g-fail proc:"$GUEST_PID" 127.0.0.1:$port \
	>"$T/remus-fail.log" 2>&1 || st=$?
[ $st -eq 4 ] || fail "fail2: remus exited $st, want 4 (backup lost, no reconnect)"
grep -q "trace: step 2: .*exited 3: injected failure at step 2" "$T/remus-fail.log" ||
	fail "fail2: the failing step was not said"
grep -q "device device-tool: postsuspend failed" "$T/remus-fail.log" ||
	fail "fail2: the epoch did not fail as a device hook"
wait_for 10 grep -q "session over" "$T/remusd-fail.log" || fail "fail2: the backup did not end the session"
c=$(cat "$T/st-fail/g-fail/proc-epoch")
[ "$c" -eq 3 ] || fail "fail2: backup committed epoch $c, want 3 (4 failed at step 2)"
grep -q -- "-step 3 .* -epoch 4" "$T/trace.trace" 2>/dev/null && fail "fail2: step 3 ran for the failed epoch"
echo "fail2: step 2 failed at epoch 4: the epoch failed, backup stays at epoch $c, remus exit 4"

# ---- hang3: step 3 does not finish: killed at the timeout ----------------
start_guest g-hang remus-dirtier --pages 50 --working-set 500 --arena-size 4M
port=$(pick_port)
start remusd-hang remusd --no-fence --no-activate --insecure --listen 127.0.0.1:$port -D "$T/st-hang" \
	--guest "g-hang=$GUEST_CMD"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
st=0
HANG_STEP=3 HANG_EPOCH=3 timeout 60 remus -i 50 --insecure --reconnect-interval 0 \
	--device-tool "hang=$T/trace-tool" --device-tool-timeout 300 --name g-hang proc:"$GUEST_PID" \
	127.0.0.1:$port >"$T/remus-hang.log" 2>&1 || st=$?
[ $st -eq 4 ] || fail "hang3: remus exited $st, want 4"
grep -q "hang: step 3: .*trace-tool not done in 300 ms: killed" "$T/remus-hang.log" ||
	fail "hang3: the timeout was not said"
grep -q "device device-tool: commit failed" "$T/remus-hang.log" ||
	fail "hang3: the epoch did not fail as a device hook"
echo "hang3: step 3 of epoch 3 killed after 300 ms, the epoch failed, remus exit 4"

# ---- cofail / codie: the coprocess mode's failures ------------------------
# A coprocess that answers "fail REASON" to step 2 of epoch 4, and one
# that exits at step 2 of epoch 4: each fails that epoch as fail2 does
# (backup stays at epoch 3, remus exits 4), and says why.
cat >"$T/co-tool" <<'COTOOL'
#!/bin/sh
# coprocess: one line per step, "STEP EPOCH"; answer ok or fail REASON
while read -r step epoch; do
	if [ "$step" = 2 ] && [ "$epoch" = 4 ]; then
		[ "$CO_MODE" = die ] && exit 0
		echo "fail injected at step 2 of epoch 4"
		continue
	fi
	echo ok
done
COTOOL
chmod +x "$T/co-tool"
for mode in fail die; do
	start_guest "g-co$mode" remus-dirtier --pages 50 --working-set 500 --arena-size 4M
	port=$(pick_port)
	start "remusd-co$mode" remusd --no-fence --no-activate --insecure --listen 127.0.0.1:$port \
		-D "$T/st-co$mode" --guest "g-co$mode=$GUEST_CMD"
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
	st=0
	CO_MODE=$mode timeout 60 remus -i 50 --insecure --reconnect-interval 0 \
		--device-tool "co=coproc:$T/co-tool" --name "g-co$mode" proc:"$GUEST_PID" \
		127.0.0.1:$port >"$T/remus-co$mode.log" 2>&1 || st=$?
	[ $st -eq 4 ] || fail "co$mode: remus exited $st, want 4: $(tail -3 "$T/remus-co$mode.log")"
	if [ $mode = fail ]; then
		grep -q "co: step 2: .*fail injected at step 2 of epoch 4" "$T/remus-co$mode.log" ||
			fail "cofail: the tool's reason was not said: $(grep 'co:' "$T/remus-co$mode.log" | tail -2)"
	else
		grep -Eq "co: step 2: .*(ended|exited|closed|EOF|no answer)" "$T/remus-co$mode.log" ||
			fail "codie: the coprocess's end was not said: $(grep 'co:' "$T/remus-co$mode.log" | tail -2)"
	fi
	grep -q "device device-tool: postsuspend failed" "$T/remus-co$mode.log" ||
		fail "co$mode: the epoch did not fail as a device hook"
	wait_for 10 grep -q "session over" "$T/remusd-co$mode.log" ||
		fail "co$mode: the backup did not end the session"
	c=$(cat "$T/st-co$mode/g-co$mode/proc-epoch")
	[ "$c" -eq 3 ] || fail "co$mode: backup committed epoch $c, want 3"
	echo "co$mode: $(grep -m1 'co: step 2' "$T/remus-co$mode.log" | cut -d' ' -f3-); backup stays at epoch $c, remus exit 4"
done

# A tool that is not there: said at once.
st=0
remus -b --device-tool "x=$T/no-such-tool" proc:1 2>"$T/notool.err" || st=$?
[ $st -eq 1 ] && grep -q "not an executable file" "$T/notool.err" ||
	fail "no such tool: exit $st: $(cat "$T/notool.err")"

# ---- success: exec and coprocess tools, then a failover -------------------
start_guest g-ok remus-dirtier --pages 200 --working-set 2000 --arena-size 8M \
	--checksum-log "$T/ok.sums"
G=$GUEST_PID
echo primary >"$T/p.role"
echo secondary >"$T/b.role"
echo "state 0" >"$T/tpm.state"
mkdir -p "$T/dest"
port=$(pick_port)
REMUS_DRBD_STATE="$T/b.role" REMUS_DRBD_PEER_STATE="$T/p.role" \
REMUS_STATECOPY_DEST="$T/dest" REMUS_STATECOPY_RESTORE="$T/restored.state" \
	start remusd-ok remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st-ok" \
	--device-tool "drbd=coproc:$TOOLS/drbd-like" --device-tool "tpm=$TOOLS/state-copy" --guest "g-ok=$GUEST_CMD"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
REMUS_DRBD_STATE="$T/p.role" \
REMUS_STATECOPY_SRC="$T/tpm.state" REMUS_STATECOPY_DEST="$T/dest" \
	start remus-ok remus -i 100 --insecure \
	--device-tool "tr=$T/trace-tool" --device-tool "drbd=coproc:$TOOLS/drbd-like" \
	--device-tool "tpm=$TOOLS/state-copy" --name g-ok proc:"$G" 127.0.0.1:$port
R=$LAST_PID
# The state changes while epochs run; each value is kept with the time.
for i in $(seq 1 15); do
	echo "state $i" >"$T/tpm.state.new" && mv "$T/tpm.state.new" "$T/tpm.state"
	sleep 0.1
done
wait_for 20 test -s "$T/dest/epoch" || fail "success: no state copied"
kill -9 $R
wait $R 2>/dev/null || true
wait_for 20 test -s "$T/st-ok/g-ok/proc-guest.pid" || fail "success: the backup did not activate"
grep -q "ACTIVATED" "$T/remusd-ok.log" || fail "success: no activation logged"
# Steps in order: 0, 1, then 2 and 3 for each epoch, 3 after its 2 and in
# epoch order.  At most two epochs open (2 seen, 3 not yet): ACK(n) may
# come after the suspend of n + 1 (a slow ACK, a loaded machine), never
# after that of n + 2.
awk '{ for (i = 1; i < NF; i++) { if ($i == "-step") s = $(i + 1); if ($i == "-epoch") e = $(i + 1) }
	printf "%s:%s\n", s, (s == 0 || s == 1) ? "-" : e; s = ""; e = "" }' \
	"$T/trace.tr" >"$T/steps"
[ "$(sed -n 1p "$T/steps")" = "0:-" ] && [ "$(sed -n 2p "$T/steps")" = "1:-" ] ||
	fail "success: steps began $(head -2 "$T/steps" | tr '\n' ' ')"
n2=$(grep -c '^2:' "$T/steps") n3=$(grep -c '^3:' "$T/steps")
[ "$n2" -ge 5 ] && [ "$n3" -ge 4 ] || fail "success: $n2 step 2, $n3 step 3 calls"
awk -F: 'NR > 2 { if ($1 == 2) { if (n >= 2 || (n && $2 != q[n - 1] + 1)) bad = 1; q[n++] = $2 }
	else if ($1 == 3) { if (n == 0 || $2 != q[0]) bad = 1; for (i = 1; i < n; i++) q[i - 1] = q[i]; if (n) n-- } }
	END { exit bad }' "$T/steps" || fail "success: step 3 not after its step 2: $(tr '\n' ' ' <"$T/steps")"
echo "success: steps 0, 1, then $n2 x step 2 and $n3 x step 3, each 3 after its 2"
# drbd-like at failover: promoted here, demoted on the fenced primary.
[ "$(cat "$T/b.role")" = primary ] || fail "success: backup's resource is $(cat "$T/b.role")"
[ "$(cat "$T/p.role")" = secondary ] || fail "success: primary's resource is $(cat "$T/p.role")"
grep -q "drbd: step activate" "$T/remusd-ok.log" || grep -q "promoted here" "$T/remusd-ok.log" ||
	fail "success: drbd-like activate not run"
# state-copy at failover: the restored state is an epoch's, committed
# at step 3 of an acknowledged epoch.
[ -f "$T/restored.state" ] || fail "success: no state restored"
# Step 3 runs after the ACK: never for an epoch the backup did not commit.
e=$(cat "$T/dest/epoch")
acked=$(cat "$T/st-ok/g-ok/proc-epoch")
[ "$e" -le "$acked" ] || fail "success: state of epoch $e restored, the backup committed $acked"
grep -qx "state [0-9]*" "$T/restored.state" || fail "success: restored state is \"$(cat "$T/restored.state")\""
# The epoch remusd restored: dest/epoch may have moved on since, by a
# step 3 the kill -9 of remus did not stop (its own process), never back.
el=$(sed -n "s/.*restored g-ok's state of epoch \([0-9]*\).*/\1/p" "$T/remusd-ok.log" | tail -1)
[ -n "$el" ] && [ "$el" -le "$e" ] && [ "$el" -le "$acked" ] ||
	fail "success: the activate line was not logged (epoch '$el', copied $e, committed $acked)"
kill -9 "$G" "$(cat "$T/st-ok/g-ok/proc-guest.pid")" 2>/dev/null || true
echo "success: failover promoted drbd (primary demoted), restored \"$(cat "$T/restored.state")\" of epoch $el (acknowledged: $acked)"
echo PASS
