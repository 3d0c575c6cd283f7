#!/bin/sh
# tests/tls-creds.sh DIR -- TLS credentials for the tests and the bench,
# made with psktool and certtool (gnutls-bin) into DIR:
#
#   psk-server        "primary" and "other", the backup's table
#   psk-client        "primary" with the right key
#   psk-wrong         "primary" with another key
#   psk-unknown       "stranger", an identity the backup does not know
#   x509/             CA A: ca-cert.pem, server-*.pem (localhost, 127.0.0.1,
#                     ::1), client-*.pem -- QEMU's tls-creds-x509 layout
#   x509-badclient/   trusts CA A, but its client certificate is CA B's
#   x509-badserver/   trusts CA A, but its server certificate is CA B's
#   x509-other/       trusts CA A, its client certificate CA A's too but
#                     of another primary (CN "remus test intruder a")
#
# Exits 77 (skip) with a message when the tools are missing: scripts/setup
# installs gnutls-bin.
set -eu

dir=${1:?usage: tls-creds.sh DIR}
for t in psktool certtool; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "tls-creds: $t not found (apt-get install gnutls-bin," \
		    "or scripts/setup)" >&2
		exit 77
	}
done
mkdir -p "$dir"
cd "$dir"
umask 077

psk() {	# FILE USER
	psktool -u "$2" -p "$1" -s 32 >/dev/null
}
psk psk-server primary
psk psk-server other
grep '^primary:' psk-server > psk-client
psk psk-wrong primary
psk psk-unknown stranger

key() {
	certtool --generate-privkey --key-type=ecdsa --outfile "$1" \
	    >/dev/null 2>&1
}
ca() {	# NAME
	key "$1-ca-key.pem"
	cat > "$1-ca.tmpl" <<-EOF
	cn = "remus test CA $1"
	ca
	cert_signing_key
	expiration_days = 30
	EOF
	certtool --generate-self-signed --load-privkey "$1-ca-key.pem" \
	    --template "$1-ca.tmpl" --outfile "$1-ca-cert.pem" >/dev/null 2>&1
}
cert() {	# CA ROLE [CN]
	key "$1-$2-key.pem"
	if [ -n "${3:-}" ]; then
		cat > "$1-$2.tmpl" <<-EOF
		cn = "$3"
		tls_www_client
		signing_key
		expiration_days = 30
		EOF
	elif [ "$2" = server ]; then
		cat > "$1-$2.tmpl" <<-EOF
		cn = "remusd test backup $1"
		dns_name = "localhost"
		ip_address = "127.0.0.1"
		ip_address = "::1"
		tls_www_server
		signing_key
		expiration_days = 30
		EOF
	else
		cat > "$1-$2.tmpl" <<-EOF
		cn = "remus test primary $1"
		tls_www_client
		signing_key
		expiration_days = 30
		EOF
	fi
	certtool --generate-certificate --load-privkey "$1-$2-key.pem" \
	    --load-ca-certificate "$1-ca-cert.pem" \
	    --load-ca-privkey "$1-ca-key.pem" --template "$1-$2.tmpl" \
	    --outfile "$1-$2-cert.pem" >/dev/null 2>&1
}
ca a
ca b
for c in a b; do
	cert $c server
	cert $c client
done
cert a intruder "remus test intruder a"

mkdir -p x509 x509-badclient x509-badserver x509-other
for d in x509 x509-badclient x509-badserver x509-other; do
	cp a-ca-cert.pem $d/ca-cert.pem
done
for r in server client; do
	cp a-$r-cert.pem x509/$r-cert.pem
	cp a-$r-key.pem x509/$r-key.pem
done
cp b-client-cert.pem x509-badclient/client-cert.pem
cp b-client-key.pem x509-badclient/client-key.pem
cp b-server-cert.pem x509-badserver/server-cert.pem
cp b-server-key.pem x509-badserver/server-key.pem
cp a-intruder-cert.pem x509-other/client-cert.pem
cp a-intruder-key.pem x509-other/client-key.pem
