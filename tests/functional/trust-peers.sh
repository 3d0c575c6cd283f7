#!/usr/bin/env bash
# trust-peers.sh -- a guest is fed only by the TLS identities listed for it
# (remusd --guest-peer, remus.conf's [guest NAME] peer), and its kept
# replica is not replaced by a guest of another memory size (issue 12,
# "sessions keyed by guest identity").
#
# For PSK and for X.509: guest legit is protected from identity A (PSK
# "primary", certificate CN "remus test primary a") and ends cleanly.
# Then, against the replica it kept, with a fence that records every run:
#   - the crafted stream (header, HELLO naming legit with legit's own
#     program and size, one empty full epoch, close) from identity B (PSK
#     "other", a key the backup holds; a certificate of the same CA with
#     CN "remus test intruder a") is refused at HELLO with one line naming
#     the guest and the identity, and an ERROR to the peer;
#   - the same from A with another memory size is refused too;
#   - with --allow-resize, A's header of another size passes HELLO, but
#     a session that never commits replaces nothing;
# and after each, the guest's directory is as it was (file names, sizes,
# times; image checksum, epoch), no fence ran, nothing was activated.
# A then reconnects and commits again.  Also: remusd with TLS refuses to
# start with a --guest and no --guest-peer (unless --any-peer), and a
# --guest-peer without TLS.
. "$(dirname "$0")/tls-lib.sh"
requires remus-arena-sum /dev/null

DIRTIER=$(command -v remus-dirtier)
PAGES=2048	# legit's arena: 8 MiB of 4 KiB pages

# The startup rules, one line each.
st=0
remusd -n --no-fence --listen 127.0.0.1:1 -D "$T/st-n" --psk-file "$C/psk-server" \
	--guest "legit=$DIRTIER" >"$T/n1.out" 2>&1 || st=$?
[ $st -eq 1 ] && grep -q "guest legit: no --guest-peer legit=ID" "$T/n1.out" ||
	fail "TLS and a guest without peers: status $st: $(cat "$T/n1.out")"
echo "no --guest-peer: $(cat "$T/n1.out")"
remusd -n --no-fence --listen 127.0.0.1:1 -D "$T/st-n" --psk-file "$C/psk-server" \
	--guest "legit=$DIRTIER" --any-peer >"$T/n2.out" 2>&1 ||
	fail "--any-peer refused: $(cat "$T/n2.out")"
st=0
remusd -n --no-fence --listen 127.0.0.1:1 -D "$T/st-n" --insecure \
	--guest "legit=$DIRTIER" --guest-peer legit=primary >"$T/n3.out" 2>&1 || st=$?
[ $st -eq 1 ] && grep -q "without --psk-file or --tls-creds no peer has an identity" "$T/n3.out" ||
	fail "--guest-peer under --insecure: status $st: $(cat "$T/n3.out")"
echo "--guest-peer --insecure: $(cat "$T/n3.out")"

# snapshot DIR: what a change to the guest's directory would show.
snapshot() {
	(cd "$1" && find . -printf '%p %s %T@\n' | sort) || return 1
	remus-arena-sum "$1/proc-arena.img"
	cat "$1/proc-epoch" "$1/proc-guest-name" "$1/proc-session"
}

# replica DIR: the kept replica's files and content (not their times:
# a session that passes HELLO sets its activation reserve aside anew).
replica() {
	(cd "$1" && ls) || return 1
	remus-arena-sum "$1/proc-arena.img"
	cat "$1/proc-epoch" "$1/proc-guest-name" "$1/proc-session"
}

# unchanged MODE LABEL: legit's directory as it was, no fence, no guest.
unchanged() {
	local mode=$1 label=$2
	snapshot "$ST/legit" >"$T/snap-$mode-$label" || fail "$mode: $label: no replica left"
	diff "$T/snap-$mode" "$T/snap-$mode-$label" >"$T/diff-$mode-$label" ||
		fail "$mode: $label changed legit's replica: $(cat "$T/diff-$mode-$label")"
	[ ! -e "$T/fenced-$mode" ] || fail "$mode: $label: the fence ran"
	! ls "$ST"/*/proc-guest.pid 2>/dev/null || fail "$mode: $label: something was activated"
	[ "$(ls "$ST")" = legit ] || fail "$mode: $label left directories: $(ls "$ST")"
}

# sessions_over MODE N: until remusd has ended N sessions.
sessions_over() {
	wait_for 20 sh -c "[ \$(grep -c 'session over' '$T/remusd-$1.log') -ge $2 ]" ||
		fail "$1: session $2 did not end"
}

# protect MODE LABEL CLIENT-FLAGS...: remus for legit from identity A,
# 5 epochs more than the replica had, then a clean END.
protect() {
	local mode=$1 label=$2 e0 R status=0
	shift 2
	e0=$(committed "$ST/legit")
	start "remus-$mode-$label" remus -i 50 --name legit "$@" proc:"$G" "127.0.0.1:$PORT"
	R=$LAST_PID
	wait_epochs "$ST/legit" $((e0 + 5)) || fail "$mode: $label: legit did not commit"
	kill -INT $R
	wait $R || status=$?
	[ $status -eq 0 ] || fail "$mode: $label: remus exited $status after SIGINT"
}

# attack MODE LABEL TRUST-PEER-ARGS...: remus-trust-peer, its line kept.
attack() {
	local mode=$1 label=$2
	shift 2
	remus-trust-peer -w 10000 -n legit -p "$DIRTIER" -a remus-dirtier "$@" \
		>"$T/attack-$mode-$label.out" 2>&1 ||
		fail "$mode: $label: remus-trust-peer: $(cat "$T/attack-$mode-$label.out")"
	echo "$mode: $label: $(cat "$T/attack-$mode-$label.out")"
}

run_mode() {	# MODE IDENTITY-B-WORDS -- SERVER-FLAGS -- A-FLAGS -- B-FLAGS
	local mode=$1 bname=$2 sflags=() aflags=() bflags=() n gcmd e
	shift 2
	[ "$1" = -- ] && shift
	while [ "$1" != -- ]; do sflags+=("$1"); shift; done
	shift
	while [ "$1" != -- ]; do aflags+=("$1"); shift; done
	shift
	bflags=("$@")
	PORT=$(pick_port)
	ST="$T/st-$mode"
	start_guest "g-$mode" remus-dirtier --pages 100 --working-set 1000 \
		--arena-size 8M --checksum-log "$T/$mode.sums"
	G=$GUEST_PID
	start "remusd-$mode" remusd --listen "127.0.0.1:$PORT" -D "$ST" \
		--fence "touch $T/fenced-$mode" --fence-timeout 2000 "${sflags[@]}" \
		--guest "legit=$GUEST_CMD"
	D=$LAST_PID
	wait_for 10 sh -c "ss -Htln 'sport = :$PORT' | grep -q ." ||
		fail "$mode: remusd did not listen"

	protect "$mode" first "${aflags[@]}"
	sessions_over "$mode" 1
	grep -q "session over: clean end" "$T/remusd-$mode.log" ||
		fail "$mode: legit did not end cleanly"
	snapshot "$ST/legit" >"$T/snap-$mode" || fail "$mode: no replica"
	n=1

	# Identity B, legit's own program and size: refused at HELLO.
	attack "$mode" other "${bflags[@]}" -P $PAGES crafted "127.0.0.1:$PORT"
	n=$((n + 1)); sessions_over "$mode" $n
	grep -q "guest \"legit\" refused: $bname may not feed guest legit (--guest-peer)" \
		"$T/remusd-$mode.log" || fail "$mode: identity B not refused at HELLO with one line"
	grep -q "error: $bname may not feed guest legit" "$T/attack-$mode-other.out" ||
		fail "$mode: identity B got no ERROR"
	unchanged "$mode" other

	# Identity A, another memory size: refused at HELLO.
	attack "$mode" resize "${aflags[@]}" -P 16 crafted "127.0.0.1:$PORT"
	n=$((n + 1)); sessions_over "$mode" $n
	grep -q 'guest "legit" refused: its replica kept here (epoch [0-9]*, 8192 KiB) is of another size than this stream.s (16 pages of 4096, 64 KiB): not replaced' \
		"$T/remusd-$mode.log" || fail "$mode: another size not refused at HELLO"
	grep -q "error: the backup keeps a replica of this guest of another memory size" \
		"$T/attack-$mode-resize.out" || fail "$mode: another size got no ERROR"
	unchanged "$mode" resize

	# Identity A again: protected, from where it was.
	protect "$mode" again "${aflags[@]}"
	n=$((n + 1)); sessions_over "$mode" $n
	[ "$(grep -c 'session over: clean end' "$T/remusd-$mode.log")" -eq 2 ] ||
		fail "$mode: A's second session did not end cleanly"
	kill -9 "$G"
	e=$(replica_matches "$ST/legit" "$T/$mode.sums") || fail "$mode: legit: $e"
	[ ! -e "$T/fenced-$mode" ] || fail "$mode: the fence ran"
	kill -TERM $D
	wait $D || fail "$mode: remusd exited $? on SIGTERM"
	echo "$mode: B refused, another size refused, replica untouched;" \
		"A committed again up to epoch $e, replica == arena"
}

run_mode psk 'psk identity "other"' -- --psk-file "$C/psk-server" --guest-peer legit=primary -- \
	--psk-file "$C/psk-client" -- \
	--psk-file "$C/psk-server" --psk-identity other
run_mode x509 'certificate "CN=remus test intruder a"' -- --tls-creds "$C/x509" \
	--guest-peer "legit=$PEER_CN" -- \
	--tls-creds "$C/x509" -- \
	--tls-creds "$C/x509-other"

# remus.conf's [guest NAME] peer, and --allow-resize: a header of another
# size from A passes HELLO, and, never committing, replaces nothing.
PORT=$(pick_port)
ST="$T/st-x509"
cat >"$T/remus.conf" <<EOF
[remusd]
allow-resize = yes

[guest legit]
command = $DIRTIER --pages 1
peer = $PEER_CN
EOF
start remusd-conf remusd --config "$T/remus.conf" --listen "127.0.0.1:$PORT" -D "$ST" \
	--tls-creds "$C/x509" --fence "touch $T/fenced-conf"
wait_for 10 sh -c "ss -Htln 'sport = :$PORT' | grep -q ." || fail "conf: remusd did not listen"
replica "$ST/legit" >"$T/snap-conf" || fail "conf: no replica"
attack conf other --tls-creds "$C/x509-other" -P $PAGES hello "127.0.0.1:$PORT"
grep -q 'guest "legit" refused: certificate "CN=remus test intruder a" may not feed guest legit' \
	"$T/remusd-conf.log" || fail "conf: the peer key did not restrict legit"
attack conf resize --tls-creds "$C/x509" -P 16 hello "127.0.0.1:$PORT"
wait_for 10 sh -c "[ \$(grep -c 'session over' '$T/remusd-conf.log') -ge 2 ]" ||
	fail "conf: the sessions did not end"
grep -q 'guest "legit": the kept replica (epoch [0-9]*, 8388608 bytes) is replaced by one of 65536 bytes at this session.s first commit (--allow-resize)' \
	"$T/remusd-conf.log" || fail "conf: --allow-resize did not let the session in"
# The session's half-built image goes when the session is freed, just
# after its "session over".
wait_for 10 test ! -e "$ST/legit/proc-arena.new" ||
	fail "conf: the session that never committed left proc-arena.new"
replica "$ST/legit" >"$T/snap-conf-after" || fail "conf: no replica left"
diff "$T/snap-conf" "$T/snap-conf-after" >"$T/diff-conf" ||
	fail "conf: a session that never committed changed the replica: $(cat "$T/diff-conf")"
[ ! -e "$T/fenced-conf" ] || fail "conf: the fence ran"
echo "conf: [guest legit] peer restricts it; --allow-resize admits another size," \
	"which replaces nothing before it commits"
echo PASS
