#!/usr/bin/env bash
# The systemd units (contrib/systemd/): installed by cmake --install into a
# temporary prefix, their ExecStart programs exist there, and
# systemd-analyze verify passes without a single warning (remus@.service
# through an instance, remus@g1.service).  This machine's PID 1 is not
# systemd, so the units are not started here: their two shell guards
# (ExecStartPre, ExecStopPost) are run by sh as systemd would run them,
# with $$, %i and %% expanded the same way, to check the failover marks:
# remus@ leaves one after exit 4, 5, 6 or a signal and none after 0, 3 or
# 8, and refuses to start while it is there; remusd refuses to start while
# a guest it activated still runs.
. "$(dirname "$0")/functions.sh"
requires systemd-analyze --version
requires cmake --version

P="$T/prefix"
cmake --install "$REMUS_BUILD" --prefix "$P" >"$T/install.log" 2>&1 ||
	fail "cmake --install failed"
U="$P/lib/systemd/system"
for u in remusd.service remus@.service; do
	[ -f "$U/$u" ] || fail "$u not installed in $U"
	# The program, or (remusd.service reads /etc/remus/guests through
	# /bin/sh) the one the shell execs.
	for prog in $(sed -n -e 's/^ExecStart=\/bin\/sh -c .*exec \([^ ]*\).*/\1/p' \
	    -e '/^ExecStart=\/bin\/sh /d' -e 's/^ExecStart=\([^ ]*\).*/\1/p' "$U/$u"); do
		[ -x "$prog" ] || fail "$u: ExecStart program $prog does not exist"
		case $prog in "$P"/*) ;; *) fail "$u: $prog is not under the prefix" ;; esac
	done
done
ln -s remus@.service "$U/remus@g1.service"
# Documentation=man:... is checked with man(1): the prefix's pages.
status=0
(cd "$U" && MANPATH="$P/share/man" systemd-analyze verify \
	./remusd.service ./remus@g1.service) >"$T/verify.log" 2>&1 || status=$?
cat "$T/verify.log"
[ $status -eq 0 ] || fail "systemd-analyze verify exited $status"
[ -s "$T/verify.log" ] && fail "systemd-analyze verify printed warnings"
echo "systemd-analyze verify: clean"

# The restart policies docs/operations.md explains.
grep -qx 'Restart=no' "$U/remus@.service" &&
	grep -qx 'RestartForceExitStatus=3' "$U/remus@.service" ||
	fail "remus@: restart only after exit 3"
grep -qx 'Restart=on-failure' "$U/remusd.service" &&
	grep -qx 'RestartPreventExitStatus=1 4 6 78' "$U/remusd.service" &&
	grep -qx 'KillMode=process' "$U/remusd.service" ||
	fail "remusd: restart policy or KillMode changed"

# unit_sh UNIT KEY INSTANCE: the shell command of KEY=/bin/sh -c '...' as
# systemd passes it to sh (specifiers and $$ resolved), with the state
# directory moved under $T.
unit_sh() {
	sed -n "s|^$2=/bin/sh -c '\\(.*\\)'\$|\\1|p" "$U/$1" |
		sed -e "s|%i|$3|g" -e 's|%%|%|g' -e 's|\$\$|$|g' \
		    -e "s|/var/lib/remus/primary|$T/primary|g"
}
mkdir -p "$T/primary"
pre=$(unit_sh remus@.service ExecStartPre g1)
post=$(unit_sh remus@.service ExecStopPost g1)
[ -n "$pre" ] && [ -n "$post" ] || fail "remus@: no ExecStartPre/ExecStopPost"
sh -c "$pre" || fail "remus@: start refused without a mark"
for end in exited:0 exited:3 exited:8 exited:1 exited:4 exited:5 exited:6 exited:9 killed:KILL dumped:SEGV; do
	rm -f "$T/primary/g1.failover"
	EXIT_CODE=${end%%:*} EXIT_STATUS=${end#*:} sh -c "$post" ||
		fail "remus@ ExecStopPost failed after $end"
	case $end in
	exited:4 | exited:5 | exited:6 | exited:9 | killed:* | dumped:*)
		[ -s "$T/primary/g1.failover" ] || fail "no failover mark after $end"
		s=0
		sh -c "$pre" 2>"$T/pre.err" || s=$?
		[ $s -ne 0 ] || fail "remus@ started again after $end"
		grep -q "may have taken guest g1 over" "$T/pre.err" ||
			fail "refusal does not say why: $(cat "$T/pre.err")"
		;;
	*)
		[ ! -e "$T/primary/g1.failover" ] || fail "failover mark after $end"
		sh -c "$pre" || fail "remus@ refused to start after $end"
		;;
	esac
	echo "remus@ after $end: $([ -e "$T/primary/g1.failover" ] && echo "marked, start refused" || echo "no mark, may start")"
done

pre=$(unit_sh remusd.service ExecStartPre x)
mkdir -p "$T/state/g2"
STATE_DIR=$T/state sh -c "$pre" || fail "remusd refused an empty state directory"
sleep 300 &
live=$!
cleanup_fn "kill $live 2>/dev/null"
echo 999999999 >"$T/state/proc-guest.pid"
STATE_DIR=$T/state sh -c "$pre" || fail "remusd refused a dead activated guest"
echo $live >"$T/state/g2/proc-guest.pid"
s=0
STATE_DIR=$T/state sh -c "$pre" 2>"$T/pre.err" || s=$?
[ $s -ne 0 ] || fail "remusd started next to a guest it activated"
grep -q "activated here still runs (pid $live" "$T/pre.err" || fail "remusd refusal: $(cat "$T/pre.err")"
echo "remusd: start refused while an activated guest runs: $(cat "$T/pre.err")"
echo "PASS"
