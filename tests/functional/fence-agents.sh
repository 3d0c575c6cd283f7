#!/usr/bin/env bash
# The shipped fence agent for proc guests, against a real remus -b and a
# real proc guest: remus keeps its pids file in --run-dir; fence-remus-proc
# (--via 'sh -c': the "primary" is this host) kills both and exits 0 only
# once both are gone; run again it finds them gone (exit 0); a --via that
# cannot reach the host fails; a pid since reused by another process is not
# taken for the guest.
. "$(dirname "$0")/functions.sh"
requires_root
: "${REMUS_SRC:?}"
agent="$REMUS_SRC/contrib/fence/fence-remus-proc"
run="$T/run"

start_guest dirtier remus-dirtier --pages 50 --working-set 500 --arena-size 4M
start remus remus -b -i 100 --run-dir "$run" proc:"$GUEST_PID"
R=$LAST_PID
pids="$run/proc_$GUEST_PID.pids"
wait_for 20 test -s "$pids" || {
	grep -q "not supported" "$T/remus.log" && { echo "SKIP: $(cat "$T/remus.log")"; exit 77; }
	fail "no $pids"
}
echo "pids file: $(cat "$pids")"
grep -qE "^remus_pid=$R remus_start=[0-9]+ guest_pid=$GUEST_PID guest_start=[0-9]+ guest=proc:$GUEST_PID\$" "$pids" ||
	fail "pids file: $(cat "$pids")"
[ "$(stat -c %a "$run")" = 755 ] || fail "run dir mode $(stat -c %a "$run")"
# Protection runs (epochs) before the fence.
wait_for 20 grep -q . "$run/proc_$GUEST_PID.pids" || fail "remus not running"

alive() {	# PID: running and not a zombie
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}
alive "$R" || fail "remus not running"
alive "$GUEST_PID" || fail "guest not running"

# Unreachable primary: non-zero, nothing killed.
status=0
REMUS_FENCE_NAME=proc:$GUEST_PID "$agent" --via false --run-dir "$run" \
	>"$T/fence0.log" 2>&1 || status=$?
cat "$T/fence0.log"
[ $status -ne 0 ] || fail "--via false: exit 0"
# A --via that "succeeds" without running the check proves nothing.
status=0
REMUS_FENCE_NAME=proc:$GUEST_PID "$agent" --via true --run-dir "$run" \
	>>"$T/fence0.log" 2>&1 || status=$?
[ $status -ne 0 ] || fail "--via true: exit 0"
alive "$R" && alive "$GUEST_PID" || fail "a failed fence killed something"

# The fence.
status=0
REMUS_FENCE_NAME=proc:$GUEST_PID "$agent" --via 'sh -c' --run-dir "$run" \
	>"$T/fence1.log" 2>&1 || status=$?
cat "$T/fence1.log"
[ $status -eq 0 ] || fail "fence-remus-proc exited $status"
! alive "$R" || fail "remus $R still running after the fence"
! alive "$GUEST_PID" || fail "guest $GUEST_PID still running after the fence"
grep -q "killed" "$T/fence1.log" || fail "the agent did not say what it killed"
status=0
wait "$R" || status=$?
[ $status -eq 137 ] || fail "remus ended with $status, not SIGKILL"
# Not an orderly exit: the file stays for a later fence to verify with.
[ -s "$pids" ] || fail "pids file gone after kill -9"

# Again: both already gone.
status=0
REMUS_FENCE_NAME=proc:$GUEST_PID "$agent" --via 'sh -c' --run-dir "$run" \
	>"$T/fence2.log" 2>&1 || status=$?
cat "$T/fence2.log"
[ $status -eq 0 ] || fail "second fence (already gone) exited $status"
grep -q "already gone" "$T/fence2.log" || fail "second fence: not 'already gone'"

# A pid in use again by another process (start time differs) is left alone.
sleep 300 &
S=$!
_kill_pids="$_kill_pids $S"
sed "s/guest_pid=[0-9]*/guest_pid=$S/" "$pids" >"$run/proc_reused.pids"
status=0
"$agent" --guest proc:reused --via 'sh -c' --run-dir "$run" \
	>"$T/fence3.log" 2>&1 || status=$?
cat "$T/fence3.log"
[ $status -eq 0 ] || fail "fence with a reused pid exited $status"
alive "$S" || fail "the agent killed pid $S, which is not the guest"
kill "$S"

# No pids file: nothing to verify with, not a success.
status=0
"$agent" --guest proc:1 --via 'sh -c' --run-dir "$run" >"$T/fence4.log" 2>&1 ||
	status=$?
[ $status -ne 0 ] || fail "no pids file: exit 0"

# An orderly stop removes the file.
start_guest dirtier2 remus-dirtier --pages 50 --working-set 500 --arena-size 4M
start remus2 remus -b -i 100 --run-dir "$run" proc:"$GUEST_PID"
R=$LAST_PID
wait_for 20 test -s "$run/proc_$GUEST_PID.pids" || fail "no pids file (2)"
# The pids file is written at attach, before remus takes SIGINT over: a
# background job of a script starts with SIGINT ignored, so one sent
# earlier is lost (seen once under ASan: the wait below hung).  Epochs
# run once the handlers are in place.
wait_for 20 grep -q "full checkpoint" "$T/remus2.log" || fail "remus -b did not start epochs"
kill -INT "$R"
status=0
wait "$R" || status=$?
[ $status -eq 0 ] || fail "remus -b exited $status after SIGINT"
[ ! -e "$run/proc_$GUEST_PID.pids" ] || fail "pids file kept after exit 0"

# fence-remus-xen against a stand-in xl (state: a file per domain).
xagent="$REMUS_SRC/contrib/fence/fence-remus-xen"
mkdir -p "$T/xbin" "$T/xl"
cat >"$T/xbin/xl" <<XL
#!/bin/sh
[ -e "$T/xl/broken" ] && exit 1
case \$1 in
list) exit 0 ;;
domid) [ -e "$T/xl/\$2" ] ;;
destroy) rm -f "$T/xl/\$2" ;;
*) exit 1 ;;
esac
XL
chmod +x "$T/xbin/xl"
touch "$T/xl/web1"
xenfence() {
	PATH="$T/xbin:$PATH" REMUS_FENCE_NAME=xen:web1 "$xagent" --via 'sh -c' "$@"
}
status=0; xenfence >"$T/xen1.log" 2>&1 || status=$?
cat "$T/xen1.log"
[ $status -eq 0 ] && [ ! -e "$T/xl/web1" ] || fail "fence-remus-xen: exit $status"
status=0; xenfence >"$T/xen2.log" 2>&1 || status=$?
[ $status -eq 0 ] && grep -q "already gone" "$T/xen2.log" ||
	fail "fence-remus-xen, domain gone: exit $status"
touch "$T/xl/web1" "$T/xl/broken"
status=0; xenfence >"$T/xen3.log" 2>&1 || status=$?
[ $status -eq 3 ] || fail "fence-remus-xen, xl not working: exit $status"
status=0; xenfence --via false >"$T/xen4.log" 2>&1 || status=$?
[ $status -ne 0 ] || fail "fence-remus-xen --via false: exit 0"

# fence-remus-pacemaker against stand-ins for Pacemaker's and Corosync's
# tools: stonith_admin records its arguments and answers per a file,
# corosync-cmapctl prints a two-node nodelist, crm_node -n says "n2".
pagent="$REMUS_SRC/contrib/fence/fence-remus-pacemaker"
mkdir -p "$T/pbin"
cat >"$T/pbin/stonith_admin" <<PA
#!/bin/sh
echo "\$*" >>"$T/sa.calls"
[ -e "$T/sa.fail" ] && { echo "Command failed: Timer expired"; exit 124; }
exit 0
PA
cat >"$T/pbin/corosync-cmapctl" <<'PC'
#!/bin/sh
cat <<X
nodelist.node.0.name (str) = n1
nodelist.node.0.nodeid (u32) = 1
nodelist.node.0.ring0_addr (str) = 192.0.2.1
nodelist.node.1.name (str) = n2
nodelist.node.1.nodeid (u32) = 2
nodelist.node.1.ring0_addr (str) = 192.0.2.2
nodelist.node.1.ring1_addr (str) = 198.51.100.2
X
PC
printf '#!/bin/sh\necho n2\n' >"$T/pbin/crm_node"
chmod +x "$T/pbin/"*
pmfence() {	# ENV-ASSIGNMENTS... -- ARGS...: status, output in $T/pm.log
	local st=0
	env PATH="$T/pbin:$PATH" "$@" "$pagent" ${PMARGS:-} >"$T/pm.log" 2>&1 || st=$?
	echo $st
}
: >"$T/sa.calls"
# The primary's address maps to its node through the ring addresses.
[ "$(pmfence REMUS_FENCE_PRIMARY=192.0.2.1:40312 REMUS_FENCE_TIMEOUT_MS=20000)" = 0 ] ||
	fail "fence-remus-pacemaker: $(cat "$T/pm.log")"
[ "$(tail -1 "$T/sa.calls" | cut -d' ' -f1-4)" = "--fence n1 --timeout 19" ] ||
	fail "stonith_admin called as: $(tail -1 "$T/sa.calls")"
cat "$T/pm.log"
# A node name as the primary's host; --action reboot; --timeout.
PMARGS="--action reboot --timeout 7" pmfence REMUS_FENCE_PRIMARY=n1:5270 >/dev/null
[ "$(tail -1 "$T/sa.calls" | cut -d' ' -f1-4)" = "--reboot n1 --timeout 7" ] ||
	fail "stonith_admin called as: $(tail -1 "$T/sa.calls")"
n=$(wc -l <"$T/sa.calls")
# Never this node, never an address no node has: exit 3, no fence asked.
[ "$(pmfence REMUS_FENCE_PRIMARY=198.51.100.2:1)" = 3 ] || fail "fenced this node (n2)"
[ "$(pmfence REMUS_FENCE_PRIMARY=[2001:db8::9]:1)" = 3 ] || fail "fenced for an unknown address"
[ "$(pmfence REMUS_FENCE_PRIMARY=stdin)" = 3 ] || fail "fenced for --receive's stdin"
[ "$(wc -l <"$T/sa.calls")" = "$n" ] || fail "stonith_admin called for a refused fence"
# The fence fails: exit 2, saying why.
touch "$T/sa.fail"
[ "$(PMARGS="--node n1" pmfence)" = 2 ] || fail "a failed stonith_admin is not exit 2"
grep -q "exit 124: Command failed: Timer expired" "$T/pm.log" || fail "failure not told: $(cat "$T/pm.log")"
rm "$T/sa.fail"
[ "$(PMARGS="--action halt" pmfence REMUS_FENCE_PRIMARY=n1:1)" = 1 ] || fail "--action halt accepted"
[ "$(PMARGS="--timeout 0" pmfence REMUS_FENCE_PRIMARY=n1:1)" = 1 ] || fail "--timeout 0 accepted"
echo "fence-remus-pacemaker: node from the ring address, refusals (this node, unknown, stdin), failure exit 2"

# The man page documents every option the agents' --help prints.
if command -v mandoc >/dev/null; then
	mandoc -Tascii "$REMUS_SRC/man/fence-remus-proc.8" | sed "s/.\x08//g" >"$T/fence.txt" ||
		fail "mandoc fence-remus-proc.8"
	for a in "$agent" "$xagent"; do
		for o in $("$a" --help | grep -oE -- '--[a-z-]+' | sort -u); do
			grep -qF -- "$o" "$T/fence.txt" ||
				fail "$a --help has $o, fence-remus-proc.8 does not"
		done
	done
fi
echo PASS
