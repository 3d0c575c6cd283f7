# tests/functional/tls-lib.sh -- helpers for the tls-*.sh tests (sourced,
# not a test): functions.sh, credentials made by tests/tls-creds.sh into
# $C, a remusd --listen started and waited for, a protected dirtier.
. "$(dirname "$0")/functions.sh"
requires_root
: "${REMUS_SRC:?run through ctest (REMUS_SRC unset)}"

C="$T/creds"
st=0
sh "$REMUS_SRC/tests/tls-creds.sh" "$C" >"$T/creds.log" 2>&1 || st=$?
if [ $st -eq 77 ]; then
	echo "SKIP: $(cat "$T/creds.log")"
	exit 77
fi
[ $st -eq 0 ] || fail "tests/tls-creds.sh: $(cat "$T/creds.log")"

# The identities the credentials give a primary, as remusd --guest-peer
# names them: the PSK identity of psk-client, and the CN and the DN of
# x509/client-cert.pem.
PEER_PSK=primary
PEER_CN="remus test primary a"
PEER_DN="CN=remus test primary a"

# start_remusd NAME PORT STATEDIR FLAGS...: remusd --listen on 127.0.0.1,
# waited for.
start_remusd() {
	local name=$1 port=$2 dir=$3
	shift 3
	start "$name" remusd --no-fence --listen "127.0.0.1:$port" -D "$dir" "$@"
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." ||
		fail "$name did not listen"
}

# committed DIR: the replica's committed epoch (0 if none).
committed() {
	cat "$1/proc-epoch" 2>/dev/null || echo 0
}

# wait_epochs DIR N [SECS]: until DIR has committed epoch N or later.
wait_epochs() {
	wait_for "${3:-30}" sh -c "[ \$(cat '$1/proc-epoch' 2>/dev/null || echo 0) -ge $2 ]"
}

# The PSK as gnutls-cli wants it: the hex key of FILE's first line.
psk_hex() {
	head -1 "$1" | cut -d: -f2
}
