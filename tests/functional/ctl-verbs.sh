#!/usr/bin/env bash
# The control sockets (docs/control.md) against real remus and remusd
# processes and a remus-dirtier guest: status (human and --json) on both,
# capabilities checked against the build, the socket's mode and who may
# use it, the protocol's limits (bad JSON, a line too long, an unknown
# verb, too many clients, an idle client dropped) while epochs go on,
# reprotect to a second remusd (the first keeps its replica, not
# activated), stop (END: replica == the guest's arena), and a manual
# failover through remusd's socket (the guest activated on the backup).
. "$(dirname "$0")/functions.sh"
requires_root
requires jq --version
requires python3 -c 'import socket'

RD=$T/rd
mkdir -p "$RD"

listen() {	# name port statedir [flags] (default --no-fence)
	local name=$1 port=$2 dir=$3
	shift 3
	case " $* " in *" --fence "*) ;; *) set -- --no-fence "$@" ;; esac
	start "$name" remusd --insecure --listen 127.0.0.1:$port \
		-D "$dir" --guest "g1=$CMD1" --guest "g2=$CMD2" "$@"
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." ||
		fail "$name did not listen"
}

# raw LINE...: send each line on one connection to remus's socket, print
# each answer line (python: bash has no unix sockets).
raw() {
	python3 - "$SOCK" "$@" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile('rwb')
for line in sys.argv[2:]:
    f.write(line.encode() + b'\n'); f.flush()
    print(f.readline().decode().rstrip('\n'))
EOF
}

# The guests g1 and g2, configured on both remusds with the commands
# start_guest runs below; remus names them so (--name).
CMD1=$(guest_cmd g1 remus-dirtier --pages 200 --working-set 2000 --arena-size 16M \
	--checksum-log "$T/g1.sums")
CMD2=$(guest_cmd g2 remus-dirtier --pages 200 --working-set 2000 --arena-size 16M \
	--checksum-log "$T/g2.sums")
CMD3=$(guest_cmd g3 remus-dirtier --pages 200 --working-set 2000 --arena-size 16M \
	--checksum-log "$T/g3.sums")
p1=$(pick_port)
listen remusd-a $p1 "$T/st-a" --run-dir "$RD"
test -S "$RD/remusd.sock" || fail "remusd made no socket in --run-dir"
start_guest g1 remus-dirtier --pages 200 --working-set 2000 --arena-size 16M \
	--checksum-log "$T/g1.sums"
G1=$GUEST_PID
start remus1 remus -i 50 --insecure --run-dir "$RD" --reconnect-interval 300 \
	--name g1 proc:$G1 127.0.0.1:$p1
R1=$LAST_PID
SOCK=$RD/remus-proc_$G1.sock
wait_for 30 test -s "$T/st-a/g1/proc-epoch" || fail "no epoch committed"
test -S "$SOCK" || fail "remus made no socket at $SOCK"

# The socket is the owner's alone: mode 0600, and another user is refused.
mode=$(stat -c %a "$SOCK")
[ "$mode" = 600 ] || fail "socket mode $mode, want 600"
[ "$(stat -c %a "$RD/remusd.sock")" = 600 ] || fail "remusd's socket is not 0600"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$REMUS_BUILD/bin/remusctl" -S "$SOCK" status >"$T/nobody.out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "another user's remusctl exited $rc, want 2: $(cat "$T/nobody.out")"
echo "socket mode 0600; user nobody: $(cat "$T/nobody.out")"

# status, as JSON and as a table.
sleep 1
remusctl --run-dir "$RD" -g proc:$G1 --json status >"$T/status.json" ||
	fail "status failed"
jq -e '.ok == true and .role == "primary" and .state == "PROTECTED" and
	.phase == "RUNNING" and .epoch >= 5 and .acked >= .epoch - 2 and
	.ack_lag_epochs <= 2 and .pause_us_p50 > 0 and .pause_us_p99 >= .pause_us_p50 and
	.bytes_per_epoch > 0 and .rate_hz > 0 and .last_ack_age_ms != null and
	.held_output.packets >= 0 and .disk_sync == "none" and
	.full_checkpoint == null and .disk_sync_disks == [] and
	(.guest | test("^proc:"))' "$T/status.json" >/dev/null ||
	fail "status JSON: $(cat "$T/status.json")"
echo "status: $(jq -c '{state,epoch,acked,rate_hz,pause_us_p50,pause_us_p99,bytes_per_epoch,last_ack_age_ms}' "$T/status.json")"
remusctl -S "$SOCK" status >"$T/status.txt" || fail "status (table) failed"
grep -q '^state  *PROTECTED$' "$T/status.txt" || fail "status table: $(cat "$T/status.txt")"
grep -q '^pause p99  *[0-9][0-9]* us$' "$T/status.txt" || fail "status table: no pause p99"

# remusd lists its session.
remusctl --run-dir "$RD" -b --json status >"$T/bstatus.json" || fail "remusd status failed"
jq -e --arg g g1 '.role == "backup" and (.sessions | length) == 1 and
	.sessions[0].guest == $g and .sessions[0].state == "RECEIVING" and
	.sessions[0].committed_epoch >= 1 and .sessions[0].last_heartbeat_age_ms < 1000' \
	"$T/bstatus.json" >/dev/null || fail "remusd status: $(cat "$T/bstatus.json")"
remusctl --run-dir "$RD" -b status | grep -q "^g1 .*RECEIVING" ||
	fail "remusd status table"
echo "remusd status: $(jq -c '.sessions[0]' "$T/bstatus.json")"

# capabilities: what this build has.  The Xen driver is in it exactly when
# remus does not say "this build has no Xen driver".
remusctl -S "$SOCK" --json capabilities >"$T/caps.json" || fail "capabilities"
jq -e '.guest_drivers | index("proc")' "$T/caps.json" >/dev/null ||
	fail "capabilities: no proc driver: $(cat "$T/caps.json")"
if remus -b xen:no-such-domain 2>&1 | grep -q "no Xen driver"; then
	jq -e '.guest_drivers | index("xen") | not' "$T/caps.json" >/dev/null ||
		fail "capabilities claims xen, the build has none"
else
	jq -e '.guest_drivers | index("xen")' "$T/caps.json" >/dev/null ||
		fail "capabilities lacks xen, the build has it"
fi
remusctl --run-dir "$RD" -b --json capabilities >"$T/bcaps.json" ||
	fail "remusd capabilities"
# The verb answers exactly what --capabilities prints (plus "ok").
jq -S 'del(.ok)' "$T/caps.json" >"$T/caps.verb"
remus --capabilities | jq -S . >"$T/caps.flag"
cmp -s "$T/caps.verb" "$T/caps.flag" ||
	fail "remus: capabilities verb != --capabilities: $(diff "$T/caps.verb" "$T/caps.flag")"
jq -S 'del(.ok)' "$T/bcaps.json" >"$T/bcaps.verb"
remusd --capabilities | jq -S . >"$T/bcaps.flag"
cmp -s "$T/bcaps.verb" "$T/bcaps.flag" ||
	fail "remusd: capabilities verb != --capabilities: $(diff "$T/bcaps.verb" "$T/bcaps.flag")"
# Every verb control_verbs lists is one the socket knows, and the lists
# are each program's own.
for v in $(jq -r '.control_verbs[]' "$T/caps.json"); do
	[ "$v" = stop ] || [ "$v" = switchover ] && continue	# (ends the run)
	out=$(raw "{\"verb\":\"$v\"}")
	echo "$out" | jq -e '(.error // "") | test("unknown verb") | not' >/dev/null ||
		fail "remus lists $v but does not know it: $out"
done
for v in $(jq -r '.control_verbs[]' "$T/bcaps.json"); do
	[ "$v" = failover ] && continue				# (activates)
	out=$(SOCK=$RD/remusd.sock raw "{\"verb\":\"$v\"}")
	echo "$out" | jq -e '(.error // "") | test("unknown verb") | not' >/dev/null ||
		fail "remusd lists $v but does not know it: $out"
done
jq -e '.control_verbs == ["status","stop","switchover","reprotect","capabilities"]' \
	"$T/caps.json" >/dev/null || fail "remus control_verbs: $(jq -c .control_verbs "$T/caps.json")"
jq -e '.control_verbs == ["status","failover","prepare","finish","capabilities"]' \
	"$T/bcaps.json" >/dev/null || fail "remusd control_verbs: $(jq -c .control_verbs "$T/bcaps.json")"
echo "capabilities: $(jq -c '{guest_drivers,transports,tls}' "$T/caps.json")"

# The protocol's edges, each answered in one line, none fatal.
out=$(raw 'not json' '{"verb": 3}' '{"verb":"frobnicate"}' '{"verb":"status"}')
echo "$out" | sed -n 1p | jq -e '.ok == false and (.error | test("JSON"))' >/dev/null ||
	fail "bad JSON: $out"
echo "$out" | sed -n 2p | jq -e '.ok == false and (.error | test("verb"))' >/dev/null ||
	fail "non-string verb: $out"
echo "$out" | sed -n 3p | jq -e '.ok == false and (.error | test("unknown verb"))' >/dev/null ||
	fail "unknown verb: $out"
echo "$out" | sed -n 4p | jq -e '.ok == true and .epoch > 0' >/dev/null ||
	fail "status after errors on one connection: $out"
long=$(head -c 5000 /dev/zero | tr '\0' x)
out=$(raw "$long") || true
echo "$out" | jq -e '.ok == false and (.error | test("longer than 4096"))' >/dev/null ||
	fail "long line: $out"
rc=0
remusctl -S "$SOCK" reprotect >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "reprotect without a host exited $rc, want 1"
rc=0
remusctl -S "$SOCK" failover >"$T/fo-primary.out" 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "failover on remus exited $rc, want 3"

# Eight idle clients fill the socket: a ninth is told it is busy, epochs
# go on meanwhile, and after the deadline (5 s) the idle ones are gone.
python3 - "$SOCK" "$T" <<'EOF' || fail "client limit / deadline"
import json, socket, sys, time
path, t = sys.argv[1], sys.argv[2]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s
idle = [conn() for _ in range(8)]
time.sleep(0.3)
s = conn()
try:    # remus answers a refused client at once and closes: the
        # request may meet a closed socket, the answer is still there
    s.sendall(b'{"verb":"status"}\n')
except (BrokenPipeError, ConnectionResetError):
    pass
a = json.loads(s.makefile().readline())
assert a["ok"] is False and "busy" in a["error"], a
t0 = time.time()
for c in idle:              # each is closed by remus at its deadline
    assert c.recv(1) == b"", "idle client got data"
waited = time.time() - t0
s = conn()
s.sendall(b'{"verb":"status"}\n')
a = json.loads(s.makefile().readline())
assert a["ok"] is True, a
print("ninth client: busy; idle clients dropped after %.1f s; then status epoch %d"
      % (waited, a["epoch"]))
EOF
e1=$(jq .epoch "$T/status.json")
e2=$(remusctl -S "$SOCK" --json status | jq .epoch)
[ "$e2" -gt $((e1 + 20)) ] || fail "epochs stalled while clients idled: $e1 -> $e2"

# reprotect: a second remusd becomes the backup; the first gets END (keeps
# its replica, not activated).
p2=$(pick_port)
# This one fences (a stand-in agent that only records it was asked).
listen remusd-b $p2 "$T/st-b" --ctl-socket "$T/remusd-b.sock" \
	--fence "echo \"\$REMUS_FENCE_GUEST\" >>'$T/fenced'"
# HOST is a URI as on remus's command line, with its refusals, each one
# line and nothing changed: an unknown scheme (the URI parser's line),
# tls:// without credentials (this remus runs --insecure), ssh://.
refused() {	# HOST PATTERN
	local rc=0
	remusctl -S "$SOCK" reprotect "$1" >"$T/rp.out" 2>&1 || rc=$?
	[ $rc -eq 3 ] || fail "reprotect $1 exited $rc, want 3: $(cat "$T/rp.out")"
	grep -q "$2" "$T/rp.out" || fail "reprotect $1: $(cat "$T/rp.out")"
	echo "reprotect $1: $(cat "$T/rp.out")"
}
refused ftp://x/ 'unknown scheme "ftp"'
refused tls://127.0.0.1:$p2/ 'tls:// needs --psk-file or --tls-creds'
refused ssh://127.0.0.1/ 'restart remus with the ssh:// URI'
refused tcp://127.0.0.1:99999/ 'port 99999'
remusctl -S "$SOCK" --json status | jq -e --arg b "tcp:127.0.0.1:$p1" \
	'.state == "PROTECTED" and .backup == $b' >/dev/null ||
	fail "a refused reprotect changed something: $(remusctl -S "$SOCK" --json status)"
grep -q "backup is now" "$T/remus1.log" && fail "a refused reprotect was logged as done"
remusctl -S "$SOCK" --json reprotect tcp://127.0.0.1:$p2/ >"$T/reprotect.json" ||
	fail "reprotect: $(cat "$T/reprotect.json")"
# The answer already names the new backup (connected or not).
jq -e --arg b "tcp:127.0.0.1:$p2" '.backup == $b' "$T/reprotect.json" >/dev/null ||
	fail "reprotect answer: $(cat "$T/reprotect.json")"
grep -q "backup is now 127.0.0.1:$p2: " "$T/remus1.log" ||
	fail "reprotect: $(grep 'backup is now' "$T/remus1.log")"
wait_for 20 grep -q "session over: clean end" "$T/remusd-a.log" ||
	fail "the old backup did not get a clean END"
wait_for 30 test -s "$T/st-b/g1/proc-epoch" || fail "no epoch committed on the new backup"
wait_for 20 sh -c "remusctl -S '$SOCK' --json status | jq -e '.state == \"PROTECTED\" and (.backup | test(\":$p2\"))'" ||
	fail "status after reprotect: $(remusctl -S "$SOCK" --json status)"
[ ! -e "$T/st-a/g1/proc-guest.pid" ] || fail "the old backup activated the guest"
remusctl -S "$T/remusd-b.sock" --json status | jq -e --arg g g1 \
	'.sessions[0].guest == $g' >/dev/null || fail "new remusd does not list the guest"
grep -q "reconnect attempt [0-9]* failed" "$T/remus1.log" &&
	fail "reconnects failed after the reprotect: $(grep -m3 'reconnect attempt' "$T/remus1.log")"
echo "reprotect: now protected by tcp://127.0.0.1:$p2/; old backup ended cleanly"

# stop: as SIGTERM (END; remus exits 0; the replica is the guest's arena).
remusctl -S "$SOCK" --json stop >"$T/stop.json" || fail "stop failed"
jq -e '.ok and .result == "stopped"' "$T/stop.json" >/dev/null || fail "stop: $(cat "$T/stop.json")"
rc=0
wait $R1 || rc=$?
[ $rc -eq 0 ] || fail "remus exited $rc after stop"
wait_for 10 grep -q "session over: clean end" "$T/remusd-b.log" || fail "no clean END after stop"
[ ! -e "$SOCK" ] || fail "remus left its socket behind"
kill -9 $G1
e=$(replica_matches "$T/st-b/g1" "$T/g1.sums") || fail "after stop: $e"
echo "stop: remus exited 0, replica == guest's arena at epoch $e"

# failover through remusd's socket: the backup fences (--no-fence here)
# and activates from its last committed epoch; remus holds, then releases.
start_guest g2 remus-dirtier --pages 200 --working-set 2000 --arena-size 16M \
	--checksum-log "$T/g2.sums"
G2=$GUEST_PID
start remus2 remus -i 50 --insecure --run-dir "$RD" --reconnect-interval 0 \
	--name g2 proc:$G2 127.0.0.1:$p2
R2=$LAST_PID
# (ask remusd: its status names the session.)
wait_for 30 sh -c "remusctl -S '$T/remusd-b.sock' --json status | jq -e --arg g g2 '.sessions[] | select(.guest == \$g) | .committed_epoch >= 5'" ||
	fail "second guest: no epochs"
rc=0
remusctl -S "$T/remusd-b.sock" failover nosuchguest >/dev/null 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "failover of an unknown guest exited $rc, want 3"
remusctl -S "$T/remusd-b.sock" failover g2 || fail "failover refused"
wait_for 20 test -s "$T/st-b/g2/proc-guest.pid" || fail "the backup did not activate"
grep -qx g2 "$T/fenced" || fail "failover did not go through the fence: $(cat "$T/fenced" 2>&1)"
rc=0
wait $R2 || rc=$?
[ $rc -eq 4 ] || fail "remus exited $rc after the backup took over, want 4"
kill -9 $G2
e=$(replica_matches "$T/st-b/g2" "$T/g2.sums") || fail "after failover: $e"
echo "failover: fenced ($(cat "$T/fenced")), guest activated on the backup from epoch $e (pid $(cat "$T/st-b/g2/proc-guest.pid")); remus exited 4"

# reprotect tls://: with credentials (remus --psk-file), to a remusd that
# serves TLS; here the same remusd again (a new session, the same
# checks: END, reconnect over TLS, epochs commit).
sh "$REMUS_SRC/tests/tls-creds.sh" "$T/creds" >"$T/creds.log" 2>&1 ||
	fail "tls-creds.sh: $(cat "$T/creds.log")"
p3=$(pick_port)
start remusd-c remusd --psk-file "$T/creds/psk-server" --listen 127.0.0.1:$p3 \
	-D "$T/st-c" --no-fence --ctl-socket "$T/remusd-c.sock" --guest "g3=$CMD3" \
	--guest-peer g3=primary
wait_for 10 sh -c "ss -Htln 'sport = :$p3' | grep -q ." || fail "remusd-c did not listen"
start_guest g3 remus-dirtier --pages 200 --working-set 2000 --arena-size 16M \
	--checksum-log "$T/g3.sums"
G3=$GUEST_PID
start remus3 remus -i 50 --psk-file "$T/creds/psk-client" --run-dir "$RD" \
	--reconnect-interval 300 --name g3 proc:$G3 tls://127.0.0.1:$p3/
R3=$LAST_PID
SOCK=$RD/remus-proc_$G3.sock
wait_for 30 test -s "$T/st-c/g3/proc-epoch" || fail "g3: no epoch committed over TLS"
remusctl -S "$SOCK" --json reprotect tls://127.0.0.1:$p3/ >"$T/reprotect3.json" ||
	fail "reprotect tls://: $(cat "$T/reprotect3.json")"
wait_for 20 grep -q "session over: clean end" "$T/remusd-c.log" ||
	fail "reprotect tls://: the old session did not end cleanly"
wait_for 30 sh -c "[ \$(grep -c 'TLS 1.3, authenticated' '$T/remus3.log') -ge 2 ]" ||
	fail "reprotect tls://: no second TLS session: $(grep TLS "$T/remus3.log")"
wait_for 30 sh -c "remusctl -S '$T/remusd-c.sock' --json status | jq -e '[.sessions[] | select(.state == \"RECEIVING\" and .committed_epoch >= 3)] | length == 1'" ||
	fail "reprotect tls://: no new session committing: $(remusctl -S "$T/remusd-c.sock" --json status)"
remusctl -S "$SOCK" --json status | jq -e --arg b "tcp:127.0.0.1:$p3" \
	'.state == "PROTECTED" and .backup == $b' >/dev/null ||
	fail "reprotect tls://: $(remusctl -S "$SOCK" --json status)"
remusctl -S "$SOCK" stop >/dev/null || fail "stop remus3"
rc=0
wait $R3 || rc=$?
[ $rc -eq 0 ] || fail "remus3 exited $rc after stop"
kill -9 $G3
e=$(replica_matches "$T/st-c/g3" "$T/g3.sums") || fail "after reprotect tls://: $e"
echo "reprotect tls://127.0.0.1:$p3/ (PSK): a second TLS session, replica == guest's arena at epoch $e"
echo PASS
