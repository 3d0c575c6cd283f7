#!/usr/bin/env bash
# netbuf-guestcrash.sh -- P5 of docs/failover.md: a guest that fails on the
# primary keeps its output dropped, never passed.  remus-kvd runs in its own
# namespace behind remus --netbuf-if (nfqueue), a client writes through the
# primary host, and ONLY the guest is killed -9 (remus lives on).  Its
# kernel sockets then close (FIN or RST) and retransmit what is unacked;
# none of that may leave the primary:
#   - remus exits 6 and says the guest's output stays blocked;
#   - no TCP FIN or RST from the guest's address reaches the client's
#     namespace at any time, and for 3 s after remus exits no packet at all
#     from the guest's address reaches it, nor leaves the primary host
#     (nft counters in both namespaces);
#   - the backup activates, and every write the client saw acknowledged is
#     in its copy (kv-check); every reply came after its epoch's release;
#   - `remus-netbuf cleanup IFACE` lifts the block.
# NETBUF_DRIVER=plug runs it with the plug driver (kernel lab).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/netbuf-lib.sh"
requires_root
requires ip netns list
requires nft --version
requires remus-netbuf probe

NETBUF_DRIVER=${NETBUF_DRIVER:-nfqueue}
st="$T/st"
gaddr=10.91.1.2 baddr=10.91.3.2
nb_net_up

# Observers: every packet from the guest's addresses arriving in C
# (before anything else there sees it), FIN/RST among them, and every one
# leaving P (postrouting, after P's own rules).
inC nft -f - <<EOF || fail "nft counters in C"
table inet obs {
	counter g { }
	counter gfr { }
	chain pre {
		type filter hook prerouting priority -400; policy accept;
		ip saddr 10.91.1.2 counter name g
		ip6 saddr fd91:1::2 counter name g
		ip saddr 10.91.1.2 tcp flags & (fin | rst) != 0 counter name gfr
	}
}
EOF
inP nft -f - <<EOF || fail "nft counters in P"
table inet obs {
	counter g { }
	chain post {
		type filter hook postrouting priority 0; policy accept;
		ip saddr 10.91.1.2 counter name g
		ip6 saddr fd91:1::2 counter name g
	}
}
EOF
# count NS COUNTER: its packet count.
count() {
	ip netns exec "$1" nft list counter inet obs "$2" |
		sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

nb_guest_start 1
ip netns exec "$NS_B" \
    remusd --proc-listen "[::]:7000" --no-fence --insecure --listen "$baddr:5270" -D "$st" -t 2000 \
    --guest "$GUEST_NAME=$GUEST_CMD" >"$T/remusd.log" 2>&1 &
B=$!
_kill_pids="$_kill_pids $B"
wait_for 10 sh -c "ip netns exec $NS_B ss -Htln 'sport = :5270' | grep -q ." ||
	fail "remusd did not listen"
ip netns exec "$NS_P" env REMUS_NETBUF_TRACE="$T/trace" \
    remus -i 30 --insecure --timeout 2000 --netbuf-if "$HIF" --netbuf-driver "$NETBUF_DRIVER" \
    --name "$GUEST_NAME" proc:"$GUEST_PID" "$baddr:5270" >"$T/remus.log" 2>&1 &
R=$!
_kill_pids="$_kill_pids $R"
st="$st/$GUEST_NAME"	# the guest's replica
wait_for 20 test -s "$st/proc-epoch" || fail "nothing committed"

ip netns exec "$NS_C" remus-netbuf kv-client "$gaddr" 7000 "$T/client.log" 15000 k &
C=$!
_kill_pids="$_kill_pids $C"
# Some acknowledged writes first, then a random moment.
wait_for 20 sh -c "[ \$(grep -c '^SET' '$T/client.log') -ge 20 ]" ||
	fail "fewer than 20 replies"
sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
acked_before=$(grep -c '^SET.* OK' "$T/client.log" || true)
kill -9 "$GUEST_PID"			# the guest only: remus lives

status=0
wait_for 20 sh -c "! kill -0 $R 2>/dev/null" || fail "remus still running 20 s after the guest died"
wait $R || status=$?
[ $status -eq 6 ] || fail "remus exited $status after the guest died, not 6"
grep -q "output stays blocked" "$T/remus.log" ||
	fail "remus did not say the guest's output stays blocked"
c0=$(count "$NS_C" g) p0=$(count "$NS_P" g)
# The observation window (not a synchronisation): the dead guest's kernel
# retransmits its FIN within it, and answers the client's retransmits.
sleep 3
c1=$(count "$NS_C" g) p1=$(count "$NS_P" g) fr=$(count "$NS_C" gfr)
echo "guest packets: in C $c0 -> $c1, leaving P $p0 -> $p1; FIN/RST in C: $fr"
[ "$fr" = 0 ] || fail "$fr FIN/RST packets from the dead guest reached the client"
[ "$c1" = "$c0" ] || fail "$((c1 - c0)) packets from the dead guest reached the client after remus exited"
[ "$p1" = "$p0" ] || fail "$((p1 - p0)) packets from the dead guest left the primary after remus exited"
inP nft list ruleset >"$T/ruleset-after" 2>&1 || true
kill "$C" 2>/dev/null || true
wait "$C" 2>/dev/null || true
grep -q '^END.*\(reset\|refused\)' "$T/client.log" &&
	fail "the client saw a reset: $(grep '^END' "$T/client.log")"

wait_for 20 test -s "$st/proc-guest.pid" || fail "the backup did not activate"
out=$(ip netns exec "$NS_C" remus-netbuf kv-check "$baddr" 7000 "$T/client.log") ||
	fail "$out"
ord=$(nb_check_order "$T/client.log" "$T/trace") || fail "$ord"
echo "$acked_before writes acknowledged before the kill; $out; $ord; epoch $(cat "$st/proc-epoch")"
kill -9 "$(cat "$st/proc-guest.pid")" 2>/dev/null || true
kill "$B" 2>/dev/null || true
wait "$B" 2>/dev/null || true

# The block is lifted on purpose, with the interface still there.
inP remus-netbuf cleanup "$HIF" >"$T/cleanup.log" 2>&1 || fail "cleanup $HIF: $(cat "$T/cleanup.log")"
left=$(inP sh -c 'nft list tables; iptables-nft -t raw -S; ip6tables-nft -t raw -S; ip link show' 2>/dev/null |
	grep -c 'remus_\|rmsb' || true)
[ "$left" = 0 ] || fail "remus state left after cleanup $HIF: $left"
nb_guest_stop
echo PASS
