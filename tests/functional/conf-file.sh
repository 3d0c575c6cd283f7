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
# --help answers whatever the file says.
remus --config "$T/bad.conf" --help >/dev/null || fail "remus --help with a bad file"
remusd --config "$T/bad.conf" --version >/dev/null || fail "remusd --version with a bad file"
got=0
remus --config "$T/none.conf" -b proc:1 2>"$T/err" || got=$?
[ $got -eq 78 ] && grep -qx "$T/none.conf: No such file or directory" "$T/err" ||
	fail "missing --config file: status $got: $(cat "$T/err")"
echo "ok 78: $(cat "$T/err")"

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
echo PASS
