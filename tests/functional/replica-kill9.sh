#!/usr/bin/env bash
# replica-kill9.sh -- the backup's replica survives kill -9 of remusd
# (docs/failover.md, "Crash-consistent replica").
#
# 1. ITER (default 20) times: a remus-dirtier guest protected by remus to
#    remusd, whose commits are slowed (REMUS_FAULT=replica-slow-commit) so
#    that a kill lands inside one about half the time; remusd is killed
#    -9 at a random moment (a third of the time during the first, full
#    epoch).  All runs share one state directory, so each run also starts
#    on the replica the previous one left.  After the kill, remusd -n
#    recovers the directory; then the image must be exactly the arena the
#    guest recorded at the epoch proc-epoch names, either of this run's
#    session or, when this session never committed, the previous run's
#    replica, untouched.
# 2. Restart: remusd killed, restarted on the same directory, a new remus
#    connects later; from the kill until the new session's first commit,
#    every ~20 ms remusd is frozen (SIGSTOP: the state a kill -9 there
#    would leave), the directory snapshotted and recovered: it must hold a
#    committed replica, the old session's or the new one's, every time.
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-arena-sum /dev/null

ITER=${ITER:-20}
PAGES=${PAGES:-2000}

# sum_of LOG E [FROM]: the checksum the guest recorded at suspend E of
# the remus session whose lines start at line FROM + 1 of LOG.
sum_of() {
	awk -v e="$2" -v from="${3:-0}" 'NR > from && $1 == e { print $2; exit }' "$1"
}

# session_of DIR: the session that committed DIR's replica.
session_of() {
	awk '{ print $2 }' "$1/proc-session" 2>/dev/null || true
}

# in_commit DIR: a commit is in DIR's journal (retired: a zero header).
in_commit() {
	[ "$(head -c 8 "$1/proc-journal" 2>/dev/null)" = RPJRNL01 ]
}

# Every run is guest "g" to the backup (remus --name g), so each session
# finds the replica the previous one left, in STATEDIR/g.
st="$T/st/g"
mkdir -p "$st"
kills=0 consistent=0 inside=0 finished=0 dropped=0 kept=0
prev_session="" prev_sum=""
for ((i = 1; i <= ITER; i++)); do
	rm -f "$T/sums$i"
	start_guest "g$i" remus-dirtier --pages "$PAGES" --working-set 6000 \
		--arena-size 32M --checksum-log "$T/sums$i"
	gpid=$GUEST_PID
	port=$(pick_port)
	# -t / --timeout 10000 (the backup's T bounds the one agreed): the
	# runs end by kill -9, never by silence.  At load (and under ASan)
	# T = 1 s once let the backup activate after a 1 s stall, and once
	# cost a session whose loss shifted epoch numbers against the
	# guest's suspend count, which the checksums are matched by.
	REMUS_FAULT=replica-slow-commit start "remusd$i" remusd --no-fence --insecure \
		-t 10000 --listen 127.0.0.1:$port -D "$T/st" --guest "g=$GUEST_CMD"
	B=$LAST_PID
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." ||
		fail "run $i: remusd did not listen"
	start "remus$i" remus -i 40 --timeout 10000 --insecure --name g proc:"$gpid" 127.0.0.1:$port
	R=$LAST_PID
	if ((i % 3 == 0)); then
		# Somewhere in the handshake or the full first epoch.
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	else
		wait_for 30 sh -c "[ \"\$(awk '{print \$2}' $st/proc-session 2>/dev/null)\" != '$prev_session' ]" ||
			fail "run $i: the new session committed nothing"
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
		if ((i % 3 == 2)); then
			# Into a commit: as soon as a journal is being
			# written, then 0-19 ms more.
			end=$((SECONDS + 5))
			while ! in_commit "$st" && ((SECONDS < end)); do :; done
			sleep "0.0$((RANDOM % 2))$((RANDOM % 10))"
		fi
	fi
	kill -9 "$B"
	wait "$B" 2>/dev/null || true
	kills=$((kills + 1))
	# Inside a commit: its journal holds one.
	if in_commit "$st"; then
		inside=$((inside + 1))
	fi
	kill -9 "$R" 2>/dev/null || true
	wait "$R" 2>/dev/null || true
	kill -9 "$gpid" 2>/dev/null || true
	remusd --no-fence -n --receive -D "$st" >"$T/recover$i.log" 2>&1 ||
		fail "run $i: remusd -n: $(cat "$T/recover$i.log")"
	grep -q "finished the commit" "$T/recover$i.log" && finished=$((finished + 1))
	grep -q "dropped an incomplete commit" "$T/recover$i.log" && dropped=$((dropped + 1))
	! in_commit "$st" || fail "run $i: journal left after recovery"
	[ ! -e "$st/proc-arena.new" ] || fail "run $i: proc-arena.new left after recovery"
	if [ ! -s "$st/proc-epoch" ]; then
		[ -z "$prev_session" ] || fail "run $i: the previous replica is gone"
		echo "run $i: killed before anything was ever committed"
		consistent=$((consistent + 1))
		continue
	fi
	e=$(cat "$st/proc-epoch")
	sess=$(session_of "$st")
	got=$(remus-arena-sum "$st/proc-arena.img")
	if [ -n "$prev_session" ] && [ "$sess" = "$prev_session" ]; then
		# This session never committed: the previous replica is kept.
		[ "$got" = "$prev_sum" ] ||
			fail "run $i: kept replica of epoch $e changed: $got, was $prev_sum"
		kept=$((kept + 1))
		how="previous replica kept (epoch $e)"
	else
		want=$(sum_of "$T/sums$i" "$e")
		[ -n "$want" ] && [ "$want" = "$got" ] ||
			fail "run $i: epoch $e: replica sum $got, guest recorded ${want:-nothing}"
		how="epoch $e of this session"
	fi
	consistent=$((consistent + 1))
	prev_session=$sess prev_sum=$got
	echo "run $i: $how; $(grep -o 'finished the commit of epoch [0-9]*\|dropped an incomplete commit (epoch [0-9]*)' "$T/recover$i.log" || echo 'no commit in flight')"
done
echo "checked $kills kills: $consistent consistent ($inside inside a commit: $finished finished, $dropped dropped; $kept kept the previous session's replica)"
[ "$consistent" = "$kills" ] || fail "inconsistent replicas"
[ "$inside" -ge 3 ] || fail "only $inside of $kills kills landed inside a commit"

# ---- 2. Restart while the primary reconnects -------------------------------
rst="$T/rst/gr"		# guest gr's replica in remusd -D $T/rst
snap="$T/snap"
start_guest gr remus-dirtier --pages 300 --working-set 3000 --arena-size 32M \
	--checksum-log "$T/sumsr"
gpid=$GUEST_PID
GR=$GUEST_CMD
port=$(pick_port)
start remusdA remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/rst" --guest "gr=$GR"
A=$LAST_PID
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "restart: no listen"
start remusA remus -i 40 --insecure --name gr proc:"$gpid" 127.0.0.1:$port
RA=$LAST_PID
wait_for 30 sh -c "[ \"\$(cat $rst/proc-epoch 2>/dev/null)\" -ge 5 ] 2>/dev/null" ||
	fail "restart: the first session did not reach epoch 5"
old_session=$(session_of "$rst")

# sample PID: freeze PID (if any), snapshot and recover the directory as a
# restart at this moment would find it; prints "old E", "new E", "none"
# or "bad ...".  PID stays frozen until the snapshot is summed: images are
# hard links (recovery only renames them, or redoes into them what the
# live journal redoes anyway); the small files and the journal are
# copies.
sample() {
	local pid=$1 from=$2 e s got want
	[ -n "$pid" ] && kill -STOP "$pid"
	rm -rf "$snap"
	mkdir "$snap"
	for f in proc-arena.img proc-arena.new; do
		[ -e "$rst/$f" ] && ln "$rst/$f" "$snap/$f" 2>/dev/null
	done
	for f in proc-epoch proc-session proc-journal; do
		[ -e "$rst/$f" ] && cp "$rst/$f" "$snap/$f" 2>/dev/null
	done
	if ! remusd --no-fence -n --receive -D "$snap" >"$T/snap.log" 2>&1; then
		echo "bad: remusd -n: $(cat "$T/snap.log")"
		return
	fi
	if [ ! -s "$snap/proc-epoch" ] || [ ! -e "$snap/proc-arena.img" ]; then
		echo none
		return
	fi
	e=$(cat "$snap/proc-epoch")
	s=$(session_of "$snap")
	got=$(remus-arena-sum "$snap/proc-arena.img")
	if [ "$s" = "$old_session" ]; then
		want=$(sum_of "$T/sumsr" "$e" 0)
		[ "$want" = "$got" ] && echo "old $e" || echo "bad: old epoch $e: $got, recorded ${want:-nothing}"
	else
		want=$(sum_of "$T/sumsr" "$e" "$from")
		[ "$want" = "$got" ] && echo "new $e" || echo "bad: new epoch $e: $got, recorded ${want:-nothing}"
	fi
}

kill -9 "$A"
wait "$A" 2>/dev/null || true
kill -9 "$RA" 2>/dev/null || true
wait "$RA" 2>/dev/null || true
from=$(wc -l <"$T/sumsr")	# the new session's lines come after these
samples=0 old=0 new=0
check() {
	local r
	r=$(sample "$1" "$from")
	[ -n "$1" ] && kill -CONT "$1"
	samples=$((samples + 1))
	case "$r" in
	old*) old=$((old + 1)) ;;
	new*) new=$((new + 1)) ;;
	*) fail "restart: sample $samples: no committed replica: $r" ;;
	esac
	LAST_SAMPLE=$r
}
# remusd dead; then restarted (it recovers at start); the primary
# reconnects a little later, as a reconnecting remus would.
for _ in 1 2 3; do check ""; sleep 0.02; done
start remusdB remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/rst" --guest "gr=$GR"
B=$LAST_PID
t0=$(date +%s%N)
started=0
while :; do
	check "$B"
	# The primary comes back 0.5 s after the restart at the earliest,
	# once remusd listens (its recovery and start take longer under
	# the sanitizers, and it is frozen while each sample is taken).
	if [ $started = 0 ] && [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 500 ]; then
		if ss -Htln "sport = :$port" | grep -q .; then
			start remusB remus -i 40 --insecure --name gr proc:"$gpid" 127.0.0.1:$port
			started=1
		elif [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 20000 ]; then
			fail "restart: remusd did not listen within 20 s"
		fi
	fi
	case "$LAST_SAMPLE" in new*) break ;; esac
	[ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 60 ] ||
		fail "restart: the new session did not commit in 60 s"
	sleep 0.02
done
echo "restart: $samples moments sampled from the kill of remusd to the new session's first commit: $samples with a committed replica ($old of the old session, $new of the new one)"
[ "$old" -ge 3 ] || fail "restart: too few samples before the new commit"
echo PASS
