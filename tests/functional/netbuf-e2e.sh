#!/usr/bin/env bash
# netbuf-e2e.sh -- remus --netbuf-if with the nfqueue driver (NETBUF_DRIVER
# selects another: the kernel lab runs it with plug), end to end
# (network of netbuf-lib.sh: client C, primary host P, guest G, backup B):
#   1. a backup that never acknowledges: the client gets nothing from the
#      guest, not even its TCP handshake;
#   2. normal protection, over IPv4 and IPv6: every reply reaches the
#      client only after the release of the first epoch closed after its
#      request was sent (REMUS_NETBUF_TRACE), and the guest answers;
#   3. SIGTERM: remus releases and removes its queue rules, and the
#      guest, unprotected now, answers at once;
#   4. refusals, one clear line each: no such interface, a bad driver
#      name, the plug driver on a kernel without sch_plug, no
#      CAP_NET_ADMIN.
# TRIGGER=interval|output picks remus --trigger (default interval; the
# netbuf-e2e-output variant also checks that output cut epochs).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/netbuf-lib.sh"
requires_root
requires ip netns list
requires nft --version

NETBUF_DRIVER=${NETBUF_DRIVER:-nfqueue}
TRIGGER=${TRIGGER:-interval}
echo "trigger $TRIGGER, driver $NETBUF_DRIVER"
nb_net_up
KVD_LISTEN='[::]:7000' nb_guest_start 1

# remus_* tables/chains (nfqueue), rmsb* IFBs and ingress qdiscs (plug).
rules_left() {
	inP sh -c 'nft list tables; iptables-nft -t raw -S; ip6tables-nft -t raw -S
	    ip link show; tc qdisc show dev '"$HIF"' | grep ingress' \
	    2>/dev/null | grep -c 'remus_\|rmsb\|ingress' || true
}

# 1. No ACK, no output.
ip netns exec "$NS_B" env REMUS_FAULT=ack-drop remusd --no-fence --insecure --listen 10.91.3.2:5270 -D "$T/st0" -t 30000 \
    --guest "$GUEST_NAME=$GUEST_CMD" \
    >"$T/remusd0.log" 2>&1 &
B=$!
_kill_pids="$_kill_pids $B"
wait_for 10 sh -c "ip netns exec $NS_B ss -Htln 'sport = :5270' | grep -q ." ||
	fail "remusd did not listen"
ip netns exec "$NS_P" env REMUS_NETBUF_TRACE="$T/trace0" remus -i 30 --trigger "$TRIGGER" --insecure \
    --timeout 30000 --netbuf-if "$HIF" --netbuf-driver $NETBUF_DRIVER \
    --name "$GUEST_NAME" proc:"$GUEST_PID" 10.91.3.2:5270 >"$T/remus0.log" 2>&1 &
R=$!
_kill_pids="$_kill_pids $R"
wait_for 20 grep -q "^start 2 " "$T/trace0" || fail "no epochs"
inC remus-netbuf kv-client 10.91.1.2 7000 "$T/client0.log" 500
grep -q "^END connect" "$T/client0.log" ||
	fail "the client heard the guest although no epoch was acknowledged: $(head -3 "$T/client0.log")"
grep -q "^release" "$T/trace0" && fail "released without an ACK"
echo "no ACK: client could not even connect ($(tail -1 "$T/client0.log"))"
kill -TERM $R; wait $R 2>/dev/null || true
kill -TERM $B; wait $B 2>/dev/null || true
[ "$(rules_left)" = 0 ] || fail "rules left after SIGTERM"

# 2. Protected: IPv4 and IPv6, replies only after their epoch's release.
ip netns exec "$NS_B" remusd --no-fence --insecure --listen 10.91.3.2:5270 -D "$T/st1" -t 2000 \
    --guest "$GUEST_NAME=$GUEST_CMD" >"$T/remusd1.log" 2>&1 &
B=$!
_kill_pids="$_kill_pids $B"
wait_for 10 sh -c "ip netns exec $NS_B ss -Htln 'sport = :5270' | grep -q ." ||
	fail "remusd did not listen"
ip netns exec "$NS_P" env REMUS_NETBUF_TRACE="$T/trace1" remus -i 40 --trigger "$TRIGGER" --insecure \
    --netbuf-if "$HIF" --netbuf-driver $NETBUF_DRIVER --name "$GUEST_NAME" proc:"$GUEST_PID" \
    --metrics-file "$T/remus1.prom" 10.91.3.2:5270 >"$T/remus1.log" 2>&1 &
R=$!
_kill_pids="$_kill_pids $R"
wait_for 20 test -s "$T/st1/$GUEST_NAME/proc-epoch" || fail "nothing committed"
for a in 10.91.1.2 fd91:1::2; do
	inC remus-netbuf kv-client "$a" 7000 "$T/client-$a.log" 1500 "k$a-"
	n=$(grep -c '^[SG]ET' "$T/client-$a.log" || true)
	[ "$n" -gt 0 ] || fail "$a: no reply: $(tail -1 "$T/client-$a.log")"
	ord=$(nb_check_order "$T/client-$a.log" "$T/trace1") || fail "$a: $ord"
	echo "$a: $n replies; $ord"
done

# The metrics report the buffered interface and what it holds.
wait_for 5 grep -qx "remus_netbuf_interfaces 1" "$T/remus1.prom" ||
	fail "metrics: no buffered interface: $(grep netbuf "$T/remus1.prom")"
grep -qE "^remus_netbuf_held_packets [0-9]+$" "$T/remus1.prom" ||
	fail "metrics: no held packets gauge"
echo "metrics: $(grep '^remus_netbuf' "$T/remus1.prom" | tr '\n' ' ')"

# 3. SIGTERM: released, rules gone, the guest answers unheld.
kill -TERM $R
wait $R && st=0 || st=$?
[ $st = 0 ] || fail "remus exited $st on SIGTERM"
grep -q "state change buffering -> released" "$T/remus1.log" ||
	fail "no release logged"
[ "$(rules_left)" = 0 ] || fail "rules left after SIGTERM: $(rules_left)"
inC remus-netbuf kv-client 10.91.1.2 7000 "$T/client-after.log" 300 after
grep -q '^SET after1 v1 OK' "$T/client-after.log" ||
	fail "guest unreachable after remus stopped"
kill -TERM $B; wait $B 2>/dev/null || true
echo "SIGTERM: released, no rules left, guest answers unheld"
# What cut the epochs: the client's requests did, with --trigger output.
cut=$(sed -n 's/.*trigger: \([0-9]*\) epochs cut by output, \([0-9]*\) by the interval.*/\1 \2/p' "$T/remus1.log")
[ -n "$cut" ] || fail "no trigger line in the summary"
set -- $cut
if [ "$TRIGGER" = output ]; then
	[ "$1" -gt 0 ] || fail "--trigger output: no epoch cut by output ($cut)"
else
	[ "$1" = 0 ] || fail "--trigger interval: $1 epochs cut by output"
fi
echo "epochs cut by output: $1, by the interval: $2"

# 4. Refusals.
refuse() {	# refuse STATUS WANT-PATTERN remus-args...
	local want_st=$1 want=$2 out st
	shift 2
	out=$(inP remus -b "$@" proc:"$GUEST_PID" 2>&1) && st=0 || st=$?
	[ $st != 0 ] || fail "remus $* succeeded"
	[ $st = "$want_st" ] || fail "remus $*: exit status $st, want $want_st: $out"
	echo "$out" | grep -q "$want" || fail "remus $*: wanted '$want', got: $out"
	echo "refused ($st): $(echo "$out" | grep "$want" | head -1)"
}
refuse 7 "no-such-if0: no such interface" --netbuf-if no-such-if0
refuse 1 "plug, nfqueue or auto" --netbuf-if "$HIF" --netbuf-driver pcap
refuse 1 "want output or interval" --netbuf-if "$HIF" --trigger packets
refuse 1 "percentage in 1..90" --netbuf-if "$HIF" --max-paused-pct 95
if [ "$(inP remus-netbuf probe)" = plug=0 ]; then
	refuse 7 "no sch_plug" --netbuf-if "$HIF" --netbuf-driver plug
fi
if command -v setpriv >/dev/null; then
	out=$(inP setpriv --bounding-set -net_admin --inh-caps -net_admin \
	    remus -b --netbuf-if "$HIF" proc:"$GUEST_PID" 2>&1) && st=0 || st=$?
	[ $st = 7 ] && echo "$out" | grep -q CAP_NET_ADMIN ||
		fail "without CAP_NET_ADMIN: status $st: $out"
	echo "refused ($st): $(echo "$out" | grep CAP_NET_ADMIN | head -1)"
fi
[ "$(rules_left)" = 0 ] || fail "a refused setup left rules"
echo PASS
