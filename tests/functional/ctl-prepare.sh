#!/usr/bin/env bash
# prepare / perform / finish (docs/control.md) against a real remusd and
# remus with remus-dirtier guests:
#   - prepare returns a cookie and the URI; perform (remus --cookie) is
#     admitted; finish reports the protected session and its epoch;
#   - while a prepare waits, a session for that guest without the cookie,
#     or with a wrong one, is refused before anything is committed (remus
#     is told why), and the prepare still stands;
#   - a prepare never performed expires: status stops listing it, finish
#     says so, and a session without a cookie is accepted again;
#   - finish of a prepared session that failed (the backup stood down on a
#     corrupt epoch) reports the failure;
#   - a switchover as prepare (--switchover) / perform (remusctl switchover
#     COOKIE on remus) / finish: refused for a guest nobody protects here;
#     a perform without the cookie, with a wrong one or a malformed one is
#     refused and leaves the protection running (the guest alive, epochs
#     committed again, the prepare still waiting); the real perform
#     switches over; finish reports the guest running here (its name and
#     pid) -- and, for a second guest whose activated copy was killed,
#     that it no longer runs.
. "$(dirname "$0")/functions.sh"
requires_root
requires jq --version

RD=$T/rd
mkdir -p "$RD"
port=$(pick_port)
# The guests' names (HELLO's, the prepare's) are g1..g3, each configured
# here with the command start_guest runs below.
CMD1=$(guest_cmd g1 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M \
	--checksum-log "$T/g1.sums")
CMD2=$(guest_cmd g2 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M)
CMD3=$(guest_cmd g3 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M)
CMD4=$(guest_cmd g4 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M \
	--checksum-log "$T/g4.sums")
CMD5=$(guest_cmd g5 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M)
start remusd remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st" \
	--run-dir "$RD" --guest "g1=$CMD1" --guest "g2=$CMD2" --guest "g3=$CMD3" \
	--guest "g4=$CMD4" --guest "g5=$CMD5"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
ctl() { remusctl --run-dir "$RD" -b "$@"; }

# 1. prepare, perform, finish.
start_guest g1 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M \
	--checksum-log "$T/g1.sums"
G1=$GUEST_PID
ctl --json prepare g1 >"$T/prep1.json" || fail "prepare: $(cat "$T/prep1.json")"
jq -e --arg p "127.0.0.1:$port" '.ok and (.cookie | test("^[0-9a-f]{32}$")) and
	.uri == $p and .expires_in_ms == 60000' "$T/prep1.json" >/dev/null ||
	fail "prepare answer: $(cat "$T/prep1.json")"
C1=$(jq -r .cookie "$T/prep1.json")
rc=0
ctl finish "$C1" >"$T/finish-early.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q "not performed yet" "$T/finish-early.out" ||
	fail "finish before perform: rc $rc: $(cat "$T/finish-early.out")"
rc=0
remus --cookie nothex --insecure --name g1 proc:$G1 127.0.0.1:$port >"$T/badck.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "remus --cookie nothex exited $rc, want 1"

# A session for the prepared guest without its cookie is refused.
start remus-nock remus -i 50 --insecure --reconnect-interval 0 --name g1 proc:$G1 127.0.0.1:$port
RN=$LAST_PID
rc=0
wait $RN || rc=$?
grep -q "must bring its cookie" "$T/remus-nock.log" ||
	fail "session without the cookie: remus exited $rc: $(tail -3 "$T/remus-nock.log")"
echo "no cookie: refused (remus exited $rc): $(grep -o 'guest g1 was prepared[^;]*' "$T/remus-nock.log" | head -1)"
# A wrong cookie too.
start remus-wrong remus -i 50 --insecure --reconnect-interval 0 \
	--cookie 00112233445566778899aabbccddeeff --name g1 proc:$G1 127.0.0.1:$port
RW=$LAST_PID
rc=0
wait $RW || rc=$?
grep -q "unknown or expired cookie" "$T/remus-wrong.log" ||
	fail "wrong cookie: remus exited $rc: $(tail -3 "$T/remus-wrong.log")"
ctl --json status | jq -e --arg g g1 '.prepared | map(select(.guest == $g and .state == "waiting")) | length == 1' >/dev/null ||
	fail "the prepare did not survive the refused sessions: $(ctl --json status)"

# The perform.
uri=$(jq -r .uri "$T/prep1.json")
start remus1 remus -i 50 --insecure --run-dir "$RD" --cookie "$C1" --name g1 proc:$G1 "$uri"
R1=$LAST_PID
wait_for 30 sh -c "remusctl --run-dir '$RD' -b --json status | jq -e --arg g g1 '.sessions[] | select(.guest == \$g and .state == \"RECEIVING\") | .committed_epoch >= 3'" ||
	fail "the performed session did not commit"
ctl --json finish "$C1" >"$T/finish1.json" || fail "finish: $(cat "$T/finish1.json")"
jq -e --arg g g1 '.ok and .guest == $g and .state == "RECEIVING" and .committed_epoch >= 3' \
	"$T/finish1.json" >/dev/null || fail "finish answer: $(cat "$T/finish1.json")"
rc=0
ctl finish "$C1" >/dev/null 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "a second finish exited $rc, want 3"
echo "prepare/perform/finish: $(jq -c '{guest,state,committed_epoch}' "$T/finish1.json")"
remusctl --run-dir "$RD" -g proc:$G1 stop >/dev/null || fail "stop"
wait $R1 || fail "remus exited $? after stop"

# 2. A prepare nobody performs expires.
start_guest g2 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
G2=$GUEST_PID
ctl --json prepare g2 1500 >"$T/prep2.json" || fail "prepare 2"
C2=$(jq -r .cookie "$T/prep2.json")
ctl --json status | jq -e --arg g g2 '.prepared | map(select(.guest == $g)) | length == 1' >/dev/null ||
	fail "status does not list the prepare"
wait_for 10 sh -c "remusctl --run-dir '$RD' -b --json status | jq -e --arg g g2 '.prepared | map(select(.guest == \$g)) | length == 0'" ||
	fail "the prepare did not expire"
grep -q "prepare for g2 expired unused" "$T/remusd.log" || fail "no line about the expiry"
rc=0
ctl finish "$C2" >"$T/finish2.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q "expired" "$T/finish2.out" || fail "finish after expiry: $(cat "$T/finish2.out")"
# As it was before: a session without a cookie is accepted.
start remus2 remus -i 50 --insecure --run-dir "$RD" --name g2 proc:$G2 127.0.0.1:$port
R2=$LAST_PID
wait_for 30 sh -c "remusctl --run-dir '$RD' -b --json status | jq -e --arg g g2 '.sessions[] | select(.guest == \$g) | .committed_epoch >= 2'" ||
	fail "a session after the expiry was not accepted"
remusctl --run-dir "$RD" -g proc:$G2 stop >/dev/null || fail "stop 2"
wait $R2 || fail "remus 2 exited $?"
echo "unused prepare expired after 1.5 s; a plain session is accepted again"

# 3. finish of a prepared session that failed: the backup stands down on
# a corrupt epoch (REMUS_FAULT=stream-corrupt).
start_guest g3 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
G3=$GUEST_PID
C3=$(ctl --json prepare g3 | jq -r .cookie)
start remus3 env REMUS_FAULT=stream-corrupt REMUS_FAULT_EPOCH=4 \
	remus -i 50 --insecure --reconnect-interval 0 --run-dir "$RD" --cookie "$C3" \
	--name g3 proc:$G3 127.0.0.1:$port
R3=$LAST_PID
rc=0
wait $R3 || rc=$?
rc=0
ctl finish "$C3" >"$T/finish3.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q "session failed: stood down" "$T/finish3.out" ||
	fail "finish of a failed session: rc $rc: $(cat "$T/finish3.out")"
echo "failed session: $(cat "$T/finish3.out")"

# 4. A switchover as prepare / perform / finish.
receiving() {	# GUEST MIN_EPOCH: a session of GUEST receives, at >= MIN_EPOCH
	remusctl --run-dir "$RD" -b --json status | jq -e --arg g "$1" --argjson e "$2" \
		'[.sessions[] | select(.guest == $g and .state == "RECEIVING" and .committed_epoch >= $e)] | length == 1' >/dev/null
}
start_guest g4 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M \
	--checksum-log "$T/g4.sums"
G4=$GUEST_PID
rc=0
ctl prepare --switchover g4 >"$T/prep-none.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q "no session receives guest g4" "$T/prep-none.out" ||
	fail "prepare --switchover of an unprotected guest: rc $rc: $(cat "$T/prep-none.out")"
start remus4 remus -i 50 --insecure --run-dir "$RD" --reconnect-interval 300 \
	--name g4 proc:$G4 127.0.0.1:$port
R4=$LAST_PID
S4=$RD/remus-proc_$G4.sock
wait_for 30 receiving g4 3 || fail "g4: no epochs"
ctl --json prepare --switchover g4 >"$T/prep4.json" || fail "prepare --switchover: $(cat "$T/prep4.json")"
jq -e '.ok and .switchover == true and (.cookie | test("^[0-9a-f]{32}$"))' "$T/prep4.json" >/dev/null ||
	fail "prepare --switchover answer: $(cat "$T/prep4.json")"
C4=$(jq -r .cookie "$T/prep4.json")
ctl prepare --switchover g4 >/dev/null 2>&1 && fail "a second prepare of g4 was taken"
rc=0
ctl finish "$C4" >"$T/finish4-early.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q "not performed yet" "$T/finish4-early.out" ||
	fail "finish before the switchover: rc $rc: $(cat "$T/finish4-early.out")"

# Refused performs leave both sides as they were: the guest resumes on
# the primary, remus protects it again (a new session commits), and the
# prepare still waits.
refused_perform() {	# WHAT PATTERN [COOKIE]
	local what=$1 pat=$2 rc=0 n
	shift 2
	n=$(grep -c "session over" "$T/remusd.log")
	remusctl -S "$S4" switchover "$@" >"$T/so-$what.out" 2>&1 || rc=$?
	[ $rc -eq 3 ] && grep -q "$pat" "$T/so-$what.out" ||
		fail "switchover ($what): rc $rc, want 3 and \"$pat\": $(cat "$T/so-$what.out")"
	kill -0 "$G4" 2>/dev/null || fail "switchover ($what): the primary's guest is gone"
	[ ! -e "$T/st/g4/proc-guest.pid" ] || fail "switchover ($what): the backup activated"
	if [ "$what" != malformed ]; then	# (refused by remus: no session ended)
		wait_for 20 sh -c "[ \$(grep -c 'session over' '$T/remusd.log') -gt $n ]" ||
			fail "switchover ($what): the backup's session did not end"
	fi
	wait_for 30 sh -c "remusctl -S '$S4' --json status | jq -e '.state == \"PROTECTED\"'" ||
		fail "switchover ($what): not protected again: $(remusctl -S "$S4" --json status)"
	wait_for 30 receiving g4 3 || fail "switchover ($what): no epochs committed again"
	ctl --json status | jq -e '.prepared | map(select(.guest == "g4" and .state == "waiting" and .switchover)) | length == 1' >/dev/null ||
		fail "switchover ($what): the prepare did not stay: $(ctl --json status)"
	echo "refused perform ($what): $(cat "$T/so-$what.out"); guest alive, protected again"
}
refused_perform malformed "32 hex digits" nothex
refused_perform none "must bring its cookie"
refused_perform wrong "unknown or expired cookie" 00112233445566778899aabbccddeeff
# The perform.
remusctl -S "$S4" --json switchover "$C4" >"$T/so4.json" || fail "switchover: $(cat "$T/so4.json")"
jq -e '.ok and .epoch > 1 and .downtime_us > 0' "$T/so4.json" >/dev/null || fail "switchover: $(cat "$T/so4.json")"
rc=0
wait $R4 || rc=$?
[ $rc -eq 0 ] || fail "remus exited $rc after the switchover"
wait_for 10 sh -c "! kill -0 $G4 2>/dev/null" || fail "the primary's copy still runs"
ctl --json finish "$C4" >"$T/finish4.json" || fail "finish: $(cat "$T/finish4.json")"
pid=$(cat "$T/st/g4/proc-guest.pid")
jq -e --argjson pid "$pid" --argjson e "$(jq .epoch "$T/so4.json")" '.ok and .guest == "g4" and
	.state == "switched over" and .running_here == true and .name == "g4" and
	.pid == $pid and .committed_epoch == $e' "$T/finish4.json" >/dev/null ||
	fail "finish after the switchover: $(cat "$T/finish4.json") (proc-guest.pid $pid)"
kill -0 "$pid" || fail "the activated guest does not run"
ctl finish "$C4" >/dev/null 2>&1 && fail "a second finish was answered"
kill -9 "$pid"
e=$(replica_matches "$T/st/g4" "$T/g4.sums") || fail "after the switchover: $e"
echo "switchover by prepare/perform/finish: $(jq -c '{guest,state,committed_epoch,name,pid}' "$T/finish4.json"); downtime $(jq .downtime_ms "$T/so4.json") ms; replica == guest's arena at epoch $e"

# 5. finish after a switchover whose guest no longer runs says so.
start_guest g5 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
G5=$GUEST_PID
start remus5 remus -i 50 --insecure --run-dir "$RD" --name g5 proc:$G5 127.0.0.1:$port
R5=$LAST_PID
wait_for 30 receiving g5 3 || fail "g5: no epochs"
C5=$(ctl --json prepare --switchover g5 | jq -r .cookie)
remusctl -S "$RD/remus-proc_$G5.sock" switchover "$C5" >/dev/null || fail "switchover g5"
wait $R5 || fail "remus 5 exited $?"
pid=$(cat "$T/st/g5/proc-guest.pid")
kill -9 "$pid"
wait_for 10 sh -c "! kill -0 $pid 2>/dev/null" || fail "g5's activated copy did not die"
rc=0
ctl finish "$C5" >"$T/finish5.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q "switched over at epoch [0-9]*, but its copy here (pid $pid) no longer runs" "$T/finish5.out" ||
	fail "finish of a switched-over guest that died: rc $rc: $(cat "$T/finish5.out")"
echo "dead switched-over guest: $(cat "$T/finish5.out")"

# 6. prepare's refusals, each one line (exit 3) and nothing reserved: a
# guest prepared already, a name that is empty, too long (64 is
# STREAM_NAME_LEN) or not printable, a bad ttl; and the limit of 64
# outstanding prepares.
prep_refused() {	# PATTERN ARGS...
	local pat=$1 rc=0
	shift
	ctl prepare "$@" >"$T/pr.out" 2>&1 || rc=$?
	[ $rc -eq 3 ] && grep -q -- "$pat" "$T/pr.out" ||
		fail "prepare $*: rc $rc, want 3 and \"$pat\": $(cat "$T/pr.out")"
	echo "prepare refused: $(cat "$T/pr.out")"
}
n0=$(ctl --json status | jq '.prepared | length')
ctl prepare dup >/dev/null || fail "prepare dup"
prep_refused "guest dup is prepared already" dup
prep_refused 'want "guest"' ""
prep_refused 'want "guest"' "$(head -c 65 /dev/zero | tr '\0' n)"
ctl prepare "$(head -c 64 /dev/zero | tr '\0' m)" >/dev/null || fail "a 64-character name was refused"
prep_refused "not printable ASCII" "$(printf 'g\tx')"
rc=0
remusctl --run-dir "$RD" -b prepare g9 0 >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "prepare ttl 0: remusctl exited $rc, want 1 (usage)"
out=$(python3 - "$RD/remusd.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = s.makefile('rwb')
for req in (b'{"verb":"prepare","guest":"g9","ttl_ms":0}',
            b'{"verb":"prepare","guest":"g9","ttl_ms":"5"}',
            b'{"verb":"prepare","guest":"g9","switchover":1}'):
    f.write(req + b'\n'); f.flush()
    print(f.readline().decode().rstrip())
PY
)
echo "$out" | sed -n 1p | grep -q 'ttl_ms wants 1\.\.3600000' || fail "ttl_ms 0: $out"
echo "$out" | sed -n 2p | grep -q 'ttl_ms wants 1\.\.3600000' || fail "ttl_ms \"5\": $out"
echo "$out" | sed -n 3p | grep -q 'switchover wants true or false' || fail "switchover 1: $out"
ctl --json status | jq -e --argjson n "$n0" '.prepared | length == $n + 2' >/dev/null ||
	fail "refused prepares were reserved: $(ctl --json status | jq -c .prepared)"
# Up to 64 at once: fill to the limit, the next is refused.
n=$(ctl --json status | jq '.prepared | length')
i=0
while [ $((n + i)) -lt 64 ]; do
	ctl prepare "lim$i" >/dev/null || fail "prepare lim$i (with $((n + i)) outstanding)"
	i=$((i + 1))
done
prep_refused "64 prepares outstanding" lim-over
ctl --json status | jq -e '.prepared | length == 64' >/dev/null || fail "not 64 outstanding"
echo "prepare limit: 64 outstanding, the 65th refused"
echo PASS
