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
start peer remusd --listen 127.0.0.1:$p2 -D "$T/peer" $peer_args --guest "remus=$GUEST_CMD"

wait_for 20 sh -c "ss -Htln 'sport = :$p2' | grep -q ." || fail "peer remusd did not listen"

export HA_VARLIB="$T/varlib" HA_RSCTMP="$T/rsctmp"
mkdir -p "$HA_VARLIB" "$HA_RSCTMP"
run="$T/ocfrun"
params=(-o guest=proc:$GUEST_PID -o peer=127.0.0.1:$p2
	-o listen=127.0.0.1:$p1 -o state_dir="$T/st" -o no_fence=true
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
	OCF_RESKEY_no_fence=true OCF_RESKEY_insecure=true \
	OCF_RESKEY_interval=100 OCF_RESKEY_run_dir="$run" \
	OCF_RESKEY_remus="$(command -v remus)" \
	OCF_RESKEY_remusd="$(command -v remusd)" \
	OCF_RESKEY_logfile="$T/agent.log" OCF_RESKEY_command="${GCMD:-}" "$agent" "$@"
}
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
[ "$(cat "$run/remus2.guest")" = "proc:$act" ] || fail "agent did not record the activated guest"
s=0; ocf monitor || s=$?
[ $s -eq 8 ] || fail "monitor after failover promote: $s, want 8"
wait_for 30 test -s "$T/peer3/remus2/proc-epoch" || fail "the activated guest is not protected toward the peer"
grep -q "guest remus2, timeout" "$T/peer3.log" || fail "peer3 protects something else"
echo "activated guest proc:$act protected again toward the peer (epoch $(cat "$T/peer3/remus2/proc-epoch"))"
ocf demote || fail "demote"
ocf stop || fail "stop"
[ -d "/proc/$act" ] || fail "the activated guest did not survive demote and stop"
echo PASS
