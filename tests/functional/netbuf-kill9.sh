#!/usr/bin/env bash
# netbuf-kill9.sh -- Remus's promise to clients, checked Jepsen-style with
# the nfqueue driver: remus-kvd runs in its own namespace behind a veth
# (remus-netns-run), remus holds its output (--netbuf-if), a client in a
# third namespace writes and reads through the primary host, and the
# primary (remus, then the guest: the host died) is killed -9 at a random
# moment, ITER (default 50) times.  After each failover, against the kvd the
# backup activated:
#   - every SET the client saw answered OK is there (no acknowledged write
#     lost), and every value a GET returned is there (no read of state the
#     backup never got);
#   - no reply reached the client before the release of the first epoch
#     closed after its request was sent (REMUS_NETBUF_TRACE);
#   - the next run on the same interface cleans the stale rules a killed
#     remus left (it must, or the guest's traffic would stay queued).
# Odd runs talk IPv4 to the guest, even runs IPv6.  NETBUF_DRIVER=plug
# runs it with the plug driver (the kernel lab does, with a longer
# BACKUP_TIMEOUT_MS: under TCG a full epoch outlasts 400 ms of silence).  NETBUF_ARGS="-F -n"
# (no buffering) shows that the checks fail without netbuf.
# TRIGGER=interval|output picks remus --trigger (default interval; the
# registered netbuf-kill9-output variant runs output-triggered epochs,
# which cut most epochs while a reply is held).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/netbuf-lib.sh"
requires_root
requires ip netns list
requires nft --version
requires remus-netbuf probe

ITER=${ITER:-50}
NETBUF_DRIVER=${NETBUF_DRIVER:-nfqueue}
TRIGGER=${TRIGGER:-interval}
echo "trigger $TRIGGER, driver $NETBUF_DRIVER, $ITER runs"
nb_net_up
total_w=0 total_r=0 total_o=0 t_start=$(date +%s)

for ((i = 1; i <= ITER; i++)); do
	st="$T/st$i"
	if ((i % 2)); then gaddr=10.91.1.2 baddr=10.91.3.2
	else gaddr=fd91:1::2 baddr=fd91:3::2; fi
	KVD_LISTEN='[::]:7000' nb_guest_start "$i"
	ip netns exec "$NS_B" \
	    remusd --proc-listen "[::]:7000" --no-fence --insecure --listen "[$baddr]:5270" -D "$st" -t "${BACKUP_TIMEOUT_MS:-400}" \
	    --guest "$GUEST_NAME=$GUEST_CMD" \
	    >"$T/remusd$i.log" 2>&1 &
	B=$!
	_kill_pids="$_kill_pids $B"
	wait_for 10 sh -c "ip netns exec $NS_B ss -Htln 'sport = :5270' | grep -q ." ||
		fail "run $i: remusd did not listen"
	ip netns exec "$NS_P" env REMUS_NETBUF_TRACE="$T/trace$i" \
	    remus -i 30 --trigger "$TRIGGER" --insecure --timeout 10000 \
	    ${NETBUF_ARGS:---netbuf-if $HIF --netbuf-driver $NETBUF_DRIVER} \
	    --name "$GUEST_NAME" proc:"$GUEST_PID" "[$baddr]:5270" \
	    >"$T/remus$i.log" 2>&1 &
	R=$!
	_kill_pids="$_kill_pids $R"
	st="$st/$GUEST_NAME"	# the guest's replica
	wait_for 20 test -s "$st/proc-epoch" || fail "run $i: nothing committed"
	ip netns exec "$NS_C" remus-netbuf kv-client "$gaddr" 7000 \
	    "$T/client$i.log" 4000 "r${i}k" &
	C=$!
	nb_kill_and_check "$i" "$R" "$C" "$st" "$baddr" "$T/client$i.log" \
	    "$T/trace$i"
	w=$NB_W r=$NB_R o=$NB_O
	total_w=$((total_w + w)) total_r=$((total_r + r)) total_o=$((total_o + o))
	echo "run $i: $NB_SAID; epoch $(cat "$st/proc-epoch")"
	kill -9 "$(cat "$st/proc-guest.pid")" 2>/dev/null || true
	kill $B 2>/dev/null || true
	wait $B 2>/dev/null || true
	nb_guest_stop
done
# The last remus was killed: its rules are stale.  A cleanup run (remus
# does the same at start) removes them since the interface is gone.
ip netns exec "$NS_P" remus-netbuf cleanup >/dev/null
left=$(ip netns exec "$NS_P" sh -c 'nft list tables; iptables-nft -t raw -S; ip6tables-nft -t raw -S; ip link show' 2>/dev/null | grep -c 'remus_\|rmsb' || true)
[ "$left" = 0 ] || fail "stale rules left after cleanup: $left"
echo "$ITER failovers in $(($(date +%s) - t_start)) s: $total_w acknowledged writes and $total_r reads all present, $total_o replies all released after their epoch"
echo PASS
