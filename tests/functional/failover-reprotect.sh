#!/usr/bin/env bash
# failover-reprotect.sh -- output is held again after a reconnect
# (docs/failover.md P3, P4; docs/netbuf.md "reprotect").  With the nfqueue
# netbuf namespaces of netbuf-lib.sh, ITER (default 3) times:
#   protect remus-kvd; kill -9 the backup (remusd); remus holds, releases
#   at T+F+M (P3) and logs it; a new remusd starts; remus reconnects (P4),
#   netbuf goes released -> buffering and the new backup commits epochs;
#   then the client writes and reads and the primary host dies (kill -9 of
#   remus, then the guest) at a random moment.  Against the kvd the new
#   backup activated: every acknowledged write and every value read is
#   there (kv-check), and no reply reached the client before the release
#   of the first epoch closed after its request (nb_check_order).
# Without netbuf_reprotect the reconnected session runs with output
# unheld, and the checks fail.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/netbuf-lib.sh"
requires_root
requires ip netns list
requires nft --version
requires remus-netbuf probe

ITER=${ITER:-3}
BT=${BACKUP_TIMEOUT_MS:-400}
# Plain TCP needs --insecure where the link has TLS.
INSECURE=
remus --help 2>&1 | grep -q -- --insecure && INSECURE=--insecure
nb_net_up
total_w=0 total_o=0

# remusd N ADDR STATEDIR: a backup in NS_B for the guest, its pid in B.
start_backup() {
	ip netns exec "$NS_B" \
	    remusd --proc-listen "[::]:7000" --no-fence $INSECURE --listen "[$2]:5270" -D "$3" -t "$BT" \
	    --guest "$GUEST_NAME=$GUEST_CMD" \
	    >"$T/remusd$1.log" 2>&1 &
	B=$!
	_kill_pids="$_kill_pids $B"
	wait_for 10 sh -c "ip netns exec $NS_B ss -Htln 'sport = :5270' | grep -q ." ||
		fail "$1: remusd did not listen"
}

for ((i = 1; i <= ITER; i++)); do
	if ((i % 2)); then gaddr=10.91.1.2 baddr=10.91.3.2
	else gaddr=fd91:1::2 baddr=fd91:3::2; fi
	KVD_LISTEN='[::]:7000' nb_guest_start "$i"
	start_backup "${i}a" "$baddr" "$T/st${i}a"
	ip netns exec "$NS_P" env REMUS_NETBUF_TRACE="$T/trace$i" \
	    remus -i 30 $INSECURE --timeout 2000 --reconnect-interval 300 \
	    --netbuf-if "$HIF" --netbuf-driver nfqueue \
	    --name "$GUEST_NAME" proc:"$GUEST_PID" "[$baddr]:5270" \
	    >"$T/remus$i.log" 2>&1 &
	R=$!
	_kill_pids="$_kill_pids $R"
	wait_for 20 test -s "$T/st${i}a/$GUEST_NAME/proc-epoch" ||
		fail "run $i: nothing committed"

	# The backup dies: remus holds, then releases (P3).
	kill -9 $B
	wait $B 2>/dev/null || true
	wait_for 20 grep -q "HOLDING -> UNPROTECTED: .*output released" \
	    "$T/remus$i.log" || fail "run $i: remus did not release"
	grep -q "$HIF: state change buffering -> released" "$T/remus$i.log" ||
		fail "run $i: netbuf did not release"
	# Unprotected: the guest answers at once (nothing holds it).
	ip netns exec "$NS_C" remus-netbuf kv-client "$gaddr" 7000 \
	    "$T/unprot$i.log" 300 "u${i}k" >/dev/null 2>&1 || true
	test -s "$T/unprot$i.log" || fail "run $i: no answer while unprotected"

	# A new backup: remus reconnects, holds again, commits.
	start_backup "${i}b" "$baddr" "$T/st${i}b"
	wait_for 20 grep -q "UNPROTECTED -> PROTECTED" "$T/remus$i.log" ||
		fail "run $i: remus did not reconnect"
	grep -q "$HIF: state change released -> buffering, reason: protection resumed" \
	    "$T/remus$i.log" || fail "run $i: netbuf did not hold output again"
	wait_for 20 test -s "$T/st${i}b/$GUEST_NAME/proc-epoch" ||
		fail "run $i: the new backup committed nothing"
	e0=$(cat "$T/st${i}b/$GUEST_NAME/proc-epoch")
	wait_for 20 sh -c "[ \$(cat '$T/st${i}b/$GUEST_NAME/proc-epoch') -gt $((e0 + 2)) ]" ||
		fail "run $i: epochs do not flow after the reconnect"

	# The primary host dies at a random moment of the client's run.
	ip netns exec "$NS_C" remus-netbuf kv-client "$gaddr" 7000 \
	    "$T/client$i.log" 4000 "r${i}k" &
	C=$!
	nb_kill_and_check "$i" "$R" "$C" "$T/st${i}b/$GUEST_NAME" "$baddr" \
	    "$T/client$i.log" "$T/trace$i"
	w=$NB_W o=$NB_O
	total_w=$((total_w + w)) total_o=$((total_o + o))
	echo "run $i: reconnected at epoch $((e0)); $NB_SAID"
	kill -9 "$(cat "$T/st${i}b/$GUEST_NAME/proc-guest.pid")" 2>/dev/null || true
	kill $B 2>/dev/null || true
	wait $B 2>/dev/null || true
	nb_guest_stop
	ip netns exec "$NS_P" remus-netbuf cleanup >/dev/null 2>&1 || true
done
echo "$ITER reconnects then failovers: $total_w acknowledged writes present, $total_o replies all released after their epoch"
echo PASS
