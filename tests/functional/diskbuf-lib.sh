# shellcheck shell=bash
# tests/functional/diskbuf-lib.sh -- helpers for the diskbuf-*.sh tests
# (sourced, not a test).  nbdkit-style: requires, cleanup, start with a
# pidfile.
set -eu

: "${REMUS_BUILD:?run through ctest (REMUS_BUILD unset)}"
PATH="$REMUS_BUILD/bin:$PATH"

T=$(mktemp -d /tmp/diskbuf-test.XXXXXX)
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
	for p in $_cleanup_pids; do
		_ours "$p" && kill -9 "$p" 2>/dev/null || true
	done
	# Children of diskbuf-pair (the backup) end on EOF; give them a moment.
	sleep 0.2
	if [ "${KEEP:-}" = 1 ]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
}
trap _cleanup EXIT

requires() {
	if ! "$@" >/dev/null 2>&1; then
		echo "SKIP: requires $*"
		exit 77
	fi
}

fail() {
	echo "FAIL: $*"
	for f in "$T"/*.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }
	done
	exit 1
}

# A free TCP port on 127.0.0.1 (checked with ss, retried by the callers'
# own connect waits).
pick_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}

# wait_for CMD...: up to 20 s.
wait_for() {
	for _ in $(seq 200); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_pair NAME ARGS...: diskbuf-pair in the background; sets PAIR_PID.
start_pair() {
	local name=$1
	shift
	rm -f "$T/$name.pid"
	# In a subshell: not our job, so the shell does not report the
	# kill -9 the tests deliver.
	(diskbuf-pair -P "$T/$name.pid" "$@" >"$T/$name.log" 2>&1 &)
	wait_for test -s "$T/$name.pid" || fail "$name did not start"
	PAIR_PID=$(cat "$T/$name.pid")
	_cleanup_pids="$_cleanup_pids $PAIR_PID"
}

# Random image of N MiB.
mkimage() {
	head -c "$(($2 << 20))" /dev/urandom >"$1"
}

nbd_uri() {
	echo "nbd+unix:///?socket=$1"
}

digest() {
	remus-disksync digest "$1"
}

# sync_images SRC DST [recv args]: initial sync over TCP.
sync_images() {
	local src=$1 dst=$2 port
	shift 2
	port=$(pick_port)
	remus-disksync recv "$@" "$dst" "127.0.0.1:$port" >"$T/recv.log" 2>&1 &
	local rpid=$!
	remus-disksync send -q -w 20 "$src" "127.0.0.1:$port" >"$T/send.log" 2>&1 ||
		{ wait $rpid || true; return 1; }
	wait $rpid
}
