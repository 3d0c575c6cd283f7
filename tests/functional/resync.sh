#!/usr/bin/env bash
# tests/functional/resync.sh SCENARIO -- incremental resync (issue 11;
# docs/failover.md, "Incremental resync"; docs/stream-format.md 7.1).
#
# A kvd guest (64 MiB arena) protected through nfqueue netbuf, under the
# recording client of fault-lib.sh and the two_live monitor.  Then:
#   restart     remusd stopped (SIGTERM) and restarted at once on the same
#               state directory: remus reconnects and resyncs
#   reconnect   remusd killed (-9) and restarted 3 s later: remus gives up
#               the backup, runs unprotected, reconnects by itself
#   failback    (see failback() below) the primary dies, the backup
#               activates; the activated guest is protected back to the
#               original host with one command; then the backup dies and
#               the original host activates: every acknowledged write of
#               the recording client is there
# and in restart and reconnect:
#   - the new session's first epoch is an incremental resync: remus logs
#     how many pages differed; they are fewer than a quarter of the arena
#     (printed with the total);
#   - a committed replica exists at every moment (proc-epoch sampled every
#     20 ms from outside, from the fault to the new session's first commit,
#     never missing, never going back);
#   - protection resumed: epochs commit after the resync;
#   - the primary host then dies (remus and guest, kill -9); the backup
#     fences, activates, and holds every acknowledged write and read
#     (kv-check; fault-kvscan.py: not torn), and never two copies answered.
. "$(dirname "$0")/fault-lib.sh"

SC=${1:?usage: resync.sh restart|reconnect|failback}
KVD_ARENA=${KVD_ARENA:-64M}
export KVD_ARENA
bad() { fail "resync-$SC: $*"; }
epoch() { cat "$ST/proc-epoch" 2>/dev/null || echo 0; }

# failback: failover, failback with the one documented command, and a
# second failover back to the original host (docs/failover.md,
# "Failback").  P is the original host, B the backup.
failback() {
	local e n sa ra w1 out rc=0
	fl_net_up
	fl_start ok
	fl_client_start fb
	fl_monitor_start
	fl_wait_load 20
	sleep 1
	# 1. The original host dies (remus, then its guest): B fences and
	# activates.
	kill -9 "$R"
	kill -9 "$GUEST_PID"
	wait "$R" 2>/dev/null
	wait_for $((FL_T / 1000 + FL_F / 1000 + 10)) fl_b_active ||
		bad "the backup did not activate: $(tail -3 "$FL_BLOG")"
	echo "  failover 1: the backup activated (pid $(fl_b_pid)) from epoch $(epoch)"
	fl_wait_load "$(($(fl_acked) + 200))"
	w1=$(fl_acked)
	# 2. Failback: remusd on the repaired original host (its own state
	# directory), then on B the one command of docs/failover.md.  The
	# test kills B itself below: no fence on this side.  The guest is
	# the same one (GUEST_NAME, GUEST_CMD), its replica in sa.
	mkdir -p "$T/st-orig"
	sa="$T/st-orig/$GUEST_NAME"
	ip netns exec "$NS_P" \
	    remusd --proc-listen "[::]:7000" --insecure --listen 10.91.3.1:5270 -D "$T/st-orig" -t "$FL_T" \
	    --no-fence --guest "$GUEST_NAME=$GUEST_CMD" > >(fl_stamp >"$T/remusd-orig.log") 2>&1 &
	ra=$!
	_kill_pids="$_kill_pids $ra"
	wait_for 10 eval 'ip netns exec "$NS_P" ss -Htln "sport = :5270" | grep -q .' ||
		bad "remusd on the original host did not listen: $(tail -3 "$T/remusd-orig.log")"
	ip netns exec "$NS_B" remus --insecure -i "$FL_I" --timeout "$FL_T" \
	    --name "$GUEST_NAME" proc:"$(fl_b_pid)" 10.91.3.1:5270 \
	    > >(fl_stamp >"$T/remus-back.log") 2>&1 &
	RB=$!
	_kill_pids="$_kill_pids $RB"
	wait_for 30 test -s "$sa/proc-epoch" ||
		bad "failback: nothing committed on the original host: $(tail -3 "$T/remus-back.log")"
	echo "  failback: protecting proc:$(fl_b_pid) back to the original host, epoch $(cat "$sa/proc-epoch") committed there"
	grep -Eq 'full checkpoint committed|incremental resync committed' "$T/remus-back.log" ||
		bad "failback: remus logged no first epoch"
	echo "  failback: $(grep -Em1 'full checkpoint committed|incremental resync committed' "$T/remus-back.log" | sed 's/.*ckpt: //')"
	# Writes under the failed-back protection.
	fl_wait_load "$((w1 + 300))"
	# The activated guest runs in B's own namespace, where netbuf
	# cannot hold its output: the client stops and two epochs commit
	# before B dies, so every write it saw acknowledged is in one.
	fl_client_stop
	fl_monitor_stop
	e=$(cat "$sa/proc-epoch")
	wait_for 10 sh -c "[ \$(cat '$sa/proc-epoch') -ge $((e + 2)) ]" ||
		bad "failback: no epochs committed on the original host (stuck at $e)"
	# 3. B dies (remusd, remus, the guest): the original host activates.
	kill -9 "$B" "$RB" "$(fl_b_pid)" 2>/dev/null
	wait "$RB" 2>/dev/null
	wait_for $((FL_T / 1000 + 10)) eval 'fl_alive "$(cat "$sa/proc-guest.pid" 2>/dev/null)"' ||
		bad "failover 2: the original host did not activate: $(tail -3 "$T/remusd-orig.log")"
	echo "  failover 2: the original host activated (pid $(cat "$sa/proc-guest.pid")) from epoch $(cat "$sa/proc-epoch")"
	cat "$T"/cl/*.clog >"$T/acked.all" 2>/dev/null
	out=$(ip netns exec "$NS_C" remus-netbuf kv-check 10.91.2.1 7000 "$T/acked.all") || rc=$?
	echo "$out" | grep '^LOST' | head -5
	n=$(echo "$out" | sed -n 's/^checked \([0-9]*\) writes \([0-9]*\) reads: \([0-9]*\) lost.*/\1 \2 \3/p')
	[ -n "$n" ] || bad "kv-check against the original host failed (rc $rc): $out"
	set -- $n
	[ "$3" = 0 ] || bad "$3 acknowledged writes or reads lost after the two failovers"
	[ "$1" -gt "$w1" ] || bad "no write acknowledged during the failback to check"
	out=$(ip netns exec "$NS_C" "$FL_PY" "$HERE_FL/fault-kvscan.py" 10.91.2.1 7000 "$T/acked.all")
	echo "$out" | grep '^TORN' | head -5
	case $out in *" torn=0") ;; *) bad "the original host's state is torn or unscanned: $out" ;; esac
	[ "$FL_TWO" = 0 ] || bad "two copies emitted around failover 1: two_live=$FL_TWO"
	echo "resync-failback: $1 acknowledged writes ($w1 before the failback) and $2 reads all on the original host after failover, failback and failover; two_live=0 (failover 1)"
	echo PASS
	exit 0
}
[ "$SC" = failback ] && failback

fl_net_up
fl_start ok
fl_client_start "rs$SC"
fl_monitor_start
fl_wait_load 20
# A few epochs under load before the fault.
sleep 1
e0=$(epoch)
grep -q 'full checkpoint committed' "$FL_RLOG" ||
	bad "remus logged no full first epoch: $(tail -3 "$FL_RLOG")"
full_line=$(grep -m1 'full checkpoint committed' "$FL_RLOG" | cut -d' ' -f2-)
echo "  first session: $full_line"

# The replica, sampled from outside: its epoch file must be there and
# never go back, from the fault until the new session's first commit.
cleanup_fn 'touch "$T/rs.stop"'
( while [ ! -e "$T/rs.stop" ] && kill -0 $$ 2>/dev/null; do
	e=$(cat "$ST/proc-epoch" 2>/dev/null)
	if [ -n "$e" ]; then echo "$EPOCHREALTIME $e"
	else echo "$EPOCHREALTIME missing: $(ls "$ST" | tr '\n' ' ')"; fi
	sleep 0.02
  done >"$T/replica-samples" ) &
S=$!
sleep 0.1

case $SC in
restart)
	kill -TERM "$B"
	wait "$B"
	echo "  remusd stopped (exit $?) at epoch $e0"
	fl_restart_remusd
	;;
reconnect)
	t_kill=$(fl_now)
	kill -9 "$B"
	wait "$B"
	echo "  remusd killed at epoch $e0"
	# Long enough for remus to give the backup up (T + F + M) and run
	# unprotected for a while.
	wait_for 15 eval 'lost=$(fl_first_line "$FL_RLOG" "lost|holding" "$t_kill") &&
	    fl_first_line "$FL_RLOG" "releas|unprotected" "$lost" >/dev/null' ||
		bad "remus never gave the backup up: $(tail -3 "$FL_RLOG")"
	echo "  remus: $(awk -v a="$lost" '$1 >= a && tolower($0) ~ /releas|unprotected/ { $1 = ""; print; exit }' "$FL_RLOG")"
	sleep 1
	fl_restart_remusd
	;;
*)
	bad "unknown scenario"
	;;
esac
touch "$T/restart.mark"
wait_for 30 grep -q 'incremental resync committed' "$FL_RLOG" ||
	bad "no incremental resync committed: $(grep -Ei 'resync|full|WELCOME|backup' "$FL_RLOG" | tail -5)"
line=$(grep -m1 'incremental resync committed' "$FL_RLOG" | cut -d' ' -f2-)
echo "  resync: $line"
diff=$(echo "$line" | sed -n 's/.*committed: \([0-9]*\) of \([0-9]*\) pages differed.*/\1/p')
total=$(echo "$line" | sed -n 's/.*committed: \([0-9]*\) of \([0-9]*\) pages differed.*/\2/p')
[ -n "$diff" ] && [ -n "$total" ] || bad "cannot read the resync line"
[ "$((diff * 4))" -lt "$total" ] ||
	bad "the resync sent $diff of $total pages: not incremental"
wait_for 10 test "$ST/proc-epoch" -nt "$T/restart.mark" ||
	bad "no epoch committed after the restart"
touch "$T/rs.stop"
wait "$S"
n=$(wc -l <"$T/replica-samples")
miss=$(grep -c missing "$T/replica-samples")
[ "$miss" = 0 ] || bad "no committed replica in $miss of $n samples: $(grep -m3 missing "$T/replica-samples" | tr '\n' ';')"
back=$(awk '$2 < last { n++ } { last = $2 } END { print n + 0 }' "$T/replica-samples")
[ "$back" = 0 ] || bad "the replica's epoch went back $back times"
echo "  a committed replica at every one of $n samples across the restart (epochs $(head -1 "$T/replica-samples" | cut -d' ' -f2) -> $(tail -1 "$T/replica-samples" | cut -d' ' -f2))"
grep -q 'resuming the replica of epoch' "$FL_BLOG" ||
	bad "remusd did not say it resumed its replica"
fl_alive "$R" || bad "remus exited"
fl_b_active && bad "the restarted backup activated"
e1=$(epoch)
wait_for 10 sh -c "[ \$(cat '$ST/proc-epoch') -gt $e1 ]" ||
	bad "no epoch committed after the resync (stuck at $e1)"
echo "  protected again: epochs $e1 -> $(epoch)"
sleep 1

# The primary host dies: the backup must hold every acknowledged write.
kill -9 "$R" "$GUEST_PID"
wait "$R" 2>/dev/null
wait_for $((FL_T / 1000 + FL_F / 1000 + 10)) fl_b_active ||
	bad "the backup did not activate: $(tail -3 "$FL_BLOG")"
echo "  backup activated (pid $(fl_b_pid)) from epoch $(epoch)"
fl_check || bad "acknowledged writes or reads lost: lost=$FL_LOST"
[ "$FL_SURVIVOR" = backup ] || bad "checked the $FL_SURVIVOR, not the backup"
[ "$FL_TWO" = 0 ] || bad "two copies emitted: two_live=$FL_TWO"
[ "$FL_TORN" = 0 ] || bad "the backup's state is torn: torn=$FL_TORN"
[ "$FL_W" -gt 0 ] || bad "no acknowledged write to check"
echo "resync-$SC: $diff of $total pages resent; $FL_W acknowledged writes and $FL_R reads all on the activated backup, two_live=0"
echo PASS
