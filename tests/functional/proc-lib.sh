# tests/functional/proc-lib.sh -- helpers for the proc-*.sh tests (sourced,
# not a test): temp dir and cleanup, guests started with a pidfile, a
# line-protocol client for remus-kvd.
set -eu

: "${REMUS_BUILD:?run through ctest (REMUS_BUILD unset)}"
PATH="$REMUS_BUILD/bin:$PATH"

T=$(mktemp -d /tmp/proc-test.XXXXXX)
_cleanup_pids=""
# Every process a test starts inherits REMUS_TEST_T; cleanup kills a pid
# only if it still carries it.  Pids recorded long ago may have been
# reused (pid_max is 32768 here and qemu-io loops spin through them), and
# kill -9 of a stranger once took down the test runner itself.
export REMUS_TEST_T="$T"
# grep opens the file itself, so a pid already gone says nothing.
_ours() {
	grep -qxzF "REMUS_TEST_T=$T" "/proc/$1/environ" 2>/dev/null
}

_cleanup() {
	local p
	for p in $_cleanup_pids $(cat "$T"/*.pid "$T"/*/proc-guest.pid 2>/dev/null); do
		_ours "$p" && kill -9 "$p" 2>/dev/null || true
	done
	if [ "${KEEP:-}" = 1 ]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
}
trap _cleanup EXIT

requires_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: needs root (userfaultfd, /proc/PID/pagemap)"
		exit 77
	fi
}

fail() {
	local f
	echo "FAIL: $*"
	for f in "$T"/*.log "$T"/*.err; do
		[ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }
	done
	exit 1
}

# wait_for CMD...: up to 20 s.
wait_for() {
	local i
	for i in $(seq 200); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_guest NAME PROG ARGS...: run PROG --pidfile $T/NAME.pid ARGS in the
# background, wait for the pidfile, set $GUEST_PID.
start_guest() {
	local name=$1
	shift
	"$@" --pidfile "$T/$name.pid" >"$T/$name.log" 2>&1 &
	_cleanup_pids="$_cleanup_pids $!"
	wait_for test -s "$T/$name.pid" || fail "$name did not start"
	GUEST_PID=$(cat "$T/$name.pid")
}

# A free TCP port on 127.0.0.1.
pick_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}

# kv PORT REQUEST...: send the requests on one connection, print one reply
# line per request.
kv() {
	local port=$1 line r
	shift
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	for r in "$@"; do
		printf '%s\n' "$r" >&3
		IFS= read -r -t 10 -u 3 line || { exec 3>&-; return 1; }
		printf '%s\n' "$line"
	done
	exec 3>&-
}

# sum_line LOG SEQ: the checksum remus-dirtier recorded at suspend SEQ.
sum_line() {
	awk -v s="$2" '$1 == s { v = $2 } END { if (v == "") exit 1; print v }' "$1"
}
