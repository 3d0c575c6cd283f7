#!/usr/bin/env bash
# Bad input gets one line naming what was wrong and the documented,
# distinct exit status (remus --help, man/remus.8): 1 usage, 2 guest not
# found, 3 backup unreachable; remusd likewise (1 usage, 2 config); 1 is
# usage in remus-diskd and remus-stream too.
. "$(dirname "$0")/functions.sh"

expect() {	# status cmd...: exactly one line on stderr, given status
	local want=$1 got=0
	shift
	"$@" >"$T/out" 2>"$T/err" </dev/null || got=$?
	[ "$got" -eq "$want" ] || fail "$*: status $got, want $want: $(cat "$T/err")"
	grep -v ' remus: info: proc: pid [0-9]*: attached' "$T/err" >"$T/err1" || true
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
# xl remus flags that mean nothing here are refused, saying why (-e has
# its meaning: tests/functional/no-guardian.sh)
expect 1 remus -N /etc/xen/scripts/remus-netbuf-setup -b proc:1
expect 1 remus -p -b proc:1
expect 1 remus -c -b proc:1
# several disks: each named, once, names as the stream carries them
expect 1 remus --disk xvda= -b proc:1
expect 1 remus --disk =img -b proc:1
expect 1 remus --disk g:xvda=img -b proc:1
expect 1 remus --disk 'x y=img' -b proc:1
expect 1 remus --disk xvda=a.img --disk-server xvda=s.sock -b proc:1
expect 1 remus --disk a.img --disk xvdb=b.img -b proc:1
grep -q "name each" "$T/err" || fail "unnamed beside named: $(cat "$T/err")"
# ports are 1..65535 (getaddrinfo would wrap 99999 to 34463)
expect 1 remus proc:1 host:99999
expect 1 remus proc:1 host:0
expect 1 remus proc:1 '[::1]:65536'
# --stats-json is opened before the guest is looked at: status 1, not 2
expect 1 remus -b --stats-json /proc/version/x proc:999999999
grep -q "stats-json /proc/version/x" "$T/err" || fail "--stats-json: $(cat "$T/err")"
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
expect 2 remusd --no-fence --insecure --listen 999.1.1.1:5 -D "$T/st"
expect 2 remusd --no-fence --receive -D /proc/version/x
expect 1 remusd --no-fence --insecure --listen :70000 -D "$T/st"
expect 1 remusd --no-fence --insecure --listen 127.0.0.1:0 -D "$T/st"
expect 1 remusd --no-fence --receive -D "$T/st" --disk .g:xvda=img
expect 1 remusd --no-fence --receive -D "$T/st" --disk g:xvda=a --disk g:xvda=b
expect 1 remusd --no-fence --receive -D "$T/st" --disk-sync-listen :7001
expect 1 remusd --no-fence --receive -D "$T/st" --disk g:=a --disk-sync-listen g=host:0
expect 1 remusd --no-fence --receive -D "$T/st" --disk g:=a --disk-sync-listen .g=:7001
: >"$T/file"
expect 2 remusd --no-fence --receive -D "$T/file"
grep -q "state directory $T/file: Not a directory" "$T/err" || fail "-D FILE: $(cat "$T/err")"
# What the backup runs and accepts is its own configuration (trust).
expect 1 remusd --no-fence --receive -D "$T/st" --guest "g/1=true"
expect 1 remusd --no-fence --receive -D "$T/st" --guest ".g=true"
expect 1 remusd --no-fence --receive -D "$T/st" --guest "g=/nonexistent/prog -x"
expect 1 remusd --no-fence --receive -D "$T/st" --guest "g="
expect 1 remusd --no-fence --receive -D "$T/st" --guest "g=true" --guest "g=false"
expect 1 remusd --no-fence --receive -D "$T/st" --guest nameonly
expect 1 remusd --no-fence --receive -D "$T/st" --max-sessions 0
expect 1 remusd --no-fence --receive -D "$T/st" --max-guest-mem 12Q
expect 1 remusd --no-fence --receive -D "$T/st" --hello-timeout 5
expect 1 remus -b --name "a b" proc:1
expect 1 remus-diskd --bogus x.img
expect 1 remus-diskd x.img
expect 1 remus-stream --bogus
expect 1 remus-stream
expect 1 remus-stream frobnicate -
remusd --no-fence --insecure -n --listen "127.0.0.1:$(pick_port)" -D "$T/st" 2>/dev/null || fail "remusd -n"

if [ "$(id -u)" = 0 ]; then
	start_guest g remus-dirtier --pages 10 --working-set 100 --arena-size 4M
	port=$(pick_port)
	expect 3 remus --insecure proc:"$GUEST_PID" 127.0.0.1:$port
	expect 3 remus -s '' proc:"$GUEST_PID" "false"
	# an unwritable --stats-json fails before the guest is attached
	expect 1 remus -b --stats-json /proc/version/x proc:"$GUEST_PID"
	! grep -q attached "$T/err" || fail "--stats-json: the guest was attached first"
fi
remus --help | grep -q "Exit status" || fail "--help lacks the exit statuses"
remusd --help | grep -q "Exit status" || fail "remusd --help lacks the exit statuses"
echo PASS
