#!/bin/bash
# diskbuf-diskd: diskbuf-remus with the disk served by remus-diskd (the
# way a Xen guest's disk is), remus attaching with --disk-server.  First
# the one-line errors of remus-diskd itself.
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires test -x "$REMUS_BUILD/bin/remus-diskd"

expect() { # status pattern cmd...
	local want=$1 pat=$2 rc=0
	shift 2
	"$@" >"$T/err" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "$*: exit $rc, want $want: $(cat "$T/err")"
	grep -q -- "$pat" "$T/err" || fail "$*: no '$pat' in: $(cat "$T/err")"
	echo "ok: $* -> $rc: $(head -1 "$T/err")"
}
expect 1 "expected one image" remus-diskd --device /dev/nbd0
expect 1 "give --device, --nbd-listen" remus-diskd "$T/x.img"
expect 1 "--control is needed" remus-diskd --nbd-listen "unix:$T/s" "$T/x.img"
expect 1 "image $T/none.img: No such file" \
	remus-diskd --nbd-listen "unix:$T/s" --control "$T/c" "$T/none.img"
mkimage "$T/x.img" 1
expect 1 "$T/x.img: not a block device" \
	remus-diskd --device "$T/x.img" --control "$T/c" "$T/x.img"
# A second server for the same control socket is refused, the first
# keeps it.
(remus-diskd --nbd-listen "unix:$T/s1" --control "$T/c" "$T/x.img" \
    >"$T/d1.log" 2>&1 & echo $! >"$T/d1.pid")
wait_for test -S "$T/c" || fail "no control socket"
_cleanup_pids="$_cleanup_pids $(cat "$T/d1.pid")"
expect 1 "another remus-diskd serves it" \
	remus-diskd --nbd-listen "unix:$T/s2" --control "$T/c" "$T/x.img"
test -S "$T/c" || fail "the refused server removed the first one's socket"
# Not a remus: garbage on the control socket drops that connection only.
python3 - "$T/c" <<'PY' || fail "garbage client"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"x" * 64); s.settimeout(5)
try:
    assert s.recv(100) == b""
except ConnectionResetError:
    pass
PY
wait_for grep -q "bad control message" "$T/d1.log" || fail "garbage not reported: $(cat "$T/d1.log")"
# A peer that connects and says nothing does not keep the slot.
python3 - "$T/c" <<'PY' || fail "silent client"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(15)
assert s.recv(100) == b""
PY
grep -q "no protect request within" "$T/d1.log" || fail "silent client not dropped: $(cat "$T/d1.log")"
kill "$(cat "$T/d1.pid")"
wait_for sh -c "! test -e $T/c" || fail "control socket left behind"
echo "ok: errors"

DISKD=1 bash "$(dirname "$0")/diskbuf-remus.sh" "$@"
