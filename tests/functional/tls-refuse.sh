#!/usr/bin/env bash
# tls-refuse.sh -- who is refused, and where: a primary with the wrong
# PSK, an unknown PSK identity, a client certificate of another CA, X.509
# against PSK, or no TLS at all is stopped at the handshake (remusd logs
# "TLS handshake with ADDR failed", remus exits 3, nothing is created in
# the state directory); a backup whose certificate another CA signed, or
# that names another host, is refused by remus.  Without credentials
# neither end starts unless --insecure is given.
. "$(dirname "$0")/tls-lib.sh"

# Refused before anything else: one line, exit 1.
st=0
remusd --no-fence --listen 127.0.0.1:1 -D "$T/st-none" >"$T/noflag.log" 2>&1 || st=$?
[ $st -eq 1 ] || fail "remusd --listen without credentials exited $st"
grep -q -- "--insecure" "$T/noflag.log" || fail "remusd did not name --insecure"
[ "$(wc -l <"$T/noflag.log")" -eq 1 ] || fail "remusd: more than one line: $(cat "$T/noflag.log")"
st=0
remus proc:1 127.0.0.1:1 >"$T/noflag-remus.log" 2>&1 || st=$?
[ $st -eq 1 ] || fail "remus over TCP without credentials exited $st"
grep -q -- "--insecure" "$T/noflag-remus.log" || fail "remus did not name --insecure"
st=0
remusd --no-fence --listen 127.0.0.1:1 --psk-file "$C/psk-server" --insecure -D "$T/st-none" \
	>/dev/null 2>&1 || st=$?
[ $st -eq 1 ] || fail "--psk-file with --insecure accepted ($st)"
st=0
remusd --no-fence --listen 127.0.0.1:1 --psk-file "$T/nosuch" -D "$T/st-none" \
	>"$T/nofile.log" 2>&1 || st=$?
[ $st -eq 2 ] || fail "remusd with a missing PSK file exited $st"
st=0
remus -s '' --psk-file "$C/psk-client" proc:1 "remusd --receive" >/dev/null 2>&1 || st=$?
[ $st -eq 1 ] || fail "-s with --psk-file accepted ($st)"

start_guest g remus-dirtier --pages 100 --working-set 1000 --arena-size 8M

# refused NAME PORT STATEDIR REMUS-FLAGS...: remus must exit 3 and the
# state directory stay empty.
refused() {
	local name=$1 port=$2 dir=$3 st=0
	shift 3
	timeout 60 remus -i 50 --timeout 2000 "$@" proc:"$GUEST_PID" \
		"127.0.0.1:$port" >"$T/remus-$name.log" 2>&1 || st=$?
	[ $st -eq 3 ] || fail "$name: remus exited $st, not 3 (backup refused)"
	[ -z "$(ls -A "$dir")" ] || fail "$name: files in the state directory: $(ls -A "$dir")"
}

port=$(pick_port)
start_remusd remusd-psk "$port" "$T/st-psk" --psk-file "$C/psk-server"
refused wrong-key "$port" "$T/st-psk" --psk-file "$C/psk-wrong"
wait_for 10 grep -q "TLS handshake with 127.0.0.1:[0-9]* failed: .*a wrong key" \
	"$T/remusd-psk.log" || fail "wrong-key: remusd did not log the refusal"
refused unknown-id "$port" "$T/st-psk" --psk-file "$C/psk-unknown"
wait_for 10 grep -q "TLS handshake with 127.0.0.1:[0-9]* failed: .*unknown PSK identity \"stranger\"" \
	"$T/remusd-psk.log" || fail "unknown-id: remusd did not log the refusal"
refused x509-vs-psk "$port" "$T/st-psk" --tls-creds "$C/x509"
refused plain-vs-psk "$port" "$T/st-psk" --insecure
n=$(grep -c "TLS handshake with 127.0.0.1:[0-9]* failed" "$T/remusd-psk.log")
[ "$n" -eq 4 ] || fail "psk: $n handshake failures logged, want 4"
! grep -q "connected\|session over" "$T/remusd-psk.log" ||
	fail "psk: a session started for a refused peer"
echo "psk: wrong key, unknown identity, X.509, plain: refused at the handshake"

port=$(pick_port)
start_remusd remusd-x509 "$port" "$T/st-x509" --tls-creds "$C/x509"
refused other-ca-client "$port" "$T/st-x509" --tls-creds "$C/x509-badclient"
wait_for 10 grep -q "TLS handshake with 127.0.0.1:[0-9]* failed" "$T/remusd-x509.log" ||
	fail "other-ca-client: remusd did not log the refusal"
refused psk-vs-x509 "$port" "$T/st-x509" --psk-file "$C/psk-client"
refused wrong-name "$port" "$T/st-x509" --tls-creds "$C/x509" \
	--tls-hostname backup.example.org
grep -q "TLS handshake with .* failed: .*does not match" "$T/remus-wrong-name.log" ||
	fail "wrong-name: remus did not say why"
! grep -q "connected\|session over" "$T/remusd-x509.log" ||
	fail "x509: a session started for a refused peer"
echo "x509: client of another CA, PSK, wrong host name: refused at the handshake"

port=$(pick_port)
start_remusd remusd-bad "$port" "$T/st-bad" --tls-creds "$C/x509-badserver"
refused other-ca-server "$port" "$T/st-bad" --tls-creds "$C/x509"
grep -q "TLS handshake with .* failed: .*issuer is unknown" \
	"$T/remus-other-ca-server.log" || fail "other-ca-server: remus did not say why"
echo "x509: a backup of another CA refused by remus"

# A TLS primary at an insecure backup: remusd sees no stream header.
port=$(pick_port)
start_remusd remusd-plain "$port" "$T/st-plain" --insecure
refused psk-vs-plain "$port" "$T/st-plain" --psk-file "$C/psk-client"
grep -q "insecure connection" "$T/remusd-plain.log" ||
	fail "remusd --insecure did not warn about the connection"
echo PASS
