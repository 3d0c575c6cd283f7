#!/usr/bin/env bash
# remusctl switchover (docs/control.md) under client load: a kvd guest
# protected with its output held (nfqueue), a client recording every
# acknowledged write and read, and the two_live monitor.  The switchover
# is a prepare / perform / finish: prepare --switchover on remusd (a
# cookie), a perform with a wrong cookie first (refused: the guest resumes
# on the primary, protected again, nothing lost), then remusctl switchover
# COOKIE on remus: the primary suspends the guest, sends the final epoch,
# COOKIE and SWITCHOVER, the backup checks the cookie, activates and
# answers ACTIVATED, and only then is the primary's copy destroyed; finish
# on remusd reports the guest running there (its pid).  Checked: remus
# exits 0, only the backup's copy runs, no acknowledged write or read is
# missing from it, its state is not torn, the primary never answered
# after the backup did (nothing emitted twice); the downtime is printed.  Then a switchover the backup refuses
# (--no-activate): the guest resumes on the primary, still protected.
. "$(dirname "$0")/fault-lib.sh"
requires_root
requires jq --version

fl_net_up
FL_REMUSD_CTL=$T/remusd.sock
fl_start none
fl_client_start sw
fl_monitor_start
fl_wait_load 300
SOCK=$FL_RUN/remus-proc_$GUEST_PID.sock
test -S "$SOCK" || fail "no control socket at $SOCK"
ip netns exec "$NS_P" remusctl -S "$SOCK" --json status |
	jq -e '.state == "PROTECTED"' >/dev/null || fail "not protected before the switchover"
# Held output, seen: remusd stopped (SIGSTOP) for 600 ms, well inside the
# timeout (FL_T), so no ACK comes and the client's packets stay queued;
# status counts them.  Then it goes on, protected as before.
kill -STOP "$B"
( sleep 0.6; kill -CONT "$B" ) &
guard=$!
maxp=0 maxs=0
while kill -0 "$guard" 2>/dev/null; do
	st=$(remusctl -t 500 -S "$SOCK" --json status) || continue
	p=$(echo "$st" | jq .held_output.packets)
	s=$(echo "$st" | jq .held_output.since_ms)
	[ "$p" -gt "$maxp" ] && maxp=$p
	[ "$s" -gt "$maxs" ] && maxs=$s
done
wait "$guard"
[ "$maxp" -gt 0 ] || fail "no held packet counted while the backup was stopped"
wait_for 10 sh -c "remusctl -S '$SOCK' --json status | jq -e '.state == \"PROTECTED\" and .held_output.since_ms < 500'" ||
	fail "after the stall: $(remusctl -S "$SOCK" --json status)"
echo "backup stopped 600 ms: status counted up to $maxp held packets, oldest held ${maxs} ms; protected again"
remusctl -S "$FL_REMUSD_CTL" --json prepare --switchover "$GUEST_NAME" >"$T/prepare.json" ||
	fail "prepare --switchover: $(cat "$T/prepare.json")"
COOKIE=$(jq -r .cookie "$T/prepare.json")
# A perform with a wrong cookie: refused by the backup before it activates
# anything; the guest resumes here and is protected again.
rc=0
remusctl -S "$SOCK" switchover 00112233445566778899aabbccddeeff >"$T/wrong.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q "unknown or expired cookie" "$T/wrong.out" ||
	fail "switchover with a wrong cookie: rc $rc: $(cat "$T/wrong.out")"
fl_p_alive || fail "the primary's guest is gone after a refused perform"
fl_b_active && fail "the backup activated on a refused perform"
wait_for 30 sh -c "remusctl -S '$SOCK' --json status | jq -e '.state == \"PROTECTED\" and .acked > 3'" ||
	fail "not protected again after the refused perform: $(remusctl -S "$SOCK" --json status)"
a1=$(fl_acked)
sleep 1
[ "$(fl_acked)" -gt "$a1" ] || fail "no write acknowledged after the refused perform"
echo "refused perform: $(cat "$T/wrong.out"); the guest answers on the primary, protected again"
before=$(fl_acked)
rc=0
remusctl -S "$SOCK" --json switchover "$COOKIE" >"$T/switchover.json" 2>&1 || rc=$?
[ $rc -eq 0 ] || fail "switchover exited $rc: $(cat "$T/switchover.json")"
jq -e '.ok and .epoch > 1 and .downtime_us > 0' "$T/switchover.json" >/dev/null ||
	fail "switchover answer: $(cat "$T/switchover.json")"
rc=0
wait "$R" || rc=$?
[ $rc -eq 0 ] || fail "remus exited $rc after the switchover, want 0"
fl_b_active || fail "the backup does not run the guest"
wait_for 10 eval '! fl_p_alive' || fail "the primary's copy still runs"
grep -q "switched over" "$FL_BLOG" || fail "remusd did not say it switched over"
remusctl -S "$FL_REMUSD_CTL" --json finish "$COOKIE" >"$T/finish.json" ||
	fail "finish: $(cat "$T/finish.json")"
jq -e --argjson pid "$(fl_b_pid)" --argjson e "$(jq .epoch "$T/switchover.json")" \
	'.state == "switched over" and .running_here and .pid == $pid and .committed_epoch == $e' \
	"$T/finish.json" >/dev/null || fail "finish: $(cat "$T/finish.json") (backup pid $(fl_b_pid))"
echo "finish: $(jq -c '{guest,state,committed_epoch,name,pid}' "$T/finish.json")"
# Load on the new primary for a while, then read everything back there.
sleep 2
after=$(fl_acked)
[ "$after" -gt "$before" ] || fail "no write acknowledged after the switchover ($before)"
fl_check || fail "the check against the survivor failed"
[ "$FL_SURVIVOR" = backup ] || fail "survivor: $FL_SURVIVOR"
[ "$FL_LOST" = 0 ] || fail "$FL_LOST acknowledged writes lost"
[ "$FL_TORN" = 0 ] || fail "torn state on the backup"
[ "$FL_TWO" = 0 ] || fail "both copies answered (two_live=$FL_TWO)"
down=$(jq -r .downtime_ms "$T/switchover.json")
ep=$(jq -r .epoch "$T/switchover.json")
echo "switchover at epoch $ep: downtime $down ms; $FL_W acknowledged writes ($before before it), $FL_R reads checked on the backup: lost=$FL_LOST torn=$FL_TORN two_live=$FL_TWO"

# A backup that cannot activate (--no-activate) answers ERROR: the guest
# resumes here and remus protects it again.
fl_stop
rm -f "$T"/cl/*.clog
FL_ST=$T/st-refuse
mkdir -p "$FL_ST"
# shellcheck disable=SC2034  # read by fl_start_remusd through fl_start
fl_start none
kill "$B"; wait "$B" 2>/dev/null
# remusd again, with --no-activate, and let remus reconnect to it.
FL_BN=$((FL_BN + 1))
ip netns exec "$NS_B" \
    remusd --proc-listen "[::]:7000" --insecure --listen "$FL_REPL" -D "$FL_D" -t "$FL_T" --no-fence --no-activate \
    --guest "$GUEST_NAME=$GUEST_CMD" > >(fl_stamp >"$T/remusd$FL_BN.log") 2>&1 &
B=$!
_kill_pids="$_kill_pids $B"
wait_for 30 sh -c "remusctl -S '$FL_RUN/remus-proc_$GUEST_PID.sock' --json status | jq -e '.state == \"PROTECTED\" and .acked > 1'" ||
	fail "remus did not protect again with the --no-activate backup"
rc=0
remusctl -S "$FL_RUN/remus-proc_$GUEST_PID.sock" switchover >"$T/refused.out" 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "refused switchover exited $rc, want 3: $(cat "$T/refused.out")"
grep -q "no-activate" "$T/refused.out" || fail "refusal does not say why: $(cat "$T/refused.out")"
fl_p_alive || fail "the primary's guest is gone after a refused switchover"
ip netns exec "$NS_C" remus-netbuf kv-client "$FL_PADDR" 7000 "$T/after-refuse.clog" 500 r >/dev/null 2>&1
grep -q '^SET .* OK' "$T/after-refuse.clog" || fail "the guest does not answer after the refusal"
echo "refused switchover: $(cat "$T/refused.out"); the guest answers on the primary"

# The backup activates but its ACTIVATED never arrives (the link is cut
# instead: REMUS_FAULT=activated-drop).  The primary cannot know whether
# the backup runs the guest: its copy stays suspended (held with SIGSTOP,
# beyond remus's life), its held output is dropped, the requester is told
# the outcome is unknown, and remus exits 9 when stopped.  Under load:
# only the backup's copy ever answers afterwards, nothing acknowledged is
# lost.
fl_stop
rm -f "$T"/cl/*.clog
FL_ST=$T/st-lost
mkdir -p "$FL_ST"
fl_start none
kill "$B"; wait "$B" 2>/dev/null
FL_BN=$((FL_BN + 1))
ip netns exec "$NS_B" env REMUS_FAULT=activated-drop \
    remusd --proc-listen "[::]:7000" --insecure --listen "$FL_REPL" -D "$FL_D" -t "$FL_T" --no-fence \
    --guest "$GUEST_NAME=$GUEST_CMD" > >(fl_stamp >"$T/remusd$FL_BN.log") 2>&1 &
B=$!
_kill_pids="$_kill_pids $B"
FL_BLOG="$T/remusd$FL_BN.log"
SOCK=$FL_RUN/remus-proc_$GUEST_PID.sock
wait_for 30 sh -c "remusctl -S '$SOCK' --json status | jq -e '.state == \"PROTECTED\" and .acked > 1'" ||
	fail "remus did not protect again with the faulty backup"
fl_client_start lost
fl_monitor_start
fl_wait_load 100
rc=0
remusctl -S "$SOCK" switchover >"$T/lost.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q "outcome unknown" "$T/lost.out" ||
	fail "lost ACTIVATED: remusctl exited $rc: $(cat "$T/lost.out")"
grep -q "fault activated-drop" "$FL_BLOG" || fail "the fault did not fire"
wait_for 10 fl_b_active || fail "the backup did not activate"
pstate() { awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null; }
[ "$(pstate "$GUEST_PID")" = T ] || fail "the primary's copy is not stopped: $(pstate "$GUEST_PID")"
remusctl -S "$SOCK" --json status | jq -e '.switchover == "unknown"' >/dev/null ||
	fail "status does not say the switchover is unknown"
sleep 1
remusctl -S "$SOCK" stop >/dev/null || fail "stop after an unknown switchover"
rc=0
wait "$R" || rc=$?
[ $rc -eq 9 ] || fail "remus exited $rc after an unknown switchover, want 9"
sleep 0.5
[ "$(pstate "$GUEST_PID")" = T ] || fail "the primary's copy runs after remus exited: $(pstate "$GUEST_PID")"
fl_check || fail "the check against the survivor failed"
[ "$FL_SURVIVOR" = backup ] && [ "$FL_LOST" = 0 ] && [ "$FL_TORN" = 0 ] && [ "$FL_TWO" = 0 ] ||
	fail "lost ACTIVATED: survivor=$FL_SURVIVOR lost=$FL_LOST torn=$FL_TORN two_live=$FL_TWO"
echo "lost ACTIVATED: $(cat "$T/lost.out"); remus exited 9, the primary's copy stays stopped; lost=$FL_LOST torn=$FL_TORN two_live=$FL_TWO"
echo PASS
