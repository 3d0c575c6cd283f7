#!/usr/bin/env bash
# The Pacemaker resource agent (contrib/ocf/remus) under ocf-tester from
# resource-agents, with a real proc guest on loopback: this host is the
# agent's node (its remusd listens on one port) and a second remusd on
# another port plays the peer node.  ocf-tester drives meta-data,
# validate-all, probe, start, monitor, notify, promote/demote (twice,
# and again on a promoted/demoted instance), stop, restart.  Then: the
# promotions really protected the guest (the peer committed epochs), the
# demotions ended it with END (the peer did not activate), the guest runs
# on, and nothing of the agent's is left running.  Last, a promotion
# whose remus ends in a way that lets the backup activate (here: the
# guest dies, exit 6) leaves a mark and a later promote is refused.
# validate-all refuses no_fence=true unless force_no_fence=true, and finds
# fence-remus-pacemaker next to remusd when fence is not given.  On the
# backup side, promote waits for remusd's failover, which goes through
# the fence command: with a fence that succeeds, the fence ran before the
# replica was activated; with one that fails, promote fails and the
# replica stays passive (nothing activated, remusd runs on).
. "$(dirname "$0")/functions.sh"
requires_root
requires ocf-tester -h
requires test -r /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs
requires xmllint --version
: "${REMUS_SRC:?}"
agent="$REMUS_SRC/contrib/ocf/remus"

# Flags other branches are adding, given only where the programs have
# them (the agent does the same).
peer_args=""
remusd --help 2>&1 | grep -q -- '--no-fence' && peer_args="$peer_args --no-fence"
remusd --help 2>&1 | grep -q -- '--insecure' && peer_args="$peer_args --insecure"

start_guest guest remus-dirtier --pages 50 --working-set 500 --arena-size 4M
p1=$(pick_port)
p2=$(pick_port)
while [ "$p2" = "$p1" ]; do p2=$(pick_port); done
# shellcheck disable=SC2086
# The agent names the guest after the resource ("remus", remus --name);
# the peer runs the guest's own command for it (remusd --guest).
# -t 3000 (remus's own default T): ocf-tester's sessions end by END,
# never by silence; with remusd's 1 s a loaded host (and ASan) once lost
# a resync session to a heartbeat timeout, and its END with it.
start peer remusd --listen 127.0.0.1:$p2 -D "$T/peer" -t 3000 $peer_args --guest "remus=$GUEST_CMD"

wait_for 20 sh -c "ss -Htln 'sport = :$p2' | grep -q ." || fail "peer remusd did not listen"

# Test fence commands: record the call (time, remusd's environment), then
# succeed or fail.
for r in ok:0 fail:1; do
	cat >"$T/fence-${r%:*}" <<EOF
#!/bin/sh
echo "\$(date +%s%N) \$REMUS_FENCE_PRIMARY \$REMUS_FENCE_NAME \$REMUS_FENCE_ATTEMPT \$REMUS_FENCE_TIMEOUT_MS" >>"$T/fence-${r%:*}.calls"
exit ${r#*:}
EOF
	chmod 755 "$T/fence-${r%:*}"
done

export HA_VARLIB="$T/varlib" HA_RSCTMP="$T/rsctmp"
mkdir -p "$HA_VARLIB" "$HA_RSCTMP"
run="$T/ocfrun"
params=(-o guest=proc:$GUEST_PID -o peer=127.0.0.1:$p2
	-o listen=127.0.0.1:$p1 -o state_dir="$T/st" -o fence="$T/fence-ok" -o fence_timeout=3000
	-o insecure=true -o interval=100 -o run_dir="$run"
	-o remus="$(command -v remus)" -o remusd="$(command -v remusd)"
	-o logfile="$T/agent.log" -o command="$GUEST_CMD")
# The agent's own processes must not outlive a test that fails.
cleanup_fn "OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=remus OCF_RESKEY_run_dir=$run $agent stop >/dev/null 2>&1"

status=0
ocf-tester -v -n remus "${params[@]}" "$agent" >"$T/ocf-tester.log" 2>&1 || status=$?
grep -E '^(Beginning|\* |Tests )|passed|failed|rc: ' "$T/ocf-tester.log" | tail -30
[ $status -eq 0 ] || { tail -60 "$T/ocf-tester.log"; fail "ocf-tester exited $status"; }
grep -q "remus passed all tests" "$T/ocf-tester.log" || fail "ocf-tester did not pass"

# What the promotions did.
e=$(cat "$T/peer/remus/proc-epoch" 2>/dev/null) || fail "the peer committed no epoch: promote did not protect"
echo "peer committed up to epoch $e while promoted"
# ocf-tester promotes three times and demotes each: three sessions, each
# ended by END.
n=$(grep -c "primary ended protection after epoch" "$T/peer.log" || true)
[ "$n" -eq 3 ] || fail "the peer saw $n sessions end with END (3 promotions expected)"
[ ! -e "$T/peer/remus/proc-guest.pid" ] || fail "the peer activated a copy after a demote (END)"
[ -d "/proc/$GUEST_PID" ] || fail "the guest did not survive"
for f in "$run"/remus.*pid; do
	[ -e "$f" ] && fail "pid file $f left after stop"
done
pgrep -f -- "--listen 127.0.0.1:$p1" >/dev/null && fail "the agent's remusd still runs"
pgrep -f -- "remus -i 100 .*proc:$GUEST_PID" >/dev/null && fail "the agent's remus still runs"
echo "promotions protected the guest; demotions sent END; stop left nothing"

# remus ending so that the backup may activate: mark, and no second
# promotion over it.
ocf() {
	OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=${INST:-remus} \
	OCF_RESKEY_guest=${GUEST:-proc:$GUEST_PID} \
	OCF_RESKEY_peer=127.0.0.1:${PEER_PORT:-$p2} \
	OCF_RESKEY_listen=127.0.0.1:$p1 OCF_RESKEY_state_dir="${STD:-$T/st}" \
	OCF_RESKEY_fence="${FENCE-$T/fence-ok}" OCF_RESKEY_fence_timeout="${FTO:-3000}" \
	OCF_RESKEY_no_fence="${NOFENCE:-false}" OCF_RESKEY_force_no_fence="${FORCE:-false}" \
	OCF_RESKEY_remusd="${REMUSD:-$(command -v remusd)}" \
	OCF_RESKEY_insecure=true \
	OCF_RESKEY_interval=100 OCF_RESKEY_run_dir="$run" \
	OCF_RESKEY_remus="$(command -v remus)" \
	OCF_RESKEY_logfile="$T/agent.log" OCF_RESKEY_command="${GCMD:-}" "$agent" "$@"
}

# validate-all: the fencing choice.
vrc() { s=0; "$@" validate-all >/dev/null 2>"$T/validate.err" || s=$?; echo $s; }
[ "$(FENCE= NOFENCE=true vrc ocf)" = 6 ] || fail "no_fence=true accepted without force_no_fence"
grep -q "force_no_fence" "$T/validate.err" || fail "no_fence refused without saying why: $(cat "$T/validate.err")"
[ "$(FENCE= NOFENCE=true FORCE=true vrc ocf)" = 0 ] || fail "no_fence=true force_no_fence=true refused"
[ "$(NOFENCE=true FORCE=true vrc ocf)" = 6 ] || fail "fence and no_fence both accepted"
[ "$(FTO=500 vrc ocf)" = 6 ] || fail "fence_timeout=500 accepted"
[ "$(FENCE="$T/no-such-fence" vrc ocf)" = 5 ] || fail "a fence command that is not there accepted"
# No fence given: fence-remus-pacemaker of remusd's installation.
mkdir -p "$T/prefix/bin" "$T/prefix/libexec/remus"
ln -s "$(command -v remusd)" "$T/prefix/bin/remusd"
if [ ! -e /usr/libexec/remus/fence-remus-pacemaker ] && [ ! -e /usr/local/libexec/remus/fence-remus-pacemaker ]; then
	[ "$(FENCE= REMUSD=$T/prefix/bin/remusd vrc ocf)" = 5 ] || fail "no fence and no fence-remus-pacemaker accepted"
fi
cp "$REMUS_SRC/contrib/fence/fence-remus-pacemaker" "$T/prefix/libexec/remus/"
[ "$(FENCE= REMUSD=$T/prefix/bin/remusd vrc ocf)" = 0 ] ||
	fail "fence-remus-pacemaker next to remusd not taken: $(cat "$T/validate.err")"
echo "validate-all: no_fence needs force_no_fence; fence defaults to fence-remus-pacemaker"

ocf start || fail "start"
ocf promote || fail "promote"
s=0; ocf monitor || s=$?
[ $s -eq 8 ] || fail "monitor of a promoted instance: $s, want 8"
wait_for 20 sh -c "test \$(cat $T/peer/remus/proc-epoch) -gt $e" || fail "no new epoch after promote"
kill -9 "$GUEST_PID"
wait_for 20 test -s "$run/remus.remus-exit" || fail "remus did not end when the guest died"
echo "remus exit after the guest died: $(cat "$run/remus.remus-exit")"
s=0; ocf monitor || s=$?
[ $s -eq 9 ] || fail "monitor after the guest died: $s, want 9 (failed promoted)"
ocf demote; ocf stop || fail "stop after failure"
[ -s "$HA_VARLIB/remus/remus.failover" ] || fail "no failover mark"
echo "mark: $(cat "$HA_VARLIB/remus/remus.failover")"
start_guest guest2 remus-dirtier --pages 50 --working-set 500 --arena-size 4M
ocf start || fail "start"
s=0; OCF_RESKEY_guest=proc:$GUEST_PID ocf promote 2>"$T/promote.err" || s=$?
[ $s -ne 0 ] || fail "promoted again over a failover mark"
echo "promote refused over the mark (rc $s)"
ocf stop

# This node as the backup: the primary's remus protects a guest to the
# agent's remusd; the primary's "host" dies (remus and its guest, kill
# -9); promote waits for remusd's own failover, then protects the
# activated copy toward the peer.
# The guest is "remus2" to every remusd (the agent's name for it), in
# STATEDIR/remus2.
start_guest guest3 remus-dirtier --pages 50 --working-set 500 --arena-size 4M
export INST=remus2 STD=$T/st2 ST=$T/st2/remus2 PEER_PORT=$(pick_port) GCMD=$GUEST_CMD
start peer3 remusd --listen 127.0.0.1:$PEER_PORT -D "$T/peer3" $peer_args --guest "remus2=$GCMD"
wait_for 20 sh -c "ss -Htln 'sport = :$PEER_PORT' | grep -q ." || fail "peer3 did not listen"
export GUEST=proc:$GUEST_PID
ocf start || fail "start (backup side)"
remus_args=""
remus --help 2>&1 | grep -q -- '--insecure' && remus_args="--insecure"
start primary remus -i 100 $remus_args --name remus2 "$GUEST" 127.0.0.1:$p1
R=$LAST_PID
wait_for 20 test -s "$ST/proc-epoch" || fail "the primary committed nothing to the agent's remusd"
s=0; ocf monitor || s=$?
[ $s -eq 0 ] || fail "monitor of the backup side: $s, want 0"
kill -9 "$R" "$GUEST_PID"
t0=$(date +%s%N)
s=0; ocf promote || s=$?
[ $s -eq 0 ] || fail "promote after the primary died: $s"
echo "promote after the primary's death took $((($(date +%s%N) - t0) / 1000000)) ms"
act=$(cat "$ST/proc-guest.pid") || fail "promote returned but nothing was activated"
# The fence ran, with remusd's environment, before the activation began
# (remusd's line entering ACTIVATING; UTC, milliseconds).
[ -s "$T/fence-ok.calls" ] || fail "remusd activated without running the fence"
read -r tf fp fn fa ft <"$T/fence-ok.calls"
case $fp in 127.0.0.1:*) ;; *) fail "REMUS_FENCE_PRIMARY=$fp" ;; esac
[ "$fn" = remus2 ] && [ "$ft" = 3000 ] || fail "fence environment: $(cat "$T/fence-ok.calls")"
la=$(grep -- "-> ACTIVATING" "$T/agent.log" | tail -1) || fail "no ACTIVATING line"
ta=$(date -d "$(echo "$la" | awk '{print $1}')" +%s%N)
# The log's stamp is cut to the millisecond: compare at that grain.
[ $((ta / 1000000)) -ge $((tf / 1000000)) ] ||
	fail "activation began $(((tf - ta) / 1000000)) ms before the fence ran"
echo "fence ran (primary $fp, attempt $fa), activation began $(((ta - tf) / 1000000)) ms later"
[ "$(cat "$run/remus2.guest")" = "proc:$act" ] || fail "agent did not record the activated guest"
s=0; ocf monitor || s=$?
[ $s -eq 8 ] || fail "monitor after failover promote: $s, want 8"
wait_for 30 test -s "$T/peer3/remus2/proc-epoch" || fail "the activated guest is not protected toward the peer"
grep -q "guest remus2, timeout" "$T/peer3.log" || fail "peer3 protects something else"
echo "activated guest proc:$act protected again toward the peer (epoch $(cat "$T/peer3/remus2/proc-epoch"))"
ocf demote || fail "demote"
ocf stop || fail "stop"
[ -d "/proc/$act" ] || fail "the activated guest did not survive demote and stop"

# The same with a fence that fails: remusd retries it while the window
# (T + F) is open, then keeps the replica passive; promote fails and
# says so, nothing is activated, remusd runs on (unpromoted).
start_guest guest4 remus-dirtier --pages 50 --working-set 500 --arena-size 4M
export INST=remus3 STD=$T/st3 ST=$T/st3/remus3 FENCE=$T/fence-fail FTO=2000 GCMD=$GUEST_CMD
export GUEST=proc:$GUEST_PID
ocf start || fail "start (backup side, failing fence)"
start primary4 remus -i 100 $remus_args --name remus3 "$GUEST" 127.0.0.1:$p1
R=$LAST_PID
wait_for 20 test -s "$ST/proc-epoch" || fail "the primary committed nothing to the agent's remusd"
kill -9 "$R" "$GUEST_PID"
t0=$(date +%s%N)
ocf promote 2>"$T/promote4.err" &
pp=$!
wait_for 60 sh -c "! kill -0 $pp" || { kill "$pp"; fail "promote still waits 60 s after the primary died, with a fence that fails"; }
s=0; wait "$pp" || s=$?
dt=$((($(date +%s%N) - t0) / 1000000))
[ $s -ne 0 ] || fail "promote succeeded with a fence that fails"
n=$(wc -l <"$T/fence-fail.calls")
[ "$n" -ge 1 ] || fail "the fence was not tried"
[ ! -e "$ST/proc-guest.pid" ] || fail "activated without a fence"
grep -q "not fenced in\|fence attempt .* failed" "$T/agent.log" || fail "remusd did not say it stayed passive"
echo "promote failed (rc $s) after $dt ms: fence tried $n times, replica passive at epoch $(cat "$ST/proc-epoch")"
s=0; ocf monitor || s=$?
[ $s -eq 0 ] || fail "monitor after the failed promote: $s, want 0 (unpromoted, remusd running)"
ocf stop || fail "stop"
echo PASS
