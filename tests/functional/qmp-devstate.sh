#!/usr/bin/env bash
# qmp-devstate.sh -- the QMP client (domain/qmp.c, through remus-qmp)
# against a real qemu-system-x86_64, the way the Xen driver uses a device
# model at each checkpoint:
#   save      remus-qmp save (stop, xen-save-devices-state, cont) on a QEMU
#             started with -S and on a running one: a QEVM file, and each
#             QEMU's status as it was before
#   load      a second QEMU with -incoming "exec:cat FILE" gets to paused
#             with the migration completed; saved again it writes the same
#             bytes; cont -> running.  The running QEMU's file loads too.
#   standby   a QEMU started with -incoming defer (the backup's standby
#             device model) loads a's file given over the socket
#             (remus-qmp load: getfd, migrate-incoming fd:...): paused,
#             the same bytes saved again; a second load is refused; a
#             truncated file makes the standby exit (EPIPE, exit 1)
#   refusals  truncated files: the incoming QEMU exits 1 ("load of
#             migration failed"); a file QEMU cannot create: exit 1 with
#             QEMU's reason, and the QEMU is running again; a missing
#             socket: exit 3, one line; a second client while one is
#             connected: no greeting, exit 3; usage: exit 2
# Plain QEMU stands in for qemu-system-xen: suppress-vmdesc=on and
# migration.send-configuration=off are what Xen's "xenfv" machine has by
# default, so that the file is the one a Xen device model writes.  And
# apic-common.vapic=off: the kvmvapic device (QEMU's own APIC, which
# Xen's device model does not have) reads its option ROM from guest RAM
# when it loads, RAM a device-state file does not carry -- a running
# QEMU's file is refused with it ("error while loading state ... of
# device 'kvm-tpr-opt'").  On Xen the RAM is restored before QEMU loads.
. "$(dirname "$0")/functions.sh"
requires which qemu-system-x86_64
requires remus-qmp --help

QEMU=(qemu-system-x86_64 -machine "pc,accel=tcg,suppress-vmdesc=on"
	-global migration.send-configuration=off -global apic-common.vapic=off
	-nodefaults -display none -m 64)
QEVM_MAGIC=5145564d00000003	# "QEVM", version 3 (QEMU_VM_FILE_VERSION)
checked=0
ok() {
	checked=$((checked + 1))
	echo "ok $checked: $*"
}

# start_qemu NAME ARGS...: QEMU with its QMP socket at $T/NAME.sock, once
# it answers; $LAST_PID is its pid.
start_qemu() {
	local name=$1
	shift
	start "$name" "${QEMU[@]}" -qmp "unix:$T/$name.sock,server=on,wait=off" "$@"
	wait_for 20 remus-qmp -t 2000 status "$T/$name.sock" || fail "$name: QMP does not answer"
}

status_is() {
	[ "$(remus-qmp status "$1")" = "$2" ]
}

magic_of() {
	od -An -tx1 -N8 "$1" | tr -d ' \n'
}

# save NAME FILE: remus-qmp save into FILE; the file is QEVM and not
# trivial (a few KB of devices, no RAM), the printed size its size.
save() {
	local out bytes
	out=$(remus-qmp save "$T/$1.sock" "$2") || fail "$1: remus-qmp save exited $?"
	bytes=$(echo "$out" | awk '{ print $4 }')
	PAUSE_US=$(echo "$out" | awk '{ print $6 }')
	[ "$(magic_of "$2")" = $QEVM_MAGIC ] || fail "$1: $2 starts with $(magic_of "$2")"
	[ "$bytes" = "$(stat -c %s "$2")" ] || fail "$1: said $bytes bytes, wrote $(stat -c %s "$2")"
	[ "$bytes" -ge 4096 ] || fail "$1: only $bytes bytes of device state"
	SIZE=$bytes
}

# ---- save: a QEMU started with -S ------------------------------------------
start_qemu a -S
before=$(remus-qmp status "$T/a.sock")
case $before in prelaunch | paused) ;; *) fail "a (-S): status $before" ;; esac
save a "$T/a.devst"
ok "a (-S): saved $SIZE bytes of QEVM in ${PAUSE_US} us"
status_is "$T/a.sock" "$before" || fail "a: $before before save, $(remus-qmp status "$T/a.sock") after"
ok "a: still $before after save (no cont for a QEMU that was not running)"

# ---- save: a running QEMU --------------------------------------------------
start_qemu r
status_is "$T/r.sock" running || fail "r: status $(remus-qmp status "$T/r.sock")"
pauses=""
for i in 1 2 3; do
	save r "$T/r.devst"
	pauses="$pauses $PAUSE_US"
	status_is "$T/r.sock" running || fail "r: $(remus-qmp status "$T/r.sock") after save $i"
done
ok "r (running): 3 saves of $SIZE bytes, stop-to-cont us:$pauses, running after each"

# ---- load: the -S QEMU's file ----------------------------------------------
start_qemu b -S -incoming "exec:cat $T/a.devst"
b_pid=$LAST_PID
wait_for 20 status_is "$T/b.sock" paused || fail "b: status $(remus-qmp status "$T/b.sock"), want paused"
remus-qmp exec "$T/b.sock" query-migrate | grep -q '"status":"completed"' ||
	fail "b: query-migrate says $(remus-qmp exec "$T/b.sock" query-migrate)"
ok "b: loaded a's file: paused, migration completed"
save b "$T/b.devst"
cmp -s "$T/a.devst" "$T/b.devst" || fail "b: its device state differs from a's: $(cmp "$T/a.devst" "$T/b.devst")"
ok "b: saved again, the same $SIZE bytes as a's"
remus-qmp exec "$T/b.sock" cont >/dev/null || fail "b: cont failed"
status_is "$T/b.sock" running || fail "b: $(remus-qmp status "$T/b.sock") after cont"
ok "b: cont -> running"
# A guest without its RAM runs what it finds: no need to let it spin.
kill "$b_pid"

# ---- load: the running QEMU's file -----------------------------------------
start_qemu c -S -incoming "exec:cat $T/r.devst"
c_pid=$LAST_PID
wait_for 20 status_is "$T/c.sock" paused || fail "c: status $(remus-qmp status "$T/c.sock"), want paused"
remus-qmp exec "$T/c.sock" cont >/dev/null || fail "c: cont failed"
status_is "$T/c.sock" running || fail "c: $(remus-qmp status "$T/c.sock") after cont"
ok "c: loaded r's file: paused, cont -> running"
kill "$c_pid"

# ---- standby: -incoming defer, the state given at failover ----------------
start_qemu s -S -incoming defer
s_pid=$LAST_PID
status_is "$T/s.sock" inmigrate || fail "s: status $(remus-qmp status "$T/s.sock"), want inmigrate"
out=$(remus-qmp load "$T/s.sock" "$T/a.devst") || fail "s: remus-qmp load exited $?"
set -- $out
[ "$1 $3 $4 $7 $8" = "loaded bytes $(stat -c %s "$T/a.devst") status paused" ] || fail "s: load said '$out'"
status_is "$T/s.sock" paused || fail "s: $(remus-qmp status "$T/s.sock") after load"
save s "$T/s.devst"
cmp -s "$T/a.devst" "$T/s.devst" || fail "s: its device state differs from a's: $(cmp "$T/a.devst" "$T/s.devst")"
ok "standby s: loaded a's file over the socket in $6 us: paused, saved again the same $SIZE bytes"
st=0
remus-qmp load "$T/s.sock" "$T/a.devst" >/dev/null 2>"$T/again.err" || st=$?
[ $st -eq 1 ] && [ "$(wc -l <"$T/again.err")" -eq 1 ] || fail "s: second load: exit $st: $(cat "$T/again.err")"
ok "standby s: a second load refused, exit 1: $(sed 's/.*qmp: //' "$T/again.err")"
kill "$s_pid"

size=$(stat -c %s "$T/a.devst")
head -c $((size / 2)) "$T/a.devst" >"$T/half.devst"
start_qemu h -S -incoming defer
h_pid=$LAST_PID
st=0
remus-qmp load "$T/h.sock" "$T/half.devst" >/dev/null 2>"$T/half.err" || st=$?
[ $st -eq 1 ] || fail "h: load of a truncated file: exit $st, want 1 ($(cat "$T/half.err"))"
# (whether the last query-status was being sent or answered when QEMU
# exited, the line is the same)
grep -q "QEMU closed the connection" "$T/half.err" || fail "h: $(cat "$T/half.err")"
wait_for 20 sh -c "! kill -0 $h_pid 2>/dev/null" || fail "h: QEMU still up with a truncated state"
ok "standby h: half a file: QEMU exits, load exit 1: $(sed 's/.*qmp: //' "$T/half.err" | tail -1)"

# ---- refusals: truncated files ---------------------------------------------
# QEMU finds the stream short and exits 1; it never gets to paused.  (An
# empty file is another matter: QEMU 7.2 then stays in "inmigrate" for
# good, so a receiver checks the magic before handing a file to QEMU.)
size=$(stat -c %s "$T/a.devst")
for n in 8 $((size / 2)) $((size - 1)); do
	head -c $n "$T/a.devst" >"$T/trunc-$n.devst"
	start "t$n" "${QEMU[@]}" -S -qmp "unix:$T/t$n.sock,server=on,wait=off" \
		-incoming "exec:cat $T/trunc-$n.devst"
	pid=$LAST_PID
	wait_for 20 sh -c "! kill -0 $pid 2>/dev/null" || fail "t$n: QEMU still up with a truncated file"
	st=0
	wait "$pid" || st=$?
	[ $st -eq 1 ] || fail "t$n: QEMU exited $st, want 1"
	grep -q "load of migration failed" "$T/t$n.log" || fail "t$n: $(cat "$T/t$n.log")"
	ok "truncated to $n of $size bytes: incoming QEMU exits 1: $(tail -1 "$T/t$n.log")"
done

# ---- refusals: a file QEMU cannot create -----------------------------------
st=0
remus-qmp save "$T/r.sock" "$T/no-such-dir/x" >/dev/null 2>"$T/nodir.err" || st=$?
[ $st -eq 1 ] || fail "save into a missing directory: exit $st, want 1"
[ "$(wc -l <"$T/nodir.err")" -eq 1 ] || fail "save into a missing directory: $(cat "$T/nodir.err")"
grep -q "xen-save-devices-state: .*no-such-dir/x.*No such file or directory" "$T/nodir.err" ||
	fail "save into a missing directory: $(cat "$T/nodir.err")"
status_is "$T/r.sock" running || fail "r: $(remus-qmp status "$T/r.sock") after a failed save"
ok "failed save: exit 1, \"$(sed 's/.*qmp: //' "$T/nodir.err")\", r running again"

# ---- refusals: no socket, a busy monitor, usage ----------------------------
st=0
remus-qmp status "$T/nothere.sock" >/dev/null 2>"$T/nothere.err" || st=$?
[ $st -eq 3 ] || fail "missing socket: exit $st, want 3"
[ "$(wc -l <"$T/nothere.err")" -eq 1 ] || fail "missing socket: $(cat "$T/nothere.err")"
grep -q "nothere.sock: connect: No such file or directory" "$T/nothere.err" ||
	fail "missing socket: $(cat "$T/nothere.err")"
ok "missing socket: exit 3, \"$(sed 's/.*qmp: //' "$T/nothere.err")\""

# QEMU's monitor serves one client at a time: a second one is accepted by
# the kernel but gets no greeting until the first leaves.
if which python3 >/dev/null 2>&1; then
	python3 - "$T/a.sock" >"$T/busy.log" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.makefile("rb").readline()
print("connected", flush=True)
time.sleep(30)
EOF
	_kill_pids="$_kill_pids $!"
	busy=$!
	wait_for 20 grep -q connected "$T/busy.log" || fail "busy: the first client did not connect"
	st=0
	remus-qmp -t 500 status "$T/a.sock" >/dev/null 2>"$T/busy.err" || st=$?
	if [ $st -ne 3 ] || ! grep -q "no greeting within 500 ms" "$T/busy.err"; then
		fail "busy monitor: exit $st: $(cat "$T/busy.err")"
	fi
	kill "$busy"
	wait "$busy" 2>/dev/null || true
	wait_for 20 status_is "$T/a.sock" "$before" || fail "a: does not answer after the first client left"
	ok "busy monitor: exit 3, no greeting within 500 ms; answered once the other client left"
else
	echo "busy monitor: not checked (no python3 to hold a connection)"
fi

st=0
remus-qmp save "$T/a.sock" >/dev/null 2>&1 || st=$?
[ $st -eq 2 ] || fail "usage: exit $st, want 2"
ok "usage error: exit 2"

echo "checked: $checked"
