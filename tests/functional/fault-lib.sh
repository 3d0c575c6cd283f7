# tests/functional/fault-lib.sh -- the harness of the failover fault tests
# (tests/functional/fault.sh) and of bench/soak (sourced, not a test).
#
# The network is netbuf-lib.sh's (a kvd guest behind a veth in G, remus in
# P holding its output, remusd in B, a client in C) plus one direct link
# C-B, so that the client and the monitor reach the copy the backup
# activates without crossing the P-B link that partitions cut:
#
#   C vc 10.91.2.2 --- vp2 P vp3 10.91.3.1 ------ vb 10.91.3.2 B
#     vcb 10.91.4.1 ----------------------------- vbc 10.91.4.2
#   G eth0 10.91.1.2 --- vh P (netbuf)
#
# The replication link is P vp3 <-> B vb (remusd listens on 10.91.3.2:5270);
# the fence runs out of band (the proc agent kills through the run
# directory, as ssh to a management network would).
#
# Names (docs/failover.md): FL_T (T, ms), FL_F (F, ms), FL_M (M, computed),
# FL_I (checkpoint interval), FL_RECONNECT (remus --reconnect-interval).
#
#   fl_net_up                  the namespaces and links
#   fl_start FENCE [NAME]      guest + remusd (--fence per FENCE: ok, fail,
#                              hang, none) + remus; waits for a committed
#                              epoch.  Sets GUEST_PID R B ST FL_N.
#                              FL_ST: state directory to use (else $T/stN).
#   fl_restart_remusd          a new remusd on the same state directory
#   fl_partition MODE          both | p2b | b2p (nft DROP in P's or B's
#                              input) | link (P's vp3 down)
#   fl_heal                    undo every partition
#   fl_stall PID MS            SIGSTOP PID for MS, then SIGCONT
#   fl_client_start TAG        client loop (kv-client, alternating between the
#                              primary's guest and the backup's address)
#   fl_monitor_start           the two_live monitor (fault-monitor.py)
#   fl_check                   stop client and monitor, kv-check and
#                              fault-kvscan.py against the survivor; sets
#                              FL_W FL_R FL_LOST FL_TORN FL_TWO FL_SURVIVOR
#                              (primary|backup), prints "checked W
#                              acknowledged writes, R reads ...; two_live=N"
#   fl_b_active / fl_p_alive   is the backup's activated guest / the
#                              primary's guest running
#   fl_statedir_mount MB       ext4 on a loop device as FL_ST
#   fl_statedir_fill           no room left in FL_ST (what a commit
#                              rewrites in place still fits)
#   fl_statedir_ro             EROFS from now on
#   fl_guest_grow_start / _stop   the kvd guest's working set grows past
#                              anything before (~900 pages an epoch)
#   fl_stamp                   prefix every line with $EPOCHREALTIME
#   fl_first_line LOG ERE      stamp of LOG's first line matching ERE
#
# FAULT_LEGACY=1 starts remus and remusd without the failover flags
# (--fence, --fence-timeout, --reconnect-interval, --run-dir): to run the
# same checks against code from before docs/failover.md.
HERE_FL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE_FL/functions.sh"
. "$HERE_FL/netbuf-lib.sh"
# Every step below checks its own outcome; a failing probe (grep, kill of
# a process already gone) is not an error.
set +e

FL_T=${FL_T:-1000}
FL_F=${FL_F:-3000}
FL_I=${FL_I:-30}
FL_RECONNECT=${FL_RECONNECT:-500}
FL_M=$(((FL_T + FL_F) / 50))
[ "$FL_M" -ge 500 ] || FL_M=500
FL_H=$((FL_T / 4))
[ "$FL_H" -le 200 ] || FL_H=200
FL_N=0
FL_PADDR=10.91.1.2
FL_BADDR=10.91.4.2
FL_REPL=10.91.3.2:5270
FL_RUN="$T/prun"
FL_PY=$(command -v python3 || true)
mkdir -p "$FL_RUN" "$T/cl"

# Fractional seconds arithmetic for the checks (awk, no bc needed).
fl_calc() { awk "BEGIN { printf \"%.3f\", $* }"; }
fl_ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
fl_now() { echo "$EPOCHREALTIME"; }

fl_stamp() {
	local l
	while IFS= read -r l; do
		printf '%s %s\n' "$EPOCHREALTIME" "$l"
	done
}

# fl_first_line LOG ERE [AFTER]: the stamp of the first line of LOG matching
# ERE (case-insensitive) stamped at or after AFTER; fails if none.
fl_first_line() {
	awk -v re="$2" -v after="${3:-0}" '
	$1 >= after && tolower($0) ~ re { print $1; found = 1; exit }
	END { exit !found }' "$1"
}

fl_count_lines() {
	grep -Eic -- "$2" "$1" 2>/dev/null || true
}

fl_alive() {
	local s
	[ -n "${1:-}" ] || return 1
	s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

fl_p_alive() { fl_alive "${GUEST_PID:-}"; }

# (proc-guest.pid.new: recorded, not yet running, or left by a rename
# that failed on a full state directory.)
fl_b_pid() { cat "$ST/proc-guest.pid" 2>/dev/null || cat "$ST/proc-guest.pid.new" 2>/dev/null; }
fl_b_active() { fl_alive "$(fl_b_pid)"; }

fl_net_up() {
	requires_root
	requires ip netns list
	requires nft --version
	requires remus-netbuf probe
	[ -n "$FL_PY" ] || { echo "SKIP: needs python3 (fault-monitor.py)"; exit 77; }
	nb_net_up
	ip link add vcb netns "$NS_C" type veth peer name vbc netns "$NS_B" &&
	ip -n "$NS_C" addr add 10.91.4.1/24 dev vcb &&
	ip -n "$NS_C" link set vcb up &&
	ip -n "$NS_B" addr add 10.91.4.2/24 dev vbc &&
	ip -n "$NS_B" link set vbc up || fail "link C-B"
	fl_nft_up
	cleanup_fn fl_heal
	cleanup_fn fl_monitor_stop
	cleanup_fn fl_client_stop
}

fl_fence_agent() {
	local a
	a=$(command -v fence-remus-proc 2>/dev/null) && { echo "$a"; return; }
	for a in "${REMUS_SRC:-$HERE_FL/../..}/contrib/fence/fence-remus-proc" \
	    "$HERE_FL/../../contrib/fence/fence-remus-proc"; do
		[ -x "$a" ] && { echo "$a"; return; }
	done
	return 1
}

# fl_fence_script MODE: $T/fence.sh, which logs every attempt (stamp,
# REMUS_FENCE_*) to $T/fence.out and then fences (ok), fails (fail) or
# hangs (hang: its pid in $T/fence-hang.pid).
fl_fence_script() {
	local agent=""
	if [ "$1" = ok ]; then
		agent=$(fl_fence_agent) ||
			fail "no fence agent (contrib/fence/fence-remus-proc)"
	fi
	cat >"$T/fence.sh" <<EOF
#!/bin/sh
echo "\$(date +%s.%N) start attempt=\$REMUS_FENCE_ATTEMPT guest=\$REMUS_FENCE_GUEST name=\$REMUS_FENCE_NAME primary=\$REMUS_FENCE_PRIMARY epoch=\$REMUS_FENCE_EPOCH timeout=\$REMUS_FENCE_TIMEOUT_MS pid=\$\$" >>"$T/fence.out"
case $1 in
ok)	"$agent" --via 'sh -c' --run-dir "$FL_RUN" >>"$T/fence.out" 2>&1; rc=\$? ;;
fail)	rc=1 ;;
hang)	echo \$\$ >"$T/fence-hang.pid"; exec sleep 600 ;;
esac
echo "\$(date +%s.%N) end rc=\$rc" >>"$T/fence.out"
exit \$rc
EOF
	chmod +x "$T/fence.sh"
}

fl_listening() {
	ip netns exec "$NS_B" ss -Htln 'sport = :5270' | grep -q .
}

# fl_start_remusd: remusd in B on $ST with the fence of fl_start, and a
# control socket at $FL_REMUSD_CTL when that is set.
fl_start_remusd() {
	local fence=() ctl=()
	[ -z "${FL_REMUSD_CTL:-}" ] || ctl=(--ctl-socket "$FL_REMUSD_CTL")
	if [ "${FAULT_LEGACY:-}" != 1 ]; then
		if [ "$FL_FENCE" = none ]; then
			fence=(--no-fence)
		else
			fence=(--fence "$T/fence.sh" --fence-timeout "$FL_F")
		fi
	fi
	FL_BN=$((${FL_BN:-0} + 1))
	ip netns exec "$NS_B" \
	    remusd --proc-listen "[::]:7000" --insecure --listen "$FL_REPL" -D "$FL_D" -t "$FL_T" "${fence[@]}" \
	    --guest "$GUEST_NAME=$GUEST_CMD" "${ctl[@]}" \
	    > >(fl_stamp >"$T/remusd$FL_BN.log") 2>&1 &
	B=$!
	_kill_pids="$_kill_pids $B"
	FL_BLOG="$T/remusd$FL_BN.log"
	wait_for 10 eval 'fl_listening || ! fl_alive "$B"'
	fl_listening || fail "remusd did not listen: $(tail -3 "$FL_BLOG")"
}

fl_restart_remusd() {
	fl_start_remusd
}

fl_start() {
	local more=()
	FL_FENCE=$1
	FL_N=$((FL_N + 1))
	# remusd -D FL_D keeps the guest's replica in ST = FL_D/GUEST_NAME.
	FL_D=${FL_ST:-$T/st$FL_N}
	mkdir -p "$FL_D"
	rm -f "$T/fence.out" "$T/fence-hang.pid"
	[ "$FL_FENCE" = none ] || [ "${FAULT_LEGACY:-}" = 1 ] ||
		fl_fence_script "$FL_FENCE"
	KVD_LISTEN='[::]:7000' nb_guest_start "$FL_N"
	ST="$FL_D/$GUEST_NAME"
	# By pid: the copy the backup activates rewrites the pidfile.
	_kill_pids="$_kill_pids $GUEST_PID"
	fl_start_remusd
	[ "${FAULT_LEGACY:-}" = 1 ] ||
		more=(--reconnect-interval "$FL_RECONNECT" --run-dir "$FL_RUN")
	ip netns exec "$NS_P" remus --insecure -i "$FL_I" --timeout "$FL_T" \
	    --netbuf-if "$HIF" --netbuf-driver nfqueue "${more[@]}" \
	    --name "$GUEST_NAME" proc:"$GUEST_PID" "$FL_REPL" \
	    > >(fl_stamp >"$T/remus$FL_N.log") 2>&1 &
	R=$!
	_kill_pids="$_kill_pids $R"
	FL_RLOG="$T/remus$FL_N.log"
	wait_for 20 eval 'test -s "$ST/proc-epoch" || ! fl_alive "$R"'
	test -s "$ST/proc-epoch" ||
		fail "nothing committed: $(tail -3 "$FL_RLOG")"
}

# fl_stop: end whatever fl_start started (soak rounds), keep the logs.
fl_stop() {
	local p
	fl_heal
	# remusd first: a remusd that outlives its remus would fence and
	# activate.
	for p in $B $R $(fl_b_pid) ${GUEST_PID:-}; do
		_ours "$p" && kill -CONT "$p" 2>/dev/null
		_ours "$p" && kill -9 "$p" 2>/dev/null
	done
	for p in $R $B; do
		wait "$p" 2>/dev/null
	done
	[ -f "$T/fence-hang.pid" ] && { p=$(cat "$T/fence-hang.pid");
		_ours "$p" && kill -9 "$p" 2>/dev/null; }
	nb_guest_stop
	ip netns exec "$NS_P" remus-netbuf cleanup >/dev/null 2>&1
	return 0
}

# Partitions of the replication link only (P vp3 <-> B vb), dropped at
# the receiver's input: to the sender's TCP it is loss on the wire (a drop
# in its own OUTPUT hook would be a local send error instead).  Rules go in
# and out through one long-running "nft -i" per namespace (fl_nft_up), so
# a partition or a heal costs no process start: on a loaded machine
# "ip netns exec nft" takes up to a second, longer than 0.5 T.  A
# partition starts at FL_T_FAULT and is complete at FL_T_FAULT_END.
fl_nft_up() {
	local ns
	for ns in P B; do
		mkfifo "$T/nft.$ns"
		eval "ip netns exec \"\$NS_$ns\" nft -i <\"\$T/nft.$ns\" >\"\$T/nft-$ns.out\" 2>&1 &"
		_kill_pids="$_kill_pids $!"
		eval "exec {FL_NFT_$ns}>\"\$T/nft.$ns\""
	done
}

# fl_nft P|B IFNAME: drop everything arriving on IFNAME there.
fl_nft() {
	local fd
	eval "fd=\$FL_NFT_$1"
	printf '%s\n' "add table inet fault" \
	    "add chain inet fault input { type filter hook input priority -10 ; }" \
	    "add rule inet fault input iifname \"$2\" drop" >&"$fd"
}

fl_partition() {
	FL_T_FAULT=$EPOCHREALTIME
	case $1 in
	both)	fl_nft B vb && fl_nft P vp3 ;;
	p2b)	fl_nft B vb ;;
	b2p)	fl_nft P vp3 ;;
	link)	ip -n "$NS_P" link set vp3 down ;;
	*)	fail "fl_partition: unknown mode $1" ;;
	esac || fail "partition $1"
	FL_T_FAULT_END=$EPOCHREALTIME
}

fl_heal() {
	[ -n "${FL_NFT_P:-}" ] && echo "delete table inet fault" >&"$FL_NFT_P"
	[ -n "${FL_NFT_B:-}" ] && echo "delete table inet fault" >&"$FL_NFT_B"
	FL_T_HEALED=$EPOCHREALTIME
	ip -n "$NS_P" link set vp3 up 2>/dev/null
	return 0
}

# fl_stall PID MS: the process stops for MS (a page-in storm, a VM pause).
fl_stall() {
	FL_T_FAULT=$EPOCHREALTIME
	kill -STOP "$1" || fail "SIGSTOP $1"
	FL_T_FAULT_END=$FL_T_FAULT
	sleep "$(fl_calc "$2 / 1000")"
	kill -CONT "$1" 2>/dev/null || true
}

fl_client_start() {
	local tag=$1
	rm -f "$T/cl.stop"
	(
		i=0
		# A subshell's /proc/PID/environ predates REMUS_TEST_T, so the
		# cleanup's _ours() does not know it: end with the test.
		while [ ! -e "$T/cl.stop" ] && kill -0 $$ 2>/dev/null; do
			i=$((i + 1))
			if ((i % 2)); then a=$FL_PADDR; else a=$FL_BADDR; fi
			ip netns exec "$NS_C" remus-netbuf kv-client "$a" 7000 \
			    "$T/cl/$tag-$i.clog" 1500 "${tag}x${i}k" &
			echo $! >"$T/cl.kvpid"
			wait $! 2>/dev/null
			grep -q '^END connect' "$T/cl/$tag-$i.clog" && sleep 0.1
		done
	) &
	FL_CLIENT=$!
	_kill_pids="$_kill_pids $FL_CLIENT"
}

fl_client_stop() {
	[ -n "${FL_CLIENT:-}" ] || return 0
	touch "$T/cl.stop"
	_ours "$(cat "$T/cl.kvpid" 2>/dev/null)" && kill "$(cat "$T/cl.kvpid")" 2>/dev/null
	wait "$FL_CLIENT" 2>/dev/null
	FL_CLIENT=""
}

# fl_acked: acknowledged writes so far (SET ... OK lines).
fl_acked() {
	cat "$T"/cl/*.clog 2>/dev/null | awk '$1 == "SET" && $4 == "OK"' | wc -l
}

fl_wait_load() {
	local n=$1 d=${2:-30} i
	for ((i = 0; i < d * 10; i++)); do
		[ "$(fl_acked)" -ge "$n" ] && return 0
		sleep 0.1
	done
	fail "client load: fewer than $n acknowledged writes in $d s"
}

fl_monitor_start() {
	FL_MONOUT="$T/monitor$FL_N.out"
	: >"$FL_MONOUT"
	ip netns exec "$NS_C" "$FL_PY" "$HERE_FL/fault-monitor.py" \
	    "$FL_MONOUT" "$FL_PADDR:7000" "$FL_BADDR:7000" 50 &
	FL_MON=$!
	_kill_pids="$_kill_pids $FL_MON"
}

fl_monitor_stop() {
	[ -n "${FL_MON:-}" ] || return 0
	kill -TERM "$FL_MON" 2>/dev/null
	wait "$FL_MON" 2>/dev/null
	FL_MON=""
	FL_TWO=$(sed -n 's/^two_live=\([0-9]*\) .*/\1/p' "$FL_MONOUT")
	[ -n "$FL_TWO" ] && return 0
	# The soak (FL_MON_SOFT=1) counts such a round as unchecked and goes
	# on; a test fails.
	if [ "${FL_MON_SOFT:-}" = 1 ]; then
		echo "monitor wrote no summary: two_live unchecked"
		FL_TWO=unchecked
		return 1
	fi
	fail "monitor wrote no summary"
}

# fl_p_replies_between A B: monitor replies from the primary received in
# [A, B) (wall clock seconds).
fl_p_replies_between() {
	awk -v a="$1" -v b="$2" '$1 == "P" && $3 >= a && $3 < b' "$FL_MONOUT" | wc -l
}

# fl_p_first_reply_after A: receive time of the first primary reply at or
# after A, or nothing.
fl_p_first_reply_after() {
	awk -v a="$1" '$1 == "P" && $3 >= a { print $3; exit }' "$FL_MONOUT"
}

fl_check() {
	local addr out rc
	fl_client_stop
	fl_monitor_stop
	if fl_b_active; then
		FL_SURVIVOR=backup addr=$FL_BADDR
	else
		FL_SURVIVOR=primary addr=$FL_PADDR
		# Read back without waiting an epoch per request: an orderly
		# stop of remus passes output through (P6).
		if fl_alive "$R"; then
			kill -TERM "$R" 2>/dev/null
			wait "$R" 2>/dev/null
		fi
		if ! fl_p_alive; then
			# Passive on both sides (B3: a fence that ended after
			# the window): no invariant broken, nothing to read
			# back from; the caller decides what that means.
			echo "neither copy runs"
			FL_SURVIVOR=none FL_W=0 FL_R=0 FL_LOST=unchecked
			FL_TORN=unchecked
			return 1
		fi
	fi
	cat "$T"/cl/*.clog >"$T/acked.all" 2>/dev/null
	rc=0
	out=$(ip netns exec "$NS_C" remus-netbuf kv-check "$addr" 7000 "$T/acked.all") ||
		rc=$?
	echo "$out" | grep '^LOST' | head -5
	FL_W=$(echo "$out" | sed -n 's/^checked \([0-9]*\) writes \([0-9]*\) reads: \([0-9]*\) lost.*/\1/p')
	FL_R=$(echo "$out" | sed -n 's/^checked \([0-9]*\) writes \([0-9]*\) reads: \([0-9]*\) lost.*/\2/p')
	FL_LOST=$(echo "$out" | sed -n 's/^checked \([0-9]*\) writes \([0-9]*\) reads: \([0-9]*\) lost.*/\3/p')
	if [ -z "$FL_W" ]; then
		echo "kv-check against the $FL_SURVIVOR failed (rc $rc): $out"
		FL_W=0 FL_R=0 FL_LOST=unchecked
		return 1
	fi
	# Torn: the survivor's keys are not one state the guest ever had.
	out=$(ip netns exec "$NS_C" "$FL_PY" "$HERE_FL/fault-kvscan.py" \
	    "$addr" 7000 "$T/acked.all")
	echo "$out" | grep '^TORN' | head -5
	FL_TORN=$(echo "$out" | sed -n 's/^scanned .* torn=\([0-9]*\)$/\1/p')
	[ -n "$FL_TORN" ] || { echo "scan of the $FL_SURVIVOR failed: $out"; FL_TORN=unchecked; rc=1; }
	echo "checked $FL_W acknowledged writes, $FL_R reads (survivor: $FL_SURVIVOR); lost=$FL_LOST torn=$FL_TORN two_live=$FL_TWO"
	[ "$rc" = 0 ]
}

# The backup's state directory on a file system of its own (ext4 on a loop
# device), so that it can fill up or turn read-only under remusd.
fl_statedir_mount() {
	requires mkfs.ext4 -V
	requires losetup --version
	FL_SD=$((${FL_SD:-0} + 1))
	FL_ST="$T/stfs$FL_SD"
	truncate -s "${1}M" "$T/statedir.img" &&
	mkfs.ext4 -q -F -m 0 "$T/statedir.img" &&
	mkdir -p "$FL_ST" &&
	mount -o loop,errors=remount-ro "$T/statedir.img" "$FL_ST" ||
		fail "statedir file system"
	# The loop device goes with the last user of the (lazily unmounted)
	# file system: the processes the cleanup kills after this.
	[ "$FL_SD" = 1 ] && cleanup_fn 'for m in "$T"/stfs*; do umount -l "$m" 2>/dev/null; done'
	FL_STDEV=$(basename "$(findmnt -no SOURCE "$FL_ST")")
	rm -f "$T/statedir.img"	# the loop device holds it
}

fl_statedir_fill() {
	dd if=/dev/zero of="$FL_ST/filler" bs=1M status=none 2>/dev/null
	dd if=/dev/zero of="$FL_ST/filler2" bs=4k status=none 2>/dev/null
	sync -f "$FL_ST/filler" 2>/dev/null
	# The last few blocks, one small file each (a commit's small files
	# would otherwise still fit).
	local i
	for ((i = 0; i < 10000; i++)); do
		echo x >"$FL_ST/fill.$i" 2>/dev/null || break
		sync -f "$FL_ST/fill.$i" 2>/dev/null || break
	done
	FL_T_FAULT=$EPOCHREALTIME
}

# The kvd guest's working set grows: rounds of SETs of the same 250 keys
# with 15000-byte values (~3.7 MiB, ~900 pages, rewritten every round:
# kvd reuses a freed value's room), over the guest's own loopback (not
# through netbuf: as fast as kvd takes them), until fl_guest_grow_stop.
# An epoch then dirties more pages than any before it, so a proc
# replica's journal must grow to commit it: on a full state directory,
# ENOSPC in the commit.  The client test load goes on beside it.
fl_guest_grow_start() {
	rm -f "$T/grow.stop"
	ip netns exec "$NS_G" bash -c '
		v=$(head -c 15000 /dev/zero | tr "\0" x)
		exec 3<>/dev/tcp/127.0.0.1/7000 || exit 1
		r=0
		while [ ! -e "$1/grow.stop" ]; do
			r=$((r + 1))
			for ((i = 0; i < 250; i++)); do
				printf "SET grow%d %d%s\n" $i $r "$v"
			done >&3 || exit 1
			for ((i = 0; i < 250; i++)); do
				read -r -t 10 l <&3 || exit 1
			done
			echo "round $r: $l"
		done' fl-grow "$T" >"$T/grow.log" 2>&1 &
	FL_GROW=$!
	_kill_pids="$_kill_pids $FL_GROW"
}

fl_guest_grow_stop() {
	touch "$T/grow.stop"
	wait_for 15 eval '! kill -0 $FL_GROW 2>/dev/null' ||
		kill -9 "$FL_GROW" 2>/dev/null
	wait "$FL_GROW" 2>/dev/null
	return 0
}

fl_statedir_ro() {
	[ -w "/sys/fs/ext4/$FL_STDEV/trigger_fs_error" ] ||
		{ echo "SKIP: no /sys/fs/ext4/$FL_STDEV/trigger_fs_error"; exit 77; }
	FL_T_FAULT=$EPOCHREALTIME
	echo 1 >"/sys/fs/ext4/$FL_STDEV/trigger_fs_error"
	touch "$FL_ST/probe" 2>/dev/null && fail "state directory still writable"
	return 0
}
