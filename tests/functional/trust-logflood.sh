#!/usr/bin/env bash
# trust-logflood.sh -- a peer that fails TLS handshakes in a loop costs
# remusd a few log lines per window, not one per connection (issue 12:
# rate-limited logging of repeated errors), and every failure is still
# counted: 60 connections that send junk instead of a ClientHello give
# at most LOG_RATE_BURST (5) "TLS handshake with ... failed" lines in
# the 10 s window; the first line of the next window says how many were
# left out, and the two add up to the 60.  A legitimate PSK session is
# protected by the same remusd throughout.
. "$(dirname "$0")/tls-lib.sh"

port=$(pick_port)
start_guest g remus-dirtier --pages 50 --working-set 500 --arena-size 4M
start_remusd remusd "$port" "$T/st" --psk-file "$C/psk-server" --guest-peer "g=$PEER_PSK" \
	--guest "g=$(command -v remus-dirtier) --pages 50 --working-set 500 --arena-size 4M"
start remus remus -i 50 --psk-file "$C/psk-client" --name g proc:"$GUEST_PID" "127.0.0.1:$port"
wait_epochs "$T/st/g" 1 || fail "the legitimate session committed nothing"
e0=$(committed "$T/st/g")

junk() {	# one connection that sends junk and closes
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf 'GET / HTTP/1.0\r\n\r\n' >&3
	timeout 5 cat <&3 >/dev/null 2>&1
	exec 3>&-
}
t0=$(date +%s)
for ((i = 0; i < 60; i++)); do
	junk || fail "junk connection $i: connect failed"
done
t1=$(date +%s)
[ $((t1 - t0)) -lt 9 ] || echo "note: the 60 connections took $((t1 - t0)) s (a slow machine): the window may have rolled"
wait_for 10 sh -c "grep -c 'TLS handshake with' '$T/remusd.log' | grep -qv '^0$'" ||
	fail "remusd logged no failed handshake"
sleep 1
n1=$(grep -c 'TLS handshake with' "$T/remusd.log")
echo "after 60 junk connections in $((t1 - t0)) s: $n1 lines"
[ "$n1" -le 5 ] || [ $((t1 - t0)) -ge 9 ] ||
	fail "$n1 handshake failure lines for 60 junk connections in one window (at most 5)"
# The next window: one more failure, and its line carries the count.
# (11 s after the last of the 60: past any window they opened.)
sleep $((t1 + 11 - $(date +%s) > 0 ? t1 + 11 - $(date +%s) : 0))
junk || fail "the 61st junk connection failed to connect"
wait_for 10 sh -c "grep -q 'more like it not logged' '$T/remusd.log'" ||
	fail "no line said how many failures were left out: $(grep 'TLS handshake' "$T/remusd.log" | tail -2)"
left=$(sed -n 's/.*TLS handshake with.*(\([0-9]*\) more like it not logged.*/\1/p' "$T/remusd.log" | awk '{ s += $1 } END { print s + 0 }')
n2=$(grep -c 'TLS handshake with' "$T/remusd.log")
echo "then: $n2 lines in all, $left failures counted as left out"
[ $((n2 + left)) -eq 61 ] ||
	fail "$n2 lines + $left left out = $((n2 + left)), not the 61 failed handshakes"
e1=$(committed "$T/st/g")
[ "$e1" -gt "$e0" ] || fail "the legitimate session stopped committing ($e0 -> $e1)"
echo "legitimate session: epochs $e0 -> $e1 during the flood"
echo PASS
