#!/usr/bin/env bash
# Bad input gets one line naming what was wrong and the documented,
# distinct exit status (remus --help, man/remus.8): 1 usage, 2 guest not
# found, 3 backup unreachable; remusd likewise (1 usage, 2 config).
. "$(dirname "$0")/functions.sh"

expect() {	# status cmd...: exactly one line on stderr, given status
	local want=$1 got=0
	shift
	"$@" >"$T/out" 2>"$T/err" </dev/null || got=$?
	[ "$got" -eq "$want" ] || fail "$*: status $got, want $want: $(cat "$T/err")"
	grep -v '^remus: proc: pid [0-9]*: attached' "$T/err" >"$T/err1" || true
	[ "$(wc -l <"$T/err1")" -eq 1 ] ||
		fail "$*: want one line, got: $(cat "$T/err1")"
	echo "ok $want: $* -> $(cat "$T/err1")"
}

expect 1 remus -x proc:1 host
expect 1 remus -i 10 -b proc:1
expect 1 remus -i abc -b proc:1
expect 1 remus -n proc:1 host
expect 1 remus -d -b proc:1
expect 1 remus
expect 1 remus proc:1
expect 1 remus --netbuf-driver bogus -b proc:1
expect 1 remus --timeout 5 -b proc:1
expect 2 remus -b xyz:1
# a bare name is a Xen domain, as on the xl remus command line: with no
# Xen here, one line says so (or that this build has no Xen driver)
expect 2 remus -b somedomain
expect 2 remus -b proc:999999999
expect 1 remusd
expect 1 remusd --receive --listen :1
expect 1 remusd --bogus
expect 1 remusd -t 0 --receive
expect 1 remusd --receive -D "$T/st"
expect 1 remusd --fence true --no-fence --receive -D "$T/st"
expect 2 remusd --no-fence --listen 999.1.1.1:5 -D "$T/st"
expect 2 remusd --no-fence --receive -D /proc/version/x
remusd --no-fence -n --listen 127.0.0.1:0 -D "$T/st" 2>/dev/null || fail "remusd -n"

if [ "$(id -u)" = 0 ]; then
	start_guest g remus-dirtier --pages 10 --working-set 100 --arena-size 4M
	port=$(pick_port)
	expect 3 remus proc:"$GUEST_PID" 127.0.0.1:$port
	expect 3 remus -s '' proc:"$GUEST_PID" "false"
fi
remus --help | grep -q "Exit status" || fail "--help lacks the exit statuses"
remusd --help | grep -q "Exit status" || fail "remusd --help lacks the exit statuses"
echo PASS
