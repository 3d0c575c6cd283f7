#!/usr/bin/env bash
# remus.conf(5) read by the programs: a bad file is one line FILE:LINE:
# what, exit 78 (remus and remusd alike); a good one reaches the options
# (remusd -n prints what it will use; remus protects the guest its
# section names, a command-line flag overriding the file's).
. "$(dirname "$0")/functions.sh"
requires_root

bad() {	# line what prog args...: FILE (= $T/bad.conf) refused at LINE
	local line=$1 what=$2 got=0
	shift 2
	"$@" >"$T/out" 2>"$T/err" </dev/null || got=$?
	[ "$got" -eq 78 ] || fail "$*: status $got, want 78: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "$*: want one line: $(cat "$T/err")"
	grep -qF -- "$T/bad.conf:$line: $what" "$T/err" ||
		fail "$*: want \"$T/bad.conf:$line: $what\", got: $(cat "$T/err")"
	echo "ok 78: $(cat "$T/err")"
}

# Every key of the table (common/conf.c) is in remus.conf(5).
if [ -n "${REMUS_SRC:-}" ] && command -v mandoc >/dev/null; then
	mandoc -Tascii "$REMUS_SRC/man/remus.conf.5" | sed 's/.\x08//g' >"$T/conf.5.txt"
	n=0
	for k in $(sed -n 's/^\t{ "\([a-z-]*\)", .*/\1/p' "$REMUS_SRC/common/conf.c" | sort -u); do
		grep -qw -- "$k" "$T/conf.5.txt" || fail "key $k is not in remus.conf.5"
		n=$((n + 1))
	done
	[ $n -ge 40 ] || fail "only $n keys found in common/conf.c"
	echo "remus.conf.5 documents all $n keys"
fi

for prog in remus remusd; do
	printf '[remus]\ninterval = 100\n# comment\nwhatever = 1\n' >"$T/bad.conf"
	bad 4 'unknown key "whatever"' $prog --config "$T/bad.conf"
	printf '[remusd]\nlisten = :5270\ntimeout = soon\n' >"$T/bad.conf"
	bad 3 'timeout = soon: want a number in 50..3600000' $prog --config "$T/bad.conf"
	printf '[guest a]\nbackup = b\n\n[guest a]\n' >"$T/bad.conf"
	bad 4 'duplicate section [guest a] (first at line 1)' $prog --config "$T/bad.conf"
	printf '[remus]\nnetbuf-driver = tc\n' >"$T/bad.conf"
	bad 2 'netbuf-driver = tc: want one of plug|nfqueue|auto' $prog --config="$T/bad.conf"
done
# Issue 14: the keys of the setting flags that had none.  A bad value of
# each is refused by both programs, by its line, exit 78 ('^' separates
# the section, the line and what the error says).
while IFS='^' read -r sect kv what; do
	for prog in remus remusd; do
		printf '[%s]\n# the next line is wrong\n%s\n' "$sect" "$kv" >"$T/bad.conf"
		bad 3 "$what" $prog --config "$T/bad.conf"
	done
done <<'KEYS'
remus^trigger = never^trigger = never: want one of output|interval
remus^max-paused-pct = 95^max-paused-pct = 95: want a number in 1..90
remus^max-rate = 0^max-rate = 0: want a number in 1..2000
remus^bandwidth = fast^bandwidth = fast: want a positive decimal number
remus^device-tool = /bin/true^device-tool = /bin/true: want TYPE=PATH
remus^device-tool-timeout = 0^device-tool-timeout = 0: want a number in 1..3600000
remus^no-guardian = maybe^no-guardian = maybe: want yes or no
remus^ctl-socket =^ctl-socket: empty value
remus^dname = ""^dname: empty value
remusd^max-sessions = 0^max-sessions = 0: want a number in 1..100000
remusd^max-guest-mem = 1K^max-guest-mem = 1K: want a size in bytes (K/M/G suffixes), at least 1024K
remusd^max-disk = much^max-disk = much: want a size
remusd^hello-timeout = 10^hello-timeout = 10: want a number in 100..600000
remusd^allow-bridge = ,^allow-bridge: an empty list
remusd^allow-kernel =^allow-kernel: empty value
remusd^allow-device-model = ""^allow-device-model: empty value
remusd^allow-script = , ,^allow-script: an empty list
remusd^device-tool = x=^device-tool = x=: want TYPE=PATH
remusd^device-tool-timeout = soon^device-tool-timeout = soon: want a number in 1..3600000
remusd^run-dir =^run-dir: empty value
remusd^no-guardian = 2^no-guardian = 2: want yes or no
guest g^fence-timeout = 0^fence-timeout = 0: want a number in 1..3600000
guest g^fence =^fence: empty value
remus^fence = true^fence: not a key of [remus]
KEYS

# --help answers whatever the file says.
remus --config "$T/bad.conf" --help >/dev/null || fail "remus --help with a bad file"
remusd --config "$T/bad.conf" --version >/dev/null || fail "remusd --version with a bad file"
got=0
remus --config "$T/none.conf" -b proc:1 2>"$T/err" || got=$?
[ $got -eq 78 ] && grep -qx "$T/none.conf: No such file or directory" "$T/err" ||
	fail "missing --config file: status $got: $(cat "$T/err")"
echo "ok 78: $(cat "$T/err")"

# The files people copy parse: README's Xen quickstart and remus.conf(5)'s
# example (remusd -n --receive reads every section, leaving out the
# listen address and the credentials, which name files of the host).
if [ -n "${REMUS_SRC:-}" ]; then
	awk '/^6\. \*\*`\/etc\/remus\/remus.conf`/{f=1} f&&/```ini/{g=1;next} g&&/```/{exit} g' \
		"$REMUS_SRC/README.md" | sed 's/^   //' >"$T/readme.conf"
	sed -n '/^\.Sh EXAMPLES/,/^\.Ed/p' "$REMUS_SRC/man/remus.conf.5" |
		sed -n '/^# \/etc/,/^\.Ed/p' | grep -v '^\.Ed' >"$T/man.conf"
	mkdir -p "$T/ex"
	for f in readme man; do
		grep -q '^\[guest ' "$T/$f.conf" || fail "no example found in $f: $(head -3 "$T/$f.conf")"
		remusd --config "$T/$f.conf" -n --receive -D "$T/ex" </dev/null 2>"$T/err" ||
			fail "the $f example does not parse: $(cat "$T/err")"
		echo "$f example: $(cat "$T/err")"
	done
fi

# remusd: [remusd]'s keys are its settings; the command line's win.
port=$(pick_port)
cat >"$T/remus.conf" <<CONF
# the backup's settings
[remusd]
listen = 127.0.0.1:$port
insecure = yes
no-fence = yes
state-dir = $T/state
timeout = 1234
CONF
remusd --config "$T/remus.conf" -n 2>"$T/err" || fail "remusd -n: $(cat "$T/err")"
grep -qF "configuration OK (state directory $T/state, --listen 127.0.0.1:$port insecure, timeout 1234 ms)" "$T/err" ||
	fail "remusd did not take [remusd]: $(cat "$T/err")"
echo "remusd --config: $(cat "$T/err")"
remusd --config "$T/remus.conf" -n -t 777 2>"$T/err" || fail "remusd -n -t: $(cat "$T/err")"
grep -qF "timeout 777 ms" "$T/err" || fail "-t does not override timeout: $(cat "$T/err")"
# --receive leaves the file's listen and credentials out.
remusd --config "$T/remus.conf" -n --receive 2>"$T/err" </dev/null ||
	fail "remusd --receive with a [remusd] that listens: $(cat "$T/err")"
grep -qF -- "--receive, timeout 1234 ms" "$T/err" || fail "--receive: $(cat "$T/err")"
echo "remusd --config --receive: $(cat "$T/err")"

# A guest's command is remusd --guest NAME=COMMAND; a remusd without
# --guest refuses the key by its line rather than drop it.
cp "$T/remus.conf" "$T/cmd.conf"
printf '\n[guest kv]\ncommand = remus-kvd --listen 127.0.0.1:7000\n' >>"$T/cmd.conf"
line=$(grep -n '^command' "$T/cmd.conf" | cut -d: -f1)
st=0
remusd --config "$T/cmd.conf" -n 2>"$T/err" || st=$?
if remusd --help 2>&1 | grep -q -- '--guest'; then
	[ $st -eq 0 ] || fail "remusd with --guest refused command: $(cat "$T/err")"
	echo "remusd --config with command: $(cat "$T/err")"
else
	[ $st -eq 78 ] && grep -qF "$T/cmd.conf:$line: command: this remusd has no --guest" "$T/err" ||
		fail "command without --guest: status $st: $(cat "$T/err")"
	echo "ok 78: $(cat "$T/err")"
fi

# remusd takes every [remusd] key of a setting flag (its own option
# parser checks each again: a key that became a wrong flag fails here),
# and each guest's fence and fence-timeout as --guest-fence*.
cat >"$T/trace-tool" <<EOF
#!/bin/sh
echo "\$*" >>"$T/trace"
exit 0
EOF
chmod +x "$T/trace-tool"
cat >"$T/all.conf" <<CONF
[remusd]
listen = 127.0.0.1:$port
insecure = yes
state-dir = $T/state
fence = exit 1
fence-timeout = 3000
no-guardian = yes
run-dir = $T/run
ctl-socket = none
max-sessions = 4
max-guest-mem = 2G
max-disk = 64M
hello-timeout = 3000
allow-bridge = xenbr0, xenbr1
allow-bridge = xenbr2
allow-kernel = /boot/vmlinuz-a /boot/initrd-a
allow-device-model = /usr/lib/xen/bin/qemu-system-i386
allow-script = /etc/xen/scripts/vif-bridge
device-tool = trace=$T/trace-tool
device-tool-timeout = 900
dname = twin

[guest web]
fence = "fence_virsh -n web -o off"
fence-timeout = 20000

[guest db]
fence-timeout = 5000
CONF
mkdir -p "$T/run"
remusd --config "$T/all.conf" -n 2>"$T/err" || fail "remusd -n, every key: $(cat "$T/err")"
grep -qF "remusd: guest web: fence fence_virsh -n web -o off, F 20000 ms" "$T/err" &&
	grep -qF "remusd: guest db: fence exit 1, F 5000 ms" "$T/err" ||
	fail "guest fences not taken: $(cat "$T/err")"
echo "remusd -n, every key: $(tr '\n' ' ' <"$T/err")"
printf '[remusd]\nno-fence = yes\nlisten = :1\ninsecure = yes\n[guest db]\nfence-timeout = 5000\n' >"$T/nf.conf"
st=0
remusd --config "$T/nf.conf" -n 2>"$T/err" || st=$?
[ $st -eq 1 ] && grep -qF "guest db has no fence to time" "$T/err" ||
	fail "fence-timeout with no fence: status $st: $(cat "$T/err")"

# remus GUESTNAME: the section's domain, blackhole and interval; -i on the
# command line overrides the file's (30 s: no second epoch in 3 s).
start_guest g remus-dirtier --pages 50 --working-set 500 --arena-size 8M
cat >>"$T/remus.conf" <<CONF

[remus]
interval = 30000
verbose = 0

[guest web]
domain = proc:$GUEST_PID
blackhole = yes
stats-json = $T/stats.json
CONF
start remus remus --config "$T/remus.conf" -i 100 web
R=$LAST_PID
sleep 3
kill -INT $R
st=0
wait $R || st=$?
grep -q "not supported" "$T/remus.log" && { echo "SKIP: $(cat "$T/remus.log")"; exit 77; }
[ $st -eq 0 ] || fail "remus web exited $st: $(tail -3 "$T/remus.log")"
n=$(wc -l <"$T/stats.json")
echo "remus --config web -i 100: $n epochs in 3 s"
[ "$n" -ge 5 ] || fail "only $n epochs: -i 100 did not override interval = 30000"
# The file alone: interval 30 s, one (the full) epoch only.
rm -f "$T/stats.json"
start remus2 remus --config "$T/remus.conf" web
R=$LAST_PID
sleep 2
kill -INT $R
wait $R || fail "remus web (file only) failed: $(tail -3 "$T/remus2.log")"
n=$(wc -l <"$T/stats.json")
echo "remus --config web: $n epoch(s) in 2 s at interval = 30000"
[ "$n" -le 2 ] || fail "$n epochs: interval = 30000 not applied"

# remus takes every key of a setting flag in a guest's section: the
# device tool runs (steps 0, 1, 2), no control socket is made
# (ctl-socket = none).  (bandwidth: with the backup below; -b has no
# link to cap.  dname: only with -s; remusd -n above takes it.)
rm -f "$T/stats.json" "$T/trace"
cat >>"$T/remus.conf" <<CONF

[guest every]
domain = proc:$GUEST_PID
blackhole = yes
interval = 100
stats-json = $T/stats.json
trigger = interval
max-paused-pct = 30
max-rate = 100
run-dir = $T/run
ctl-socket = none
device-tool = trace=$T/trace-tool
device-tool-timeout = 2000
no-guardian = yes
CONF
start remus3 remus --config "$T/remus.conf" -v every
R=$LAST_PID
wait_for 20 grep -q -- "-step 2" "$T/trace" || fail "every: device tool not run at step 2: $(tail -3 "$T/remus3.log")"
ls "$T/run"/remus-*.sock >/dev/null 2>&1 && fail "every: ctl-socket = none made a socket"
kill -INT $R
wait $R || fail "remus every failed: $(tail -3 "$T/remus3.log")"
grep -q -- "-step 0 " "$T/trace" && grep -q -- "-step 1 " "$T/trace" ||
	fail "every: steps 0 and 1 not run: $(cat "$T/trace")"
echo "remus --config every: $(wc -l <"$T/stats.json") epochs, device tool steps: $(awk '{print $4}' "$T/trace" | sort | uniq -c | tr -s ' \n' ' ')"
kill -9 "$GUEST_PID" 2>/dev/null || true

# A guest's own fence, from its section: remusd's [remusd] fence fails
# ('exit 1'), the guest's succeeds and is the one run; its fence-timeout
# is the F announced to remus.  The same file is remus's: the section's
# domain, backup, interval and bandwidth.
start_guest g7 remus-dirtier --pages 50 --working-set 500 --arena-size 4M
port=$(pick_port)
cat >"$T/fence.conf" <<CONF
[remusd]
listen = 127.0.0.1:$port
insecure = yes
state-dir = $T/st7
timeout = 500
fence = exit 1
fence-timeout = 1500

[guest g7]
command = $GUEST_CMD
fence = echo "\$REMUS_FENCE_NAME" >$T/fenced; true
fence-timeout = 2500
domain = proc:$GUEST_PID
backup = 127.0.0.1:$port
insecure = yes
interval = 50
bandwidth = 1000
CONF
mkdir -p "$T/st7"
start remusd7 remusd --config "$T/fence.conf"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "g7: remusd did not listen"
start remus7 remus --config "$T/fence.conf" -vv g7
R7=$LAST_PID
wait_for 20 test -s "$T/st7/g7/proc-epoch" || fail "g7: nothing committed: $(tail -3 "$T/remusd7.log")"
grep -q "guest g7: fenced by its own --guest-fence .*, F 2500 ms" "$T/remusd7.log" ||
	fail "g7: remusd did not take the guest's fence: $(grep g7 "$T/remusd7.log" | head -5)"
grep -q "fence 2500 ms" "$T/remus7.log" || fail "g7: F 2500 not announced: $(grep -i fence "$T/remus7.log" | head -3)"
grep -qi "bandwidth" "$T/remus7.log" || fail "g7: bandwidth = 1000 not taken: $(head -5 "$T/remus7.log")"
kill -9 "$R7"
kill -9 "$GUEST_PID"
wait_for 20 test -s "$T/st7/g7/proc-guest.pid" || fail "g7: not activated: $(tail -5 "$T/remusd7.log")"
[ "$(cat "$T/fenced")" = g7 ] || fail "g7: the guest's fence did not run"
grep -q "FENCING -> ACTIVATING: fenced" "$T/remusd7.log" || fail "g7: no fenced line"
echo "[guest g7] fence: run instead of [remusd]'s, F 2500 ms announced, activated"
echo PASS
