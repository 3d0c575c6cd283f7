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
# and in both:
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

SC=${1:?usage: resync.sh restart|reconnect}
KVD_ARENA=${KVD_ARENA:-64M}
export KVD_ARENA
bad() { fail "resync-$SC: $*"; }
epoch() { cat "$ST/proc-epoch" 2>/dev/null || echo 0; }

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
