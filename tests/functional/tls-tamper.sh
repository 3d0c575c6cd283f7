#!/usr/bin/env bash
# tls-tamper.sh -- an on-path box that flips one bit of the primary's TLS
# stream mid-protection kills the session, not the replica: remusd logs
# the record that failed authentication, keeps the replica at its last
# committed epoch (equal to the guest's arena then; --no-activate, so it
# stays a replica), and remus ends with status 4 (backup lost).
# The same bit flipped in the backup's stream (its ACKs and heartbeats):
# remus logs the record that failed authentication, takes nothing in it
# for an ACK (its last acknowledged epoch is one the replica committed)
# and ends with status 4.
. "$(dirname "$0")/tls-lib.sh"
requires python3 --version
requires remus-arena-sum /dev/null

run_one() {	# NAME SERVER-FLAGS -- CLIENT-FLAGS
	local name=$1 sflags=() cflags=() e before st=0
	shift
	while [ "$1" != -- ]; do sflags+=("$1"); shift; done
	shift
	cflags=("$@")
	local port pport
	port=$(pick_port)
	pport=$(pick_port)
	start_remusd "remusd-$name" "$port" "$T/st-$name" --no-activate "${sflags[@]}" \
		--guest "g=$(guest_cmd "g-$name" remus-dirtier --pages 300 --working-set 3000 \
			--arena-size 32M --checksum-log "$T/$name.sums")"
	start "proxy-$name" python3 "$REMUS_SRC/tests/functional/tls-proxy.py" \
		"$pport" "$port" "$T/$name.cap" "$T/$name.flip" "${DIR:-c2s}"
	wait_for 10 sh -c "ss -Htln 'sport = :$pport' | grep -q ." || fail "$name: proxy"
	start_guest "g-$name" remus-dirtier --pages 300 --working-set 3000 \
		--arena-size 32M --checksum-log "$T/$name.sums"
	start "remus-$name" remus -i 50 --reconnect-interval 0 "${cflags[@]}" --name g proc:"$GUEST_PID" \
		"127.0.0.1:$pport"
	local R=$LAST_PID
	wait_epochs "$T/st-$name/g" 5 || fail "$name: 5 epochs not committed"
	touch "$T/$name.flip"
	wait_for 20 test -s "$T/$name.flip.done" || fail "$name: the proxy flipped nothing"
	wait $R || st=$?
	[ $st -eq 4 ] || fail "$name: remus exited $st, want 4 (backup lost)"
	if [ "${DIR:-c2s}" = c2s ]; then
		grep -q "failed authentication" "$T/remusd-$name.log" ||
			fail "$name: remusd did not log the tampered record"
	else
		grep -q "failed authentication" "$T/remus-$name.log" ||
			fail "$name: remus did not log the tampered record: $(grep -i tls "$T/remus-$name.log" | tail -2)"
		acked=$(sed -n 's/.*epochs acknowledged in .* (last \([0-9]*\)).*/\1/p' "$T/remus-$name.log" | tail -1)
		[ -n "$acked" ] || fail "$name: remus printed no last acknowledged epoch"
	fi
	wait_for 10 grep -q "session over" "$T/remusd-$name.log" ||
		fail "$name: the session did not end"
	kill -9 "$GUEST_PID"
	e=$(replica_matches "$T/st-$name/g" "$T/$name.sums") || fail "$name: $e"
	[ "$e" -ge 5 ] || fail "$name: replica at epoch $e"
	if [ "${DIR:-c2s}" = s2c ]; then
		[ "$acked" -le "$e" ] ||
			fail "$name: remus took epoch $acked as acknowledged, the replica holds $e"
		echo "$name: remus's last acknowledged epoch $acked <= the replica's $e"
	fi
	echo "$name: a flipped bit at offset $(cat "$T/$name.flip.done") ended the session;" \
		"replica == guest at epoch $e"
}

run_one psk --psk-file "$C/psk-server" --guest-peer "g=$PEER_PSK" -- \
	--psk-file "$C/psk-client"
run_one x509 --tls-creds "$C/x509" --guest-peer "g=$PEER_CN" -- \
	--tls-creds "$C/x509"
DIR=s2c run_one psk-ack --psk-file "$C/psk-server" --guest-peer "g=$PEER_PSK" -- \
	--psk-file "$C/psk-client"
echo PASS
