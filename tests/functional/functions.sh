# tests/functional/functions.sh -- the one set of helpers every functional
# test sources (directly, or through proc-lib.sh, diskbuf-lib.sh or
# netbuf-lib.sh, which add only what their own tests share), after
# nbdkit's tests/functions.sh (sourced, not a test).
#
#   requires CMD...        skip (exit 77) unless CMD succeeds
#   cleanup_fn CMD...      run CMD at exit (LIFO), whatever happens
#   start NAME CMD...      run CMD in the background, output in $T/NAME.log,
#                          killed at exit; sets $LAST_PID
#   start_guest NAME CMD.. start a proc guest with --pidfile, wait for it,
#                          set $GUEST_PID and $GUEST_CMD (guest_cmd's)
#   guest_cmd NAME CMD..   print the command line start_guest NAME CMD..
#                          runs: what remusd --guest NAME=... must be told
#                          to run for it (the backup never takes it from
#                          the stream); remus --name NAME announces it
#   pick_port              print a free TCP port on 127.0.0.1
#   wait_for [SECS] CMD... poll CMD every 0.1 s for up to SECS (default 20)
#                          seconds
#   fail MSG               print MSG and the tails of the logs, exit 1
set -eu

: "${REMUS_BUILD:?run through ctest (REMUS_BUILD unset)}"
PATH="$REMUS_BUILD/bin:$PATH"

T=$(mktemp -d /tmp/remus-test.XXXXXX)
# Guests listen for remus under here; one directory per test run keeps
# parallel tests apart.
export REMUS_PROC_RUNDIR="$T/run"
mkdir -p "$REMUS_PROC_RUNDIR"

_cleanup_cmds=()
# Pids to kill at exit (either name: the libs grew apart once).
_kill_pids=""
_cleanup_pids=""
# Every process a test starts inherits REMUS_TEST_T; cleanup kills a pid
# only if it still carries it.  Pids recorded long ago may have been
# reused (pid_max is 32768 here and qemu-io loops spin through them), and
# kill -9 of a stranger once took down the test runner itself.
export REMUS_TEST_T="$T"
# grep opens the file itself, so a pid already gone says nothing (a shell
# redirection "<file 2>/dev/null" reports its error before 2> applies).
_ours() {
	grep -qxzF "REMUS_TEST_T=$T" "/proc/$1/environ" 2>/dev/null
}

cleanup_fn() {
	_cleanup_cmds+=("$*")
}

_run_cleanup() {
	local status=$? i p
	set +e
	for ((i = ${#_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_cleanup_cmds[$i]}"
	done
	# Everything we started, and guests activated by a backup.
	for p in $_kill_pids $_cleanup_pids $(cat "$T"/*.pid "$T"/*/proc-guest.pid "$T"/*/*/proc-guest.pid 2>/dev/null); do
		_ours "$p" && kill -9 "$p" 2>/dev/null
	done
	if [ "${KEEP:-}" = 1 ] || [ $status -ne 0 -a $status -ne 77 ]; then
		echo "logs kept in $T"
	else
		rm -rf "$T"
	fi
	exit $status
}
trap _run_cleanup EXIT

requires() {
	if ! "$@" >/dev/null 2>&1; then
		echo "SKIP: requires: $*"
		exit 77
	fi
}

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
		[ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }
	done
	exit 1
}

wait_for() {
	local secs=20 i
	case ${1:-} in
	'' | *[!0-9]*) ;;
	*) secs=$1; shift ;;
	esac
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

start() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	LAST_PID=$!
	_kill_pids="$_kill_pids $LAST_PID"
}

guest_cmd() {
	local name=$1
	shift
	echo "$* --pidfile $T/$name.pid"
}

start_guest() {
	local name=$1
	shift
	GUEST_CMD=$(guest_cmd "$name" "$@")
	"$@" --pidfile "$T/$name.pid" >"$T/$name.log" 2>&1 &
	_kill_pids="$_kill_pids $!"
	disown $!	# no "Killed" noise when a test kills it
	wait_for 20 test -s "$T/$name.pid" || fail "$name did not start"
	GUEST_PID=$(cat "$T/$name.pid")
	# The control socket comes up with the pidfile or just after.
	wait_for 20 test -S "$REMUS_PROC_RUNDIR/proc-$GUEST_PID.sock" ||
		fail "$name: no control socket"
}

# Below the kernel's ephemeral range (32768..60999 here): a port some
# client connection holds as its own local end is not listening, so ss
# does not show it, yet a listen() on it fails with EADDRINUSE.  Any
# socket on the port at all counts as taken.
pick_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}

# checksum_of_epoch LOG E: the arena checksum remus-dirtier recorded at
# remus's suspend number E (its epoch E), from its --checksum-log.
checksum_of_epoch() {
	awk -v e="$2" '$1 == e { print $2; exit }' "$1"
}

# replica_matches DIR LOG: the replica in DIR holds exactly the arena of
# its committed epoch (DIR/proc-epoch) as the guest recorded it.  Prints
# the epoch.
replica_matches() {
	local dir=$1 log=$2 e want got
	e=$(cat "$dir/proc-epoch" 2>/dev/null) || { echo "no committed epoch"; return 1; }
	want=$(checksum_of_epoch "$log" "$e")
	got=$(remus-arena-sum "$dir/proc-arena.img")
	if [ -z "$want" ] || [ "$want" != "$got" ]; then
		echo "epoch $e: replica sum $got, guest recorded ${want:-nothing}"
		return 1
	fi
	echo "$e"
}
