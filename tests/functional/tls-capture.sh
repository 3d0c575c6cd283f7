#!/usr/bin/env bash
# tls-capture.sh -- what an eavesdropper on the path sees: a key-value
# guest (remus-kvd) holds a value; its replication stream, captured by an
# on-path relay, shows the value with --insecure and does not under TLS
# (PSK or X.509), while the replica has it in each case.
. "$(dirname "$0")/tls-lib.sh"
requires python3 --version

value="capture-marker-$RANDOM$RANDOM-the-guest-secret"

run_one() {	# NAME SERVER-FLAGS -- CLIENT-FLAGS
	local name=$1 sflags=() cflags=() st=0
	shift
	while [ "$1" != -- ]; do sflags+=("$1"); shift; done
	shift
	cflags=("$@")
	local port pport kport
	port=$(pick_port)
	pport=$(pick_port)
	kport=$(pick_port)
	start_remusd "remusd-$name" "$port" "$T/st-$name" --no-activate "${sflags[@]}" \
		--guest "kvd=$(guest_cmd "kvd-$name" remus-kvd --listen "127.0.0.1:$kport" --arena-size 8M)"
	start "proxy-$name" python3 "$REMUS_SRC/tests/functional/tls-proxy.py" \
		"$pport" "$port" "$T/$name.cap"
	wait_for 10 sh -c "ss -Htln 'sport = :$pport' | grep -q ." || fail "$name: proxy"
	start_guest "kvd-$name" remus-kvd --listen "127.0.0.1:$kport" --arena-size 8M
	wait_for 10 kv "$kport" PING || fail "$name: kvd does not answer"
	[ "$(kv "$kport" "SET secret $value")" = OK ] || fail "$name: SET"
	start "remus-$name" remus -i 50 "${cflags[@]}" --name kvd proc:"$GUEST_PID" \
		"127.0.0.1:$pport"
	local R=$LAST_PID
	wait_epochs "$T/st-$name/kvd" 3 || fail "$name: 3 epochs not committed"
	kill -INT $R
	wait $R || st=$?
	[ $st -eq 0 ] || fail "$name: remus exited $st"
	kill -9 "$GUEST_PID"
	grep -qaF "$value" "$T/st-$name/kvd/proc-arena.img" ||
		fail "$name: the replica lacks the value"
	[ "$(stat -c %s "$T/$name.cap")" -gt 8192 ] ||
		fail "$name: the capture is too small to mean anything"
}

# kv PORT REQUEST: one request, one reply line.
kv() {
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf '%s\n' "$2" >&3
	IFS= read -r -t 10 -u 3 line || { exec 3>&-; return 1; }
	exec 3>&-
	printf '%s\n' "$line"
}

run_one plain --insecure -- --insecure -u
grep -qaF "$value" "$T/plain.cap" || fail "plain: the value is not in the clear capture (test proves nothing)"
echo "plain: the value crosses in clear ($(stat -c %s "$T/plain.cap") bytes captured)"
grep -q "insecure connection" "$T/remusd-plain.log" || fail "plain: remusd did not warn"
grep -q "insecure connection" "$T/remus-plain.log" || fail "plain: remus did not warn"

run_one psk --psk-file "$C/psk-server" --guest-peer "kvd=$PEER_PSK" -- \
	--psk-file "$C/psk-client" -u
! grep -qaF "$value" "$T/psk.cap" || fail "psk: the value is readable on the wire"
echo "psk: not in $(stat -c %s "$T/psk.cap") bytes captured"

run_one x509 --tls-creds "$C/x509" --guest-peer "kvd=$PEER_CN" -- \
	--tls-creds "$C/x509" -u
! grep -qaF "$value" "$T/x509.cap" || fail "x509: the value is readable on the wire"
echo "x509: not in $(stat -c %s "$T/x509.cap") bytes captured"
echo PASS
