#!/usr/bin/env bash
# tls-protect.sh -- protection over TLS 1.3, PSK and X.509: a dirtier is
# replicated to remusd --listen, epochs commit, SIGINT ends it with END,
# and the replica equals the guest's arena at the last committed epoch.
# The same remusd serves both primaries of a PSK file (one key each).
. "$(dirname "$0")/tls-lib.sh"
requires remus-arena-sum /dev/null

run_one() {	# NAME SERVER-FLAGS -- CLIENT-FLAGS
	local name=$1 sflags=() cflags=() e status=0
	shift
	while [ "$1" != -- ]; do sflags+=("$1"); shift; done
	shift
	cflags=("$@")
	local port
	port=$(pick_port)
	start_guest "g-$name" remus-dirtier --pages 300 --working-set 3000 \
		--arena-size 32M --checksum-log "$T/$name.sums"
	start_remusd "remusd-$name" "$port" "$T/st-$name" "${sflags[@]}" \
		--guest "g=$GUEST_CMD"
	start "remus-$name" remus -i 50 "${cflags[@]}" --name g proc:"$GUEST_PID" \
		"127.0.0.1:$port"
	local R=$LAST_PID
	wait_epochs "$T/st-$name/g" 5 || fail "$name: 5 epochs not committed"
	kill -INT $R
	wait $R || status=$?
	[ $status -eq 0 ] || fail "$name: remus exited $status after SIGINT"
	wait_for 10 grep -q "not activated" "$T/remusd-$name.log" ||
		fail "$name: backup did not see a clean END"
	kill -9 "$GUEST_PID"
	e=$(replica_matches "$T/st-$name/g" "$T/$name.sums") || fail "$name: $e"
	grep -q "TLS 1.3, authenticated" "$T/remus-$name.log" ||
		fail "$name: remus did not log the TLS peer"
	grep -q "TLS 1.3, authenticated" "$T/remusd-$name.log" ||
		fail "$name: remusd did not log the TLS peer"
	! grep -qi "insecure" "$T/remus-$name.log" "$T/remusd-$name.log" ||
		fail "$name: an insecure warning under TLS"
	echo "$name: replica == guest's arena at epoch $e"
}

run_one psk --psk-file "$C/psk-server" --guest-peer "g=$PEER_PSK" -- \
	--psk-file "$C/psk-client"
grep -q 'psk identity "primary"' "$T/remusd-psk.log" || fail "psk: identity not logged"
# The second identity of the server's file, picked by name.
run_one psk-other --psk-file "$C/psk-server" --guest-peer "g=$PEER_PSK,other" -- \
	--psk-file "$C/psk-server" --psk-identity other
grep -q 'psk identity "other"' "$T/remusd-psk-other.log" || fail "psk-other: identity"
run_one x509 --tls-creds "$C/x509" --guest-peer "g=$PEER_CN" -- \
	--tls-creds "$C/x509"
grep -q 'remus test primary a' "$T/remusd-x509.log" || fail "x509: client DN not logged"
# The certificate names localhost too; --tls-hostname checks that name.
# The peer named by its whole subject DN instead of its CN.
run_one x509-name --tls-creds "$C/x509" --guest-peer "g=$PEER_DN" -- \
	--tls-creds "$C/x509" --tls-hostname localhost
echo PASS
