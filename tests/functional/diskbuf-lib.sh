# shellcheck shell=bash
# tests/functional/diskbuf-lib.sh -- what the diskbuf-*.sh tests share
# beyond functions.sh (sourced, not a test): diskbuf-pair started with a
# pidfile, images, digests, the initial sync.
. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

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
