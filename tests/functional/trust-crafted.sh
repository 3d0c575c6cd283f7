#!/usr/bin/env bash
# trust-crafted.sh -- the attacker's 240-byte stream (issue 12): a stream
# header naming the proc driver, a config whose command is /bin/sh -c CMD,
# HELLO, one empty full epoch, then a close.  Sent to remusd --insecure and
# to remusd with a PSK the attacker holds, while a legitimate guest is
# protected by the same remusd.  CMD touches a file: it must never exist.
# Each variant must be refused with one line naming why, and the legitimate
# guest must keep its replica (same session, epochs still committing, the
# replica equal to the guest's arena) whatever the attacker names:
#   - a guest this backup was not told about (proc:1);
#   - the legitimate guest's name with /bin/sh as its program;
#   - the legitimate guest's name and its own program (an impersonation:
#     the guest is being fed, so a second connection is refused).
. "$(dirname "$0")/tls-lib.sh"
requires remus-arena-sum /dev/null

PWN="$T/pwned"

# attack PORT LABEL [trust-peer flags...]: the crafted stream; prints
# remus-trust-peer's line.
attack() {
	local port=$1 label=$2
	shift 2
	remus-trust-peer -w 10000 -c "touch $PWN" "$@" crafted "127.0.0.1:$port" \
		>"$T/attack-$label.out" 2>&1 || fail "$label: remus-trust-peer: $(cat "$T/attack-$label.out")"
	echo "$label: $(cat "$T/attack-$label.out")"
}

run_mode() {	# MODE SERVER-FLAGS -- CLIENT-FLAGS -- ATTACKER-FLAGS
	local mode=$1 sflags=() cflags=() aflags=() port e0 e1 bytes
	shift
	while [ "$1" != -- ]; do sflags+=("$1"); shift; done
	shift
	while [ "$1" != -- ]; do cflags+=("$1"); shift; done
	shift
	aflags=("$@")
	port=$(pick_port)
	local st="$T/st-$mode" gcmd
	gcmd=$(guest_cmd "g-$mode" remus-dirtier --pages 100 --working-set 1000 \
		--arena-size 8M --checksum-log "$T/$mode.sums")
	start_remusd "remusd-$mode" "$port" "$st" --guest "legit=$gcmd" "${sflags[@]}"
	start_guest "g-$mode" remus-dirtier --pages 100 --working-set 1000 \
		--arena-size 8M --checksum-log "$T/$mode.sums"
	local G=$GUEST_PID
	start "remus-$mode" remus -i 50 --name legit "${cflags[@]}" proc:"$G" "127.0.0.1:$port"
	local R=$LAST_PID
	wait_epochs "$st/legit" 5 || fail "$mode: legit: 5 epochs not committed"
	e0=$(committed "$st/legit")

	attack "$port" "$mode-unknown" "${aflags[@]}" -n proc:1
	grep -q 'guest "proc:1" refused: not configured here' "$T/remusd-$mode.log" ||
		fail "$mode: unknown guest not refused with one line"
	grep -q "error: not configured here" "$T/attack-$mode-unknown.out" ||
		fail "$mode: unknown guest: no ERROR to the peer"

	attack "$port" "$mode-shell" "${aflags[@]}" -n legit
	# The legit guest is being fed: the name is taken before the program
	# is even looked at.
	grep -q 'guest "legit" refused: guest legit is already being fed' "$T/remusd-$mode.log" ||
		fail "$mode: a second connection for legit was not refused"

	attack "$port" "$mode-impersonate" "${aflags[@]}" -n legit \
		-p "$(command -v remus-dirtier)" -a "remus-dirtier --pages 1"
	[ "$(grep -c 'guest "legit" refused: guest legit is already being fed' "$T/remusd-$mode.log")" -ge 2 ] ||
		fail "$mode: impersonation not refused"

	# A guest configured here but not being fed, with another program.
	kill -INT $R
	wait $R || fail "$mode: remus exited $? after SIGINT"
	wait_for 10 grep -q "session over: clean end" "$T/remusd-$mode.log" ||
		fail "$mode: legit did not end cleanly"
	e1=$(committed "$st/legit")
	# Of legit's size (2048 pages): another size is refused before the
	# program is looked at (trust-peers.sh).
	attack "$port" "$mode-program" "${aflags[@]}" -n legit -P 2048
	grep -q 'guest "legit" refused: the stream names program /bin/sh' "$T/remusd-$mode.log" ||
		fail "$mode: another program for legit was not refused"
	grep -q "error: refused by the backup's configuration" "$T/attack-$mode-program.out" ||
		fail "$mode: program refusal: no ERROR to the peer"

	# A new connection's header and HELLO for the kept guest, with its own
	# program, then nothing: the kept replica is not replaced.
	sum0=$(remus-arena-sum "$st/legit/proc-arena.img")
	remus-trust-peer -w 10000 -n legit -p "$(command -v remus-dirtier)" -a "remus-dirtier" \
		-P 2048 "${aflags[@]}" hello "127.0.0.1:$port" >"$T/attack-$mode-hello.out" 2>&1 ||
		fail "hello: $(cat "$T/attack-$mode-hello.out")"
	echo "$mode-hello: $(cat "$T/attack-$mode-hello.out")"
	wait_for 10 sh -c "[ \$(grep -c 'session over' '$T/remusd-$mode.log') -ge 6 ]" ||
		fail "$mode: the header-only session did not end"
	[ "$(remus-arena-sum "$st/legit/proc-arena.img")" = "$sum0" ] ||
		fail "$mode: a header-only connection changed the kept replica"

	sleep 0.5
	[ ! -e "$PWN" ] || fail "$mode: the attacker's command ran"
	ls "$st"/*/proc-guest.pid 2>/dev/null && fail "$mode: something was activated"
	[ "$(committed "$st/legit")" = "$e1" ] || fail "$mode: legit's replica changed after its session"
	kill -9 "$G"
	e=$(replica_matches "$st/legit" "$T/$mode.sums") || fail "$mode: legit: $e"
	[ "$e" -gt "$e0" ] || fail "$mode: legit stopped committing during the attacks"
	[ "$(ls "$st")" = legit ] || fail "$mode: the attacks left directories: $(ls "$st")"
	bytes=$(sed -n 's/.*sent \([0-9]*\) bytes.*/\1/p' "$T/attack-$mode-unknown.out")
	echo "$mode: crafted stream of $bytes bytes x4 refused, nothing ran;" \
		"legit went on from epoch $e0 to $e, replica == arena"
}

run_mode insecure --insecure -- --insecure -- 
# With a key the backup holds, and --any-peer: the identity check
# (--guest-peer, trust-peers.sh) would refuse "other" before any of the
# checks below; here they are shown to hold behind it, for a backup that
# lets every identity of its PSK file feed every guest.
run_mode psk --psk-file "$C/psk-server" --any-peer -- --psk-file "$C/psk-client" -- \
	--psk-file "$C/psk-server" --psk-identity other
echo PASS
