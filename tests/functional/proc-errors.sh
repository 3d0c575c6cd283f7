#!/bin/bash
# proc-errors.sh -- bad input to the proc guest programs and tools gets one
# clear line and a non-zero status (1 for a usage error, as everywhere).
. "$(dirname "$0")/proc-lib.sh"

# one_line STATUS_WANT PATTERN CMD...: CMD fails with status STATUS_WANT
# ("nz" = any non-zero) and its stderr is one line matching PATTERN.
one_line() {
	local want=$1 pat=$2 st=0 err
	shift 2
	err=$("$@" 2>&1 >/dev/null) || st=$?
	if [ "$want" = nz ]; then
		[ $st -ne 0 ] || fail "$* succeeded"
	else
		[ $st -eq "$want" ] || fail "$*: status $st, want $want"
	fi
	[ "$(printf '%s\n' "$err" | grep -c .)" -ge 1 ] || fail "$*: no message"
	printf '%s\n' "$err" | grep -q -- "$pat" || fail "$*: message '$err' lacks '$pat'"
}

one_line nz "--pages 5 exceeds --working-set 2" remus-dirtier --pages 5 --working-set 2
one_line nz "--working-set x" remus-dirtier --working-set x
one_line nz "--arena-size" remus-dirtier --pages 1 --working-set 4096 --arena-size 1M
one_line nz "--listen 127.0.0.1" remus-kvd --listen 127.0.0.1
one_line 1 "usage" remus-kvd
one_line nz "--arena-size 1k" remus-kvd --listen 127.0.0.1:0 --arena-size 1k
one_line nz "resume" remus-kvd --listen 127.0.0.1:0 --resume /nonexistent
echo garbage >"$T/garbage"
one_line nz "not an arena" remus-kvd --listen 127.0.0.1:0 --resume "$T/garbage"
one_line 1 "usage" remus-arena-sum
one_line 1 "No such file" remus-arena-sum /nonexistent
one_line 1 "usage" remus-proc-snap
one_line 1 "no such process" remus-proc-snap 999999999 "$T/x"
one_line 1 "no proc guest listens" remus-proc-snap $$ "$T/x"
one_line 1 "expected pagemap-scan" remus-proc-snap -m bogus 1 "$T/x"

# A dirtier's arena is not a kvd's.
if [ "$(id -u)" = 0 ]; then
	start_guest d remus-dirtier --pages 1 --working-set 16
	remus-proc-snap -n 1 -k "$GUEST_PID" "$T/rep" >/dev/null 2>"$T/snap.err" ||
		fail "snapshot of the dirtier"
	one_line nz "arena of another program" remus-kvd --listen 127.0.0.1:0 \
	    --resume "$T/rep/proc-arena.img"
fi
echo "PASS"
