#!/usr/bin/env bash
# dname.sh -- --dname: the name a guest gets when the backup activates it.
# The backup's configuration decides: remusd --listen --dname web1-b, a
# kill -9 of remus, and the activated proc guest is logged and pidfile'd
# as web1-b (statedir/NAME/web1-b.pid, the same pid as proc-guest.pid); a
# second concurrent guest on that remusd gets web1-b-2.  The primary may
# ask where it writes the backup's command line: remus -s ... --dname
# web1-c runs remusd --receive --dname web1-c.  Refusals: a TCP backup
# (it decides), -s "" (the command is the caller's), a bad name at
# remusd.
. "$(dirname "$0")/functions.sh"
requires_root

activated_as() {	# STATEDIR NAME LOG: wait for the activation, check it
	local dir=$1 name=$2 log=$3
	wait_for 20 test -s "$dir/proc-guest.pid" || fail "$name: not activated"
	wait_for 5 test -s "$dir/$name.pid" || fail "$name: no $dir/$name.pid"
	[ "$(cat "$dir/$name.pid")" = "$(cat "$dir/proc-guest.pid")" ] ||
		fail "$name: $name.pid and proc-guest.pid differ"
	grep -q "replica: activated $name from epoch" "$log" || fail "$name: not logged under its name"
	echo "$name: activated as pid $(cat "$dir/$name.pid"), logged and pidfile'd as $name"
}

# Guests g1 and g2, configured with the commands start_guest runs; each
# replica is in st/NAME.
CMD1=$(guest_cmd g1 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M)
CMD2=$(guest_cmd g2 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M)
port=$(pick_port)
start remusd remusd --no-fence --insecure --listen 127.0.0.1:$port -D "$T/st" --dname web1-b \
	--guest "g1=$CMD1" --guest "g2=$CMD2"
wait_for 10 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd did not listen"
start_guest g1 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
start remus1 remus -i 50 --insecure --name g1 proc:"$GUEST_PID" 127.0.0.1:$port
R1=$LAST_PID
wait_for 20 test -s "$T/st/g1/proc-epoch" || fail "first guest: nothing committed"
start_guest g2 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
start remus2 remus -i 50 --insecure --name g2 proc:"$GUEST_PID" 127.0.0.1:$port
R2=$LAST_PID
wait_for 20 test -s "$T/st/g2/proc-epoch" || fail "second guest: nothing committed"
kill -9 $R1 $R2
activated_as "$T/st/g1" web1-b "$T/remusd.log"
activated_as "$T/st/g2" web1-b-2 "$T/remusd.log"

# The primary asks, through the command line it writes: "env X=1"
# stands in for "ssh host".
start_guest g3 remus-dirtier --pages 100 --working-set 1000 --arena-size 8M
start remus3 remus -i 50 -s env --dname web1-c \
	--remusd-args "--no-fence -D $T/st3 --guest 'g3=$GUEST_CMD'" --name g3 proc:"$GUEST_PID" X=1
R3=$LAST_PID
wait_for 20 test -s "$T/st3/g3/proc-epoch" || fail "web1-c: nothing committed"
grep -qF "remusd --receive --no-fence -D $T/st3 --guest 'g3=$GUEST_CMD' --dname web1-c" "$T/remus3.log" ||
	fail "web1-c: --dname not passed to remusd"
kill -9 $R3
activated_as "$T/st3/g3" web1-c "$T/remus3.log"

refuse() {	# WHAT ARGS...
	local want=$1 st=0
	shift
	"$@" >/dev/null 2>"$T/refuse.err" </dev/null || st=$?
	[ $st -eq 1 ] && [ "$(wc -l <"$T/refuse.err")" -eq 1 ] &&
		grep -qF -- "$want" "$T/refuse.err" ||
		fail "$*: exit $st: $(cat "$T/refuse.err")"
}
refuse "a remusd --listen names guests with its own --dname" \
	remus --insecure --dname x proc:1 127.0.0.1:1
refuse "the command is yours" remus -s '' --dname x proc:1 "remusd --receive"
refuse "--dname a/b: want" remusd --no-fence --receive --dname a/b
refuse "--dname -x: want" remusd --no-fence --receive --dname -x
echo "refusals: TCP backup, -s '', bad names"
echo PASS
