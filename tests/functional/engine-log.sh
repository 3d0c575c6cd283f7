#!/usr/bin/env bash
# Where log lines go (common/log.c): stderr with a UTC timestamp and the
# priority when someone reads stderr; syslog(3) or the journal, with the
# priority, when stderr is /dev/null.  The syslog socket (/dev/log) and the
# journal's (/run/systemd/journal/socket) are ours: each check runs in a
# private mount namespace with a tmpfs over /dev or /run/systemd and a
# small python listener bound where the program will send.
. "$(dirname "$0")/functions.sh"
requires_root
requires unshare -m true
PY=$(command -v python3) || { echo "SKIP: no python3 for the listener"; exit 77; }

# 1. stderr (a file here): "<time>Z remusd: err: <message>".
rc=0
remusd --no-fence --receive -D /proc/version/x 2>"$T/stderr" || rc=$?
[ $rc -eq 2 ] || fail "remusd -D /proc/version/x: status $rc"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z remusd: err: state directory /proc/version/x: Not a directory$' \
	"$T/stderr" || fail "stderr line: $(cat "$T/stderr")"
echo "ok stderr: $(cat "$T/stderr")"

cat >"$T/listen.py" <<'PYEOF'
# listen.py SOCKET OUT SECS: collect datagrams sent to SOCKET for SECS
# (0.5 s more after the first), one per record in OUT.
import os, socket, sys, time
path, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
open(out + ".ready", "w").close()
got, end = [], time.time() + secs
while time.time() < end:
    s.settimeout(max(0.01, end - time.time()))
    try:
        got.append(s.recv(65536))
        end = min(end, time.time() + 0.5)
    except socket.timeout:
        pass
with open(out, "wb") as f:
    f.write(b"\n--\n".join(got))
PYEOF

# ns.sh MODE OUT: inside a private mount namespace, our own /dev/log
# (MODE syslog, syslog-d) or journal socket (MODE journal), then remusd
# with stderr on /dev/null.
cat >"$T/ns.sh" <<'SHEOF'
set -eu
mode=$1 out=$2 T=$3 PY=$4
# No journal unless this mode makes one, whatever the host runs.
mkdir -p /run/systemd
mount -t tmpfs tmpfs /run/systemd
case $mode in
syslog*)
	mkdir -p "$T/olddev"
	mount --rbind /dev "$T/olddev"
	mount -t tmpfs tmpfs /dev
	for n in null zero urandom random full; do
		touch "/dev/$n"
		mount --bind "$T/olddev/$n" "/dev/$n"
	done
	sock=/dev/log ;;
journal)
	mkdir -p /run/systemd/journal
	sock=/run/systemd/journal/socket ;;
esac
"$PY" "$T/listen.py" "$sock" "$out" 3 &
lp=$!
for i in $(seq 50); do [ -e "$out.ready" ] && break; sleep 0.1; done
flag=""
[ "$mode" = syslog-d ] && flag=-d
rc=0
remusd --no-fence $flag --receive -D /proc/version/x </dev/null >/dev/null 2>/dev/null || rc=$?
wait $lp
echo "remusd status $rc"
SHEOF

# 2. syslog: "<27>" is facility daemon (3 << 3) + priority err (3).
unshare -m bash "$T/ns.sh" syslog "$T/syslog.out" "$T" "$PY" >"$T/ns.log" 2>&1 ||
	fail "namespace: $(cat "$T/ns.log")"
grep -q "remusd status 2" "$T/ns.log" || fail "syslog run: $(cat "$T/ns.log")"
grep -qE '^<27>.*remusd\[[0-9]+\]: state directory /proc/version/x: Not a directory$' \
	"$T/syslog.out" || fail "syslog got: '$(cat "$T/syslog.out")'"
echo "ok syslog: $(cat "$T/syslog.out")"

# 3. -d: stderr even when it is /dev/null; nothing reaches syslog.
unshare -m bash "$T/ns.sh" syslog-d "$T/syslog-d.out" "$T" "$PY" >"$T/ns-d.log" 2>&1 ||
	fail "namespace: $(cat "$T/ns-d.log")"
[ ! -s "$T/syslog-d.out" ] || fail "remusd -d logged to syslog: $(cat "$T/syslog-d.out")"
echo "ok -d: nothing in syslog"

# 4. The journal, natively: fields, with the priority and errno.
if ldd "$(command -v remusd)" | grep -q libsystemd; then
	unshare -m bash "$T/ns.sh" journal "$T/journal.out" "$T" "$PY" >"$T/ns-j.log" 2>&1 ||
		fail "namespace: $(cat "$T/ns-j.log")"
	for f in "MESSAGE=state directory /proc/version/x: Not a directory" \
	    "PRIORITY=3" "SYSLOG_IDENTIFIER=remusd" "ERRNO=20"; do
		grep -qxF "$f" "$T/journal.out" || fail "journal: no $f in: $(cat "$T/journal.out")"
	done
	echo "ok journal: $(tr '\n' ' ' <"$T/journal.out")"
else
	echo "note: remusd built without libsystemd (REMUS_WITH_SYSTEMD=OFF): journal not checked"
fi
echo PASS
