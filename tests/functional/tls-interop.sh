#!/usr/bin/env bash
# tls-interop.sh -- remusd's TLS endpoint is standard TLS 1.3: gnutls-cli
# completes a handshake with it using PSK and using X.509 client
# certificates; remusd then drops that session (no stream header follows)
# while the replica of a real primary it serves meanwhile goes on
# committing and stays equal to the guest's arena.
. "$(dirname "$0")/tls-lib.sh"
requires gnutls-cli --version
requires remus-arena-sum /dev/null

PSK_PRIO='NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK'

# cli NAME PORT ARGS...: gnutls-cli with nothing to send; its output in
# $T/cli-NAME.out.  The handshake must complete.
cli() {
	local name=$1 port=$2
	shift 2
	timeout 20 gnutls-cli -p "$port" "$@" 127.0.0.1 </dev/null \
		>"$T/cli-$name.out" 2>&1 || true
	grep -q "Handshake was completed" "$T/cli-$name.out" ||
		fail "$name: gnutls-cli: $(tail -5 "$T/cli-$name.out")"
	grep -q "TLS1.3" "$T/cli-$name.out" ||
		fail "$name: not TLS 1.3: $(grep -i description "$T/cli-$name.out")"
}

# PSK, while a real primary is protected through the same remusd, and a
# client that connects and says nothing holds a handshake open: remusd
# serves the others meanwhile and drops it at its deadline (10 s).
port=$(pick_port)
start_remusd remusd-psk "$port" "$T/st-psk" --psk-file "$C/psk-server" \
	--guest-peer "g=$PEER_PSK" --guest "g=$(guest_cmd g remus-dirtier --pages 200 --working-set 2000 \
		--arena-size 16M --checksum-log "$T/g.sums")"
exec 5<>"/dev/tcp/127.0.0.1/$port"
silent_t0=$SECONDS
start_guest g remus-dirtier --pages 200 --working-set 2000 --arena-size 16M \
	--checksum-log "$T/g.sums"
start remus-psk remus -i 50 --psk-file "$C/psk-client" --name g proc:"$GUEST_PID" \
	"127.0.0.1:$port"
R=$LAST_PID
wait_epochs "$T/st-psk/g" 3 || fail "psk: the real primary did not commit"
cli psk "$port" --priority "$PSK_PRIO" --pskusername other \
	--pskkey "$(grep '^other:' "$C/psk-server" | cut -d: -f2)"
wait_for 10 grep -q 'authenticated psk identity "other"' "$T/remusd-psk.log" ||
	fail "psk: remusd did not log gnutls-cli's identity"
wait_for 10 grep -q "session over: nothing committed" "$T/remusd-psk.log" ||
	fail "psk: remusd kept gnutls-cli's session"
e1=$(committed "$T/st-psk/g")
wait_epochs "$T/st-psk/g" $((e1 + 3)) || fail "psk: the real session stopped committing"
kill -0 $R || fail "psk: remus died"
kill -INT $R
wait $R || fail "psk: remus exited $? after SIGINT"
kill -9 "$GUEST_PID"
e=$(replica_matches "$T/st-psk/g" "$T/g.sums") || fail "psk: $e"
wait_for 20 grep -q "TLS handshake with 127.0.0.1:[0-9]* failed: not done in 10000 ms" \
	"$T/remusd-psk.log" || fail "psk: the silent client was not dropped"
[ $((SECONDS - silent_t0)) -ge 9 ] || fail "psk: the silent client was dropped early"
exec 5>&-
! ls "$T/st-psk"/*/proc-guest.pid 2>/dev/null || fail "psk: gnutls-cli's session activated something"
echo "psk: gnutls-cli completed TLS 1.3; the real replica == guest at epoch $e;" \
	"a silent client was dropped after 10 s without holding anyone up"

# X.509 with a client certificate.
port=$(pick_port)
start_remusd remusd-x509 "$port" "$T/st-x509" --tls-creds "$C/x509"
cli x509 "$port" --x509cafile "$C/x509/ca-cert.pem" \
	--x509certfile "$C/x509/client-cert.pem" \
	--x509keyfile "$C/x509/client-key.pem"
wait_for 10 grep -q 'authenticated certificate ".*remus test primary a' \
	"$T/remusd-x509.log" || fail "x509: remusd did not log the client DN"
wait_for 10 grep -q "session over: nothing committed" "$T/remusd-x509.log" ||
	fail "x509: remusd kept gnutls-cli's session"
# Without a client certificate: refused.
timeout 20 gnutls-cli -p "$port" --x509cafile "$C/x509/ca-cert.pem" 127.0.0.1 \
	</dev/null >"$T/cli-nocert.out" 2>&1 || true
wait_for 10 sh -c "[ \$(grep -c 'TLS handshake with .* failed' '$T/remusd-x509.log') -ge 1 ]" ||
	fail "x509: a client without a certificate was not refused"
echo "x509: gnutls-cli completed TLS 1.3 with a client certificate; none: refused"
echo PASS
