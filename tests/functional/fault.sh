#!/usr/bin/env bash
# tests/functional/fault.sh SCENARIO -- one fault against a protected kvd
# guest, checked against docs/failover.md (the invariant: at every moment
# at most one copy runs and emits output, and no client ever sees output of
# a state the surviving copy does not hold).
#
# The harness is fault-lib.sh: kvd behind nfqueue netbuf in the primary's
# namespace, remusd in the backup's, a client loop (every acknowledged
# write and read recorded) and the two_live monitor in the client's.  Each
# scenario then asserts:
#   - who runs afterwards: exactly one copy (the backup's, the primary
#     fenced) or the primary alone, as the timeline says;
#   - two_live == 0 (the primary never answered after the backup did);
#   - every acknowledged write and read is in the survivor (kv-check), and
#     its keys are one state the guest had (fault-kvscan.py: torn == 0);
#   - the scenario's own facts (fence attempts and timing, release time of
#     the primary's held output, stand-down, reconnection).
#
# Scenarios (T = FL_T 1000 ms, F = FL_F 3000 ms, M = 500 ms; T is not
# smaller because a first full epoch on a loaded machine can outlast
# 500 ms, and a 0.5 T partition meets TCP's 200 ms minimum RTO and its
# back-off; F = 3 T puts a 3 T stall of remusd inside its window):
#   partition-both partition-p2b partition-b2p    cut, fence ok: failover
#   heal-0.5x heal-1x heal-3x     both ways, healed after k*T
#   stop-remus-{0.5x,1x,3x}       SIGSTOP of remus for k*T
#   stop-remusd-{0.5x,1x,3x}      SIGSTOP of remusd for k*T
#   fence-ok fence-fail fence-hang   partition both ways with that fence
#   statedir-full statedir-ro     the backup's state directory, mid-run
#   statedir-full-activate        full when the backup must activate
#   guest-crash                   kill -9 of the primary's guest only
#   reconnect                     remusd restarted: remus reconnects
# 0.5x: nothing may happen.  1x: a race; either nothing happens or a clean
# failover, never both copies.  3x: failover.
#
# FAULT_LEGACY=1 runs it against code from before the failover work (no
# --fence ...): see fault-lib.sh.  KEEP=1 keeps the logs.
. "$(dirname "$0")/fault-lib.sh"

SC=${1:?usage: fault.sh SCENARIO}
T_S=$(fl_calc "$FL_T / 1000")
F_S=$(fl_calc "$FL_F / 1000")
M_S=$(fl_calc "$FL_M / 1000")
H_S=$(fl_calc "$FL_H / 1000")
# The primary may release no earlier than X + T + F + M, and X (its own
# loss detection) comes no earlier than T - H after the fault.
REL_MIN=$(fl_calc "2 * $T_S - $H_S + $F_S + $M_S")
FACTS=""
fact() { FACTS="$FACTS; $*"; echo "  $*"; }
bad() { fail "$SC: $*"; }

T_BEGIN=$(fl_now)
fl_net_up

# observe SECONDS: keep the load on until SECONDS after the fault, so that
# a premature release or a late activation shows in the monitor.
observe() {
	local until
	until=$(fl_calc "$FL_T_FAULT + $1")
	while ! fl_ge "$(fl_now)" "$until"; do
		sleep 0.1
	done
}

epoch() { cat "$ST/proc-epoch" 2>/dev/null || echo 0; }

fence_attempts() { grep -c ' start ' "$T/fence.out" 2>/dev/null || echo 0; }

# The backup activated; the primary's remus and guest are dead (fenced:
# B4 runs the fence before the guest).
expect_failover() {
	wait_for $((FL_T / 1000 + FL_F / 1000 + 10)) fl_b_active ||
		bad "the backup did not activate"
	fact "backup activated (pid $(fl_b_pid)), replica epoch $(epoch)"
	wait_for 3 eval '! fl_alive "$R"' ||
		bad "remus still runs after the backup activated"
	wait_for 3 eval '! fl_p_alive' ||
		bad "the primary's guest still runs after the backup activated"
	fact "primary remus and guest dead"
	[ "${FAULT_LEGACY:-}" = 1 ] && return 0
	[ "$(fence_attempts)" -ge 1 ] || bad "activated without running the fence"
	grep -q ' end rc=0' "$T/fence.out" || bad "activated without a successful fence: $(cat "$T/fence.out")"
	fact "fence attempts: $(fence_attempts), succeeded"
}

# The primary's held output never left after the fault: its last reply
# came at most 0.3 s after the fault (epochs acknowledged before it).
expect_no_primary_output_after_fault() {
	local n a
	local t0=${FL_T_FAULT_END:-$FL_T_FAULT}
	case $SC in
	stop-remus-*)
		# A stalled remus still holds the output of epochs the backup
		# acknowledged before the stall and releases it when it wakes,
		# until the fence kills it: state the backup holds (kv-check
		# proves it).  From the backup's activation on, nothing may
		# come from the primary.
		a=$(awk '/-> ACTIVATED/ { print $1; exit }' "$FL_BLOG")
		[ -n "$a" ] && t0=$a ;;
	esac
	n=$(fl_p_replies_between "$(fl_calc "$t0 + 0.3")" 9999999999)
	[ "$n" = 0 ] || bad "the primary emitted $n replies after the fault (first at $(fl_p_first_reply_after "$(fl_calc "$t0 + 0.3")"), fault complete at $t0)"
	fact "primary emitted nothing later than 0.3 s after the fault"
}

# Nothing happened: no fence, no activation, remus still protects and
# epochs are committed after the fault.
expect_nothing() {
	local e0
	[ ! -s "$T/fence.out" ] || bad "fence ran: $(cat "$T/fence.out")"
	fl_b_active && bad "the backup activated"
	fl_alive "$R" || bad "remus exited"
	fl_p_alive || bad "the primary's guest died"
	e0=$(epoch)
	wait_for 5 sh -c "[ \$(cat '$ST/proc-epoch') -gt $e0 ]" ||
		bad "no epoch committed after the fault (stuck at $e0)"
	fact "nothing happened: no fence, no activation, epochs $e0 -> $(epoch) after the fault"
}

# 1x: a race.  Whatever the outcome, never two copies.
expect_one() {
	# Let the race settle: a loss seen by either side ends in a fence
	# within T + F.
	sleep "$(fl_calc "$T_S + $F_S + 0.5")"
	if fl_b_active || [ -s "$T/fence.out" ]; then
		fact "outcome: failover"
		expect_failover
		expect_no_primary_output_after_fault
	else
		fact "outcome: nothing happened"
		expect_nothing
	fi
}

# The backup stayed passive: it never activated, said why in its log.
expect_passive() {
	fl_b_active && bad "the backup activated without a successful fence"
	[ -f "$ST/proc-guest.pid" ] && bad "the backup started a guest ($(cat "$ST/proc-guest.pid"))"
	grep -Eiq 'passive|not activat' "$FL_BLOG" ||
		bad "remusd did not say it stayed passive"
	fact "backup passive: $(grep -Ei 'passive|not activat' "$FL_BLOG" | head -1 | cut -d' ' -f2-)"
}

# The primary released its held output no earlier than X + T + F + M.
expect_late_release() {
	local first lost rel
	# Replies released by ACKs that crossed before the cut was complete
	# arrive up to then; the bound counts from its start.
	first=$(fl_p_first_reply_after "$(fl_calc "$FL_T_FAULT_END + 0.3")")
	[ -n "$first" ] || bad "the primary never released its output"
	fl_ge "$first" "$(fl_calc "$FL_T_FAULT + $REL_MIN")" ||
		bad "the primary emitted at fault + $(fl_calc "$first - $FL_T_FAULT") s, before the earliest allowed release (fault + $REL_MIN s)"
	fact "primary's first output after the fault at fault + $(fl_calc "$first - $FL_T_FAULT") s (earliest allowed: fault + $REL_MIN s)"
	# remus's own lines: lost at X, released at X + T + F + M.
	lost=$(fl_first_line "$FL_RLOG" 'lost|holding' "$FL_T_FAULT") ||
		bad "remus logged no loss of the backup"
	rel=$(fl_first_line "$FL_RLOG" 'releas|unprotected' "$lost") ||
		bad "remus logged no release"
	# The interval by remus's own clock (each line's UTC time, ms): the
	# reader's stamps can be late by tens of ms under load, the first
	# more than the second, and the interval then looks short.
	own() { awk -v t="$2" '$1 == t { print $2; exit }' "$1" |
		sed 's/Z$//' | xargs -I{} date -u -d {} +%s.%3N; }
	d=$(fl_calc "$(own "$FL_RLOG" "$rel") - $(own "$FL_RLOG" "$lost")")
	fl_ge "$(fl_calc "$d + 0.002")" "$(fl_calc "$T_S + $F_S + $M_S")" ||
		bad "remus released $d s after its loss (its own clock), T + F + M = $(fl_calc "$T_S + $F_S + $M_S") s"
	fact "remus: loss at fault + $(fl_calc "$lost - $FL_T_FAULT") s, release $d s later by its own clock (T + F + M = $(fl_calc "$T_S + $F_S + $M_S") s)"
}

# The primary keeps serving: after the fault, no gap in its output as long
# as T + F + M (it released at once: P3 on ERROR).
expect_primary_serves() {
	local gap
	fl_b_active && bad "the backup activated"
	fl_p_alive || bad "the primary's guest died"
	gap=$(awk -v a="$FL_T_FAULT" '$1 == "P" && $3 >= a {
		if (last && $3 - last > g) g = $3 - last; last = $3; n++ }
		END { printf "%.3f %d", g, n }' "$FL_MONOUT")
	[ "${gap#* }" -gt 10 ] || bad "the primary answered only ${gap#* } probes after the fault"
	fl_ge "$(fl_calc "$T_S + $F_S + $M_S")" "${gap% *}" ||
		bad "the primary held its output ${gap% *} s (T + F + M: it did not release at once)"
	fact "primary served ${gap#* } probes after the fault, longest gap ${gap% *} s"
}

expect_clean() {
	fl_check || bad "the check against the survivor ($FL_SURVIVOR) failed: lost=$FL_LOST"
	[ "$FL_TWO" = 0 ] || bad "two copies emitted: two_live=$FL_TWO"
	[ "$FL_TORN" = 0 ] || bad "the survivor's state is torn: torn=$FL_TORN"
	[ "$FL_W" -gt 0 ] || bad "no acknowledged write to check"
}

mult() {
	case $1 in
	0.5x) echo 0.5 ;; 1x) echo 1 ;; 3x) echo 3 ;; *) bad "bad multiple $1" ;;
	esac
}

start_all() {
	fl_start "$1"
	T_STARTED=$(fl_now)
	fl_client_start "$SC"
	fl_monitor_start
	fl_wait_load 20
	T_LOADED=$(fl_now)
}

WINDOW=$(fl_calc "2 * $T_S + $F_S + $M_S + 1.5")

case $SC in
partition-both|partition-p2b|partition-b2p|fence-ok)
	start_all ok
	mode=${SC#partition-}
	[ "$SC" = fence-ok ] && mode=both
	fl_partition "$mode"
	expect_failover
	observe "$WINDOW"
	fl_heal
	expect_no_primary_output_after_fault
	if [ "$SC" = fence-ok ]; then
		l=$(grep ' start ' "$T/fence.out" | head -1)
		echo "  fence environment: $l"
		case $l in *" attempt=1 "*) ;; *) bad "REMUS_FENCE_ATTEMPT: $l" ;; esac
		case $l in *" guest=$GUEST_NAME "*) ;; *) bad "REMUS_FENCE_GUEST: $l" ;; esac
		case $l in *" name= "*) bad "REMUS_FENCE_NAME empty: $l" ;; esac
		case $l in *" primary=10.91.3.1:"[0-9]*) ;; *) bad "REMUS_FENCE_PRIMARY: $l" ;; esac
		case $l in *" timeout=$FL_F "*) ;; *) bad "REMUS_FENCE_TIMEOUT_MS: $l" ;; esac
		e=$(echo "$l" | sed -n 's/.* epoch=\([0-9]*\) .*/\1/p')
		[ -n "$e" ] && [ "$e" -gt 0 ] && [ "$e" = "$(epoch)" ] ||
			bad "REMUS_FENCE_EPOCH '$e', replica committed epoch $(epoch)"
		fact "fence environment as documented (epoch $e = the replica's)"
	fi
	;;
heal-*)
	start_all ok
	k=$(mult "${SC#heal-}")
	fl_partition both
	# Healed k T after the first rule went in.
	# (No process starts between the partition and the heal: on a
	# loaded machine each costs up to a few hundred ms.)
	k_us=$(fl_calc "$k * $FL_T * 1000"); k_us=${k_us%.*}
	t0_us=${FL_T_FAULT/./}
	now_us=${EPOCHREALTIME/./}
	d_us=$((t0_us + k_us - now_us))
	if [ "$d_us" -gt 0 ]; then
		mkfifo "$T/sleep"
		exec {sl}<>"$T/sleep"
		read -r -t "$((d_us / 1000000)).$(printf %06d $((d_us % 1000000)))" -u "$sl" || true
	fi
	fl_heal
	until=$(fl_calc "$FL_T_FAULT + $k * $T_S")
	# The replication link's TCP state just after the heal: a
	# retransmission timer backed off past the heal delays the first
	# byte after it.
	for ns in "$NS_P" "$NS_B"; do
		ip netns exec "$ns" ss -Htin '( sport = :5270 or dport = :5270 )' |
		    tr -s ' \t\n' ' ' | grep -o 'unacked:[0-9]*\|retrans:[0-9/]*\|rto:[0-9.]*\|backoff:[0-9]*\|lastsnd:[0-9]*\|lastrcv:[0-9]*' |
		    tr '\n' ' ' | sed "s/^/  after the heal, $([ "$ns" = "$NS_P" ] && echo remus || echo remusd) socket: /"
		echo
	done
	fact "link cut for $(fl_calc "$until - $FL_T_FAULT_END")..$(fl_calc "$FL_T_HEALED - $FL_T_FAULT") s (rules in $(fl_calc "$FL_T_FAULT_END - $FL_T_FAULT") s)"
	# The cut may not last longer than (k + 0.2) T, or the scenario is
	# another one: too loaded a machine to put rules in and out in time.
	fl_ge "$(fl_calc "($k + 0.2) * $T_S")" "$(fl_calc "$FL_T_HEALED - $FL_T_FAULT")" ||
		{ echo "SKIP: the cut lasted up to $(fl_calc "$FL_T_HEALED - $FL_T_FAULT") s, not $k T: nft too slow on this machine now"; exit 77; }
	case $k in
	0.5)
		# Silence lasts up to H + the cut + TCP's retransmit timeout
		# (200 ms at least): a 0.5 T cut can pass T (docs/failover.md,
		# partition timeline).  If a side counted T of silence it is
		# the 1 T race, judged as such; else nothing may happen.
		sleep "$T_S"
		if grep -qi 'silence' "$FL_RLOG" "$FL_BLOG"; then
			fact "the 0.5 T cut was T of silence for a side (TCP retransmission): judged as the 1 T race"
			expect_one
		else
			expect_nothing
		fi ;;
	1) expect_one ;;
	3) expect_failover; expect_no_primary_output_after_fault ;;
	esac
	observe "$WINDOW"
	;;
stop-remus-*|stop-remusd-*)
	start_all ok
	k=$(mult "${SC##*-}")
	case $SC in stop-remusd-*) victim=$B ;; *) victim=$R ;; esac
	fl_stall "$victim" "$(fl_calc "$k * $FL_T")"
	case $k in
	0.5) expect_nothing ;;
	1) expect_one ;;
	3) expect_failover; expect_no_primary_output_after_fault ;;
	esac
	observe "$WINDOW"
	;;
fence-fail|fence-hang)
	start_all "${SC#fence-}"
	fl_partition both
	# The backup's window closes at last_rx + T + F; the primary
	# releases at X + T + F + M: watch past both.
	observe "$(fl_calc "$WINDOW + 1")"
	expect_passive
	fl_p_alive || bad "the primary's guest died"
	expect_late_release
	n=$(fence_attempts)
	if [ "$SC" = fence-fail ]; then
		# Retried every second while the window (F after T) is open.
		[ "$n" -ge 2 ] || bad "fence tried $n times in a window of F = $F_S s (retry every second)"
		last=$(grep ' start ' "$T/fence.out" | tail -1 | cut -d' ' -f1)
		# remusd gives its policy F + H (H = min(T/4, 200 ms): silence
		# is noticed a little after last_rx + T; docs/failover.md B3).
		fl_ge "$(fl_calc "$FL_T_FAULT_END + $T_S + $F_S + 0.2 + 0.1")" "$last" ||
			bad "fence attempt at fault + $(fl_calc "$last - $FL_T_FAULT") s, after the window closed"
		fact "fence failed $n times, last at fault + $(fl_calc "$last - $FL_T_FAULT") s"
	else
		hp=$(cat "$T/fence-hang.pid" 2>/dev/null)
		[ -n "$hp" ] || bad "the hanging fence never ran"
		fl_alive "$hp" && bad "the hanging fence (pid $hp) still runs"
		# From remusd's start of the fence to its end of it.
		st=$(fl_first_line "$FL_BLOG" '-> fencing' "$FL_T_FAULT") ||
			bad "remusd logged no start of fencing"
		k=$(fl_first_line "$FL_BLOG" 'fence.*(timed out|killed)' "$st") ||
			bad "remusd logged no end of the hanging fence"
		# 0.1 s: both stamps are taken by a reader of remusd's stderr.
		fl_ge "$(fl_calc "$k - $st + 0.1")" "$F_S" ||
			bad "fence ended $(fl_calc "$k - $st") s after its start, before F = $F_S s"
		fl_ge "$(fl_calc "$st + $F_S + 0.5")" "$k" ||
			bad "fence killed $(fl_calc "$k - $st") s after its start (F = $F_S s)"
		fact "hanging fence killed $(fl_calc "$k - $st") s after remusd started it (F = $F_S s): $(awk -v t="$k" '$1 == t' "$FL_BLOG" | head -1 | cut -d' ' -f2-)"
	fi
	fl_heal
	;;
statedir-full-activate)
	# The backup's state directory is full when it must activate (the
	# soak's round: a full disk stalled replication past T).  The copy
	# it activates must still be recorded in proc-guest.pid -- the one
	# thing that keeps a later session or a restarted remusd from
	# replicating over the files it runs from -- in the room each
	# session sets aside (proc-activation.reserve).
	fl_statedir_mount 256
	start_all ok
	[ -f "$ST/proc-activation.reserve" ] ||
		bad "the session set no room aside ($ST/proc-activation.reserve)"
	fl_statedir_fill
	fact "state directory full ($(df --output=avail -B1 "$FL_ST" | tail -1 | tr -d ' ') bytes free)"
	echo x >"$FL_ST/probe" 2>/dev/null && bad "the state directory still takes a new file"
	fl_partition both
	expect_failover
	observe "$WINDOW"
	fl_heal
	expect_no_primary_output_after_fault
	grep -q 'activation recorded in the room set aside' "$FL_BLOG" ||
		bad "remusd did not use the room set aside: $(grep -i 'activat' "$FL_BLOG" | tail -2)"
	p=$(fl_b_pid)
	[ -n "$p" ] && fl_alive "$p" || bad "proc-guest.pid does not name the running copy ('$p')"
	fact "activation recorded on a full state directory: proc-guest.pid $p runs"
	;;
statedir-full|statedir-ro)
	fl_statedir_mount 256
	start_all ok
	if [ "$SC" = statedir-full ]; then
		# Full, and then an epoch larger than any before: a proc
		# replica's commit rewrites its files in place, so only a
		# commit that needs more room than the last ones meets the
		# full disk.
		fl_statedir_fill
		js=$(stat -c %s "$ST/proc-journal" 2>/dev/null || echo 0)
		fact "state directory full ($(df --output=avail -B1 "$FL_ST" | tail -1 | tr -d ' ') bytes free); journal $js bytes; the guest's working set grows"
		fl_guest_grow_start
		what='no space|enospc'
	else
		fl_statedir_ro
		what='read-only|erofs'
	fi
	observe "$WINDOW"
	if [ "$SC" = statedir-full ]; then
		fl_guest_grow_stop
		grep -q '^round ' "$T/grow.log" ||
			bad "the guest's working set did not grow: $(tail -1 "$T/grow.log")"
		fact "guest grew: $(grep -c '^round ' "$T/grow.log") rounds of 250 x 15000-byte SETs"
	fi
	grep -Eiq "$what" "$FL_BLOG" || bad "remusd did not report the failure ($what)"
	fact "remusd: $(grep -Ei "$what" "$FL_BLOG" | head -1 | cut -d' ' -f2-)"
	grep -Eiq 'error|stood down|stand' "$FL_RLOG" || bad "remus did not hear the backup stand down"
	fact "remus: $(grep -Ei 'error|stood down|stand' "$FL_RLOG" | head -1 | cut -d' ' -f2-)"
	grep -q 'RECEIVING -> STOOD_DOWN' "$FL_BLOG" || bad "remusd did not stand down"
	# B1: the last good replica is kept, the epoch before the dropped one.
	kept=$(sed -n 's/.*dropping epoch \([0-9]*\), keeping epoch \([0-9]*\)$/\1 \2/p' "$FL_BLOG" | head -1)
	[ -n "$kept" ] && [ $((${kept% *} - 1)) = "${kept#* }" ] ||
		bad "remusd does not keep the epoch before the one it dropped ($kept)"
	[ "$(epoch)" = "${kept#* }" ] || bad "proc-epoch $(epoch), remusd kept ${kept#* }"
	fact "replica kept at epoch ${kept#* } (proc-epoch)"
	[ -s "$T/fence.out" ] && bad "the backup ran its fence on a local error"
	[ -f "$ST/proc-guest.pid" ] && bad "the backup started a guest on a local error"
	expect_primary_serves
	;;
guest-crash)
	start_all ok
	FL_T_FAULT=$(fl_now)
	kill -9 "$GUEST_PID"
	wait_for 10 eval '! fl_alive $R' || bad "remus still runs after its guest died"
	wait "$R"
	rc=$?
	# P5: remus drops the held output, says so, then aborts the link and
	# exits 6.  The abort starts the backup's fence at once, and that
	# fence kills the primary's remus: it may land after the abort and
	# before the exit (SIGKILL, 137).  That is the fence doing its job,
	# not a failure of P5, provided the output was dropped and said so
	# first and it was the fence that killed remus.
	if [ "$rc" = 6 ]; then
		fact "remus exited 6"
	elif [ "$rc" = 137 ] && grep -q "remus $R: killed" "$T/fence.out" 2>/dev/null; then
		grep -q "GUEST_FAILED: guest failed: .*held output dropped" "$FL_RLOG" ||
			bad "remus was fenced before it dropped its held output (P5)"
		fact "remus dropped its held output, told the link, and was fenced (137) before it could exit 6"
	else
		bad "remus exited $rc after its guest died (P5: 6)"
	fi
	expect_failover
	observe "$WINDOW"
	expect_no_primary_output_after_fault
	;;
reconnect)
	start_all ok
	e0=$(epoch)
	# Sample the replica every 20 ms until the new session commits: a
	# committed replica must exist at every moment.
	cleanup_fn 'touch "$T/rs.stop"'
	( while [ ! -e "$T/rs.stop" ] && kill -0 $$ 2>/dev/null; do
		if [ -s "$ST/proc-epoch" ]; then echo "$EPOCHREALTIME ok"
		else echo "$EPOCHREALTIME missing: $(ls "$ST" | tr '\n' ' ')"; fi
		sleep 0.02
	  done >"$T/replica-samples" ) &
	S=$!
	FL_T_FAULT=$(fl_now)
	kill -TERM "$B"
	wait "$B"
	fact "remusd stopped (exit $?) at epoch $e0"
	fl_restart_remusd
	sleep 0.05
	touch "$T/restart.mark"
	# The primary releases at X + T + F + M at the latest, then retries
	# every FL_RECONNECT ms; the new session commits its first epoch.
	wait_for $((FL_T / 1000 + FL_F / 1000 + 15)) \
	    test "$ST/proc-epoch" -nt "$T/restart.mark" ||
		bad "no epoch committed by a new session after the restart"
	fact "new session committed: epoch $(epoch) (was $e0), after fault + $(fl_calc "$(fl_now) - $FL_T_FAULT") s"
	touch "$T/rs.stop"
	wait "$S"
	miss=$(grep -c missing "$T/replica-samples")
	[ "$miss" = 0 ] || bad "no committed replica in $miss of $(wc -l <"$T/replica-samples") samples (remusd restarted at fault + 0, new remusd's log from $(head -1 "$FL_BLOG" | cut -d' ' -f1)): $(grep -m3 missing "$T/replica-samples" | tr '\n' ';')"
	fact "a committed replica at every one of $(wc -l <"$T/replica-samples") samples across the restart"
	fl_alive "$R" || bad "remus exited"
	fl_b_active && bad "the restarted backup activated"
	observe 2
	;;
*)
	bad "unknown scenario"
	;;
esac

T_CHECK=$(fl_now)
expect_clean
echo "time: start $(fl_calc "$T_STARTED - $T_BEGIN") s, load $(fl_calc "$T_LOADED - $T_STARTED") s, fault and observation $(fl_calc "$T_CHECK - $T_LOADED") s, check $(fl_calc "$(fl_now) - $T_CHECK") s"
echo "$SC: survivor $FL_SURVIVOR, $FL_W acknowledged writes and $FL_R reads all there, two_live=$FL_TWO$FACTS"
echo PASS
