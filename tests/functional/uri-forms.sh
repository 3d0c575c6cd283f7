#!/usr/bin/env bash
# uri-forms.sh -- every address form of the backup (checkpoint/uri.h)
# against a real remusd: host:port, [::1]:port, tcp://, tls:// (PSK) and
# ssh:// (a fake ssh on PATH that records its arguments and runs the
# command here), remusd --listen tcp:// and tls://.  Each protects a
# dirtier for a few epochs, stops with SIGINT and checks the replica
# against the guest's arena.  Then every refusal: exit 1, one line.
. "$(dirname "$0")/tls-lib.sh"
requires remus-arena-sum /dev/null

# The guest of case NAME is g-NAME, run as "gcmd NAME" says: the remusd
# of the case is configured with it (--guest g-NAME=...), remus names it
# (--name g-NAME), its replica is STATEDIR/g-NAME.
gcmd() {
	guest_cmd "g-$1" remus-dirtier --pages 200 --working-set 2000 \
		--arena-size 8M --checksum-log "$T/$1.sums"
}

run_one() {	# NAME STATEDIR BACKUP-LOG BACKUP [remus flags...]
	local name=$1 dir=$2/g-$1 blog=$3 backup=$4 e status=0
	shift 4
	start_guest "g-$name" remus-dirtier --pages 200 --working-set 2000 \
		--arena-size 8M --checksum-log "$T/$name.sums"
	[ "$GUEST_CMD" = "$(gcmd "$name")" ] || fail "gcmd is not start_guest's command"
	start "remus-$name" remus -i 50 "$@" --name "g-$name" proc:"$GUEST_PID" "$backup"
	local R=$LAST_PID
	wait_epochs "$dir" 4 || fail "$name: 4 epochs not committed"
	kill -INT $R
	wait $R || status=$?
	[ $status -eq 0 ] || fail "$name: remus exited $status after SIGINT"
	kill -9 "$GUEST_PID"
	# remus exits once END is written: the backup may still commit.
	wait_for 10 grep -q "not activated" "$blog" ||
		fail "$name: backup did not see a clean END"
	e=$(replica_matches "$dir" "$T/$name.sums") || fail "$name: $e"
	echo "$name ($backup): replica == guest's arena at epoch $e"
}

# host:port and tcp:// to a plain listener given as tcp://.
port=$(pick_port)
start remusd-tcp remusd --no-fence --insecure --listen "tcp://127.0.0.1:$port/" -D "$T/st-tcp" \
	--guest "g-hostport=$(gcmd hostport)"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd tcp:// did not listen"
run_one hostport "$T/st-tcp" "$T/remusd-tcp.log" "127.0.0.1:$port" --insecure
port=$(pick_port)
start remusd-tcp2 remusd --no-fence --insecure --listen "127.0.0.1:$port" -D "$T/st-tcp2" \
	--guest "g-tcpuri=$(gcmd tcpuri)"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd 2 did not listen"
run_one tcpuri "$T/st-tcp2" "$T/remusd-tcp2.log" "tcp://127.0.0.1:$port/" --insecure
grep -q "tcp:127.0.0.1:$port: insecure connection" "$T/remus-tcpuri.log" ||
	fail "tcpuri: not connected to 127.0.0.1:$port"

if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
	port=$(pick_port)
	start remusd-v6 remusd --no-fence --insecure --listen "tcp://[::1]:$port/" -D "$T/st-v6" \
		--guest "g-v6=$(gcmd v6)"
	wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd v6 did not listen"
	run_one v6 "$T/st-v6" "$T/remusd-v6.log" "[::1]:$port" --insecure
else
	echo "no IPv6 loopback: [v6]:port case skipped"
fi

# tls:// both ends, PSK.
port=$(pick_port)
start remusd-tls remusd --no-fence --psk-file "$C/psk-server" --listen "tls://127.0.0.1:$port/" -D "$T/st-tls" \
	--guest "g-tls=$(gcmd tls)" --guest-peer g-tls=primary
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd tls:// did not listen"
run_one tls "$T/st-tls" "$T/remusd-tls.log" "tls://127.0.0.1:$port/" \
	--psk-file "$C/psk-client"
grep -q "TLS 1.3, authenticated" "$T/remus-tls.log" || fail "tls: remus did not log TLS"

# ssh://user@host:port/ runs "ssh -p PORT user@host remusd --receive ARGS":
# the fake ssh records that and runs the rest here.
mkdir -p "$T/bin"
cat >"$T/bin/ssh" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$T/ssh.args"
while :; do
	case \$1 in
	-p | -o | -i | -l) shift 2 ;;
	-*) shift ;;
	*) break ;;
	esac
done
shift
exec "\$@"
EOF
chmod +x "$T/bin/ssh"
PATH="$T/bin:$PATH" run_one ssh "$T/st-ssh" "$T/remus-ssh.log" \
	"ssh://op@backup1.example:2222/" \
	--remusd-args "--no-fence -D $T/st-ssh --guest 'g-ssh=$(gcmd ssh)'"
grep -qxF -- "-p 2222 op@backup1.example remusd --receive --no-fence -D $T/st-ssh --guest g-ssh=$(gcmd ssh)" "$T/ssh.args" ||
	fail "ssh: ran \"$(cat "$T/ssh.args")\""
# Without a user or port, and -s naming the ssh to run.
: >"$T/ssh.args"
PATH="$T/bin:$PATH" run_one ssh2 "$T/st-ssh2" "$T/remus-ssh2.log" "ssh://backup1/" \
	-s "ssh -oBatchMode=yes" --remusd-args "--no-fence -D $T/st-ssh2 --guest 'g-ssh2=$(gcmd ssh2)'"
grep -qxF -- "-oBatchMode=yes backup1 remusd --receive --no-fence -D $T/st-ssh2 --guest g-ssh2=$(gcmd ssh2)" "$T/ssh.args" ||
	fail "ssh2: ran \"$(cat "$T/ssh.args")\""
echo "ssh: ran $(cat "$T/ssh.args")"

# Refusals: exit 1 and one line saying what.
refuse() {	# WHAT-IN-THE-LINE PROGRAM ARGS...
	local want=$1 st=0
	shift
	"$@" >"$T/refuse.out" 2>"$T/refuse.err" </dev/null || st=$?
	[ $st -eq 1 ] || fail "$*: exit $st, want 1 ($(cat "$T/refuse.err"))"
	[ "$(wc -l <"$T/refuse.err")" -eq 1 ] || fail "$*: not one line: $(cat "$T/refuse.err")"
	grep -qF -- "$want" "$T/refuse.err" || fail "$*: \"$(cat "$T/refuse.err")\" does not say \"$want\""
	n_refused=$((n_refused + 1))
}
n_refused=0
refuse 'unknown scheme "ftp"' remus --insecure proc:1 ftp://backup1/
refuse 'unknown scheme "http"' remus --insecure proc:1 http://backup1:80/
refuse 'port 0: want a number in 1..65535' remus --insecure proc:1 backup1:0
refuse 'port 65536' remus --insecure proc:1 backup1:65536
refuse 'port 70000' remus --insecure proc:1 tcp://backup1:70000/
refuse 'port 0' remus proc:1 ssh://backup1:0/
refuse 'empty host' remus --insecure proc:1 tcp://:5270/
refuse 'empty host' remus --insecure proc:1 :5270
refuse 'empty host' remus proc:1 ssh://op@/
refuse 'path "/guest"' remus --insecure proc:1 tcp://backup1/guest
refuse 'only goes with ssh://' remus --insecure proc:1 tcp://op@backup1/
refuse "unexpected character ';'" remus proc:1 'ssh://backup1;reboot/'
refuse 'tls:// and --insecure exclude each other' remus --insecure proc:1 tls://backup1/
refuse 'tls:// needs --psk-file or --tls-creds' remus proc:1 tls://backup1/
refuse '-s and tcp:// exclude each other' remus -s ssh proc:1 tcp://backup1/
refuse 'ssh:// needs no --psk-file' remus --psk-file "$C/psk-client" proc:1 ssh://backup1/
refuse 'unknown scheme "udp"' remusd --no-fence --insecure --listen udp://127.0.0.1:1/
refuse 'port 0' remusd --no-fence --insecure --listen tcp://127.0.0.1:0/
refuse 'nothing to listen for' remusd --no-fence --insecure --listen ssh://h/
refuse 'tls:// needs --psk-file or --tls-creds' remusd --no-fence --insecure --listen tls://127.0.0.1:1/
echo "$n_refused malformed addresses refused with one line, exit 1"
echo PASS
