#!/usr/bin/env bash
# The systemd units started under a real systemd: this machine's PID 1 is
# not systemd, so the test boots a private one as PID 1 of new pid, mount,
# net and uts namespaces, seeing only the installed remusd.service and
# remus@.service (plus Debian's stock targets), with tmpfs over /run,
# /tmp, /var/lib, /var/log, /etc/systemd/system and /etc/remus so nothing
# of the host is touched.  Then, with a real proc guest on loopback:
#   remusd.service starts and listens; remus@g1 protects the guest;
#   systemctl stop remus@g1: exit 0, no mark, remusd saw END;
#   remus@g1 killed by SIGKILL: not restarted, mark left, remusd
#     activates; systemctl start remus@g1 is refused;
#   systemctl restart remusd: the activated guest survives the stop
#     (KillMode=process) and the new start is refused (guard);
#   remus@g2 toward a port nobody listens on: exit 3, restarted by
#     systemd (RestartForceExitStatus=3).
. "$(dirname "$0")/functions.sh"
requires_root
requires test -x /lib/systemd/systemd
requires unshare --version
requires nsenter --version
requires cmake --version

P=$(mktemp -d /var/tmp/remus-sd.XXXXXX)
cleanup_fn "rm -rf $P"
cmake --install "$REMUS_BUILD" --prefix "$P" >"$T/install.log" 2>&1 || fail "cmake --install"
[ -e /etc/remus ] || cleanup_fn "rmdir /etc/remus"

cat >"$T/inner.sh" <<'INNER'
#!/bin/sh
set -e
P=$1
mkdir -p "$P/units"
cp "$P"/lib/systemd/system/remusd.service "$P"/lib/systemd/system/remus@.service "$P/units/"
for u in basic.target multi-user.target sysinit.target default.target \
    network-online.target network.target shutdown.target sockets.target \
    timers.target paths.target slices.target local-fs.target swap.target \
    emergency.target rescue.target; do
	if [ -e /lib/systemd/system/$u ]; then cp /lib/systemd/system/$u "$P/units/"; fi
done
printf '[Unit]\nDescription=remus unit test\n' >"$P/units/remus-test.target"
# /etc/remus too (remus.conf): its mount point may have to be made on
# the host, empty; the test removes it again if it made it.
mkdir -p /etc/remus
for d in /run /tmp /var/lib /var/log /etc/systemd/system /etc/remus; do
	mount -t tmpfs tmpfs $d
done
mount --bind "$P/units" /lib/systemd/system
mount -t tmpfs tmpfs /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
exec /lib/systemd/systemd --system --unit=remus-test.target
INNER
chmod +x "$T/inner.sh"
unshare --pid --mount --net --uts --fork --mount-proc --propagation private \
	"$T/inner.sh" "$P" >"$T/systemd.log" 2>&1 &
sleep 0.5
S=""
for ((i = 0; i < 100; i++)); do
	S=$(pgrep -f -- "--system --unit=remus-test.target" | head -1) && [ -n "$S" ] && break
	sleep 0.1
done
[ -n "$S" ] || { cat "$T/systemd.log"; echo "SKIP: a private systemd did not start here"; exit 77; }
cleanup_fn "kill -9 $S"	# PID 1 of the namespace: takes everything in it along
ns() { nsenter -t "$S" -p -m -n -u -- "$@"; }
wait_for 30 sh -c "nsenter -t $S -p -m -n -- systemctl is-system-running | grep -qE 'running|degraded'" ||
	fail "private systemd not running: $(ns systemctl is-system-running 2>&1)"
echo "private systemd $(ns systemctl --version | head -1) is PID 1 of its namespace"

# Logs into files the test can read (the units log to the journal, and
# there is no journald in here): a drop-in, the units themselves as
# installed.
for u in remusd.service:remusd remus@.service:remus-%i; do
	ns mkdir -p "/etc/systemd/system/${u%%:*}.d"
	ns sh -c "printf '[Service]\nStandardOutput=append:/var/log/%s.log\nStandardError=append:/var/log/%s.log\n' ${u#*:} ${u#*:} >/etc/systemd/system/${u%%:*}.d/log.conf"
done

extra=""
remusd --help 2>&1 | grep -q -- '--no-fence' && extra="$extra --no-fence"
remusd --help 2>&1 | grep -q -- '--insecure' && extra="$extra --insecure"
rextra=""
remus --help 2>&1 | grep -q -- '--insecure' && rextra="--insecure"
ns sh -c "printf 'LISTEN=127.0.0.1:5270\nREMUSD_ARGS=\"$extra\"\n' >/etc/default/remusd"
# The guest remusd protects as g1 (remus@g1 announces that name), and what
# it runs for it on failover: /etc/remus/guests.
ns mkdir -p /etc/remus
ns sh -c "printf 'g1=$P/bin/remus-dirtier --pages 50 --working-set 500 --arena-size 4M --pidfile /run/g1.pid\n' >/etc/remus/guests"
ns systemctl daemon-reload
ns systemctl start remusd.service || fail "systemctl start remusd: $(ns systemctl status remusd 2>&1)"
wait_for 20 sh -c "nsenter -t $S -p -m -n -- ss -Htln 'sport = :5270' | grep -q ." ||
	fail "remusd.service does not listen: $(ns cat /var/log/remusd.log)"
echo "remusd.service: $(ns systemctl is-active remusd), listening on 5270"

# The guest, inside the namespaces (its pid is the namespace's).
ns mkdir -p /run/remus
# By its installed path: the build tree may be under /tmp, which the
# namespace covers with a tmpfs.
ns env REMUS_PROC_RUNDIR=/run/remus setsid "$P/bin/remus-dirtier" --pages 50 \
	--working-set 500 --arena-size 4M --pidfile /run/g1.pid >"$T/g1.log" 2>&1 &
wait_for 40 ns test -s /run/g1.pid || fail "guest did not start: $(cat "$T/g1.log")"
G=$(ns cat /run/g1.pid)
ns mkdir -p /etc/remus
# remus@g1 runs "remus g1": its [guest g1] section of remus.conf(5).
ns sh -c "printf '[guest g1]\ndomain = proc:$G\nbackup = 127.0.0.1:5270\ninterval = 100\n' >/etc/remus/remus.conf"
ns sh -c "printf 'REMUS_ARGS=\"$rextra\"\n' >/etc/remus/g1.env"
ns systemctl start remus@g1 || fail "systemctl start remus@g1"
wait_for 30 ns test -s /var/lib/remus/g1/proc-epoch ||
	fail "remus@g1 protects nothing: $(ns cat /var/log/remus-g1.log /var/log/remus-g1.log 2>&1 | tail; ns systemctl status remus@g1 2>&1 | tail -5)"
echo "remus@g1: $(ns systemctl is-active remus@g1), backup at epoch $(ns cat /var/lib/remus/g1/proc-epoch)"

ns systemctl stop remus@g1
st=$(ns systemctl show -p ExecMainStatus --value remus@g1)
[ "$st" = 0 ] || fail "remus@g1 stopped with status $st, want 0"
ns test ! -e /var/lib/remus/primary/g1.failover || fail "mark after a clean stop"
wait_for 10 ns grep -q "primary ended protection" /var/log/remusd.log || fail "remusd saw no END"
echo "systemctl stop remus@g1: exit 0, END, no mark"

ns systemctl start remus@g1 || fail "start again after a clean stop"
e0=$(ns cat /var/lib/remus/g1/proc-epoch)
wait_for 30 sh -c "[ \$(nsenter -t $S -p -m -n -- cat /var/lib/remus/g1/proc-epoch) != $e0 ] || \
	nsenter -t $S -p -m -n -- grep -q 'epoch 1: committed' /var/log/remusd.log" || fail "no new session"
wait_for 30 sh -c "[ \$(nsenter -t $S -p -m -n -- grep -c 'epoch 1: committed' /var/log/remusd.log) -ge 2 ]" ||
	fail "second session committed nothing"
ns systemctl kill -s KILL remus@g1
wait_for 20 sh -c "nsenter -t $S -p -m -n -- systemctl is-failed remus@g1 | grep -qx failed" ||
	fail "remus@g1 not failed after SIGKILL: $(ns systemctl is-active remus@g1)"
ns test -s /var/lib/remus/primary/g1.failover || fail "no mark after SIGKILL"
echo "remus@g1 killed: $(ns systemctl is-active remus@g1), mark: $(ns cat /var/lib/remus/primary/g1.failover)"
wait_for 20 ns test -s /var/lib/remus/g1/proc-guest.pid || fail "remusd did not activate"
A=$(ns cat /var/lib/remus/g1/proc-guest.pid)
echo "remusd activated the guest as pid $A (in the namespace)"
sleep 12	# longer than RestartSec=10s: a restart would have happened
n=$(ns systemctl show -p NRestarts --value remus@g1)
[ "$n" = 0 ] || fail "remus@g1 restarted $n times after SIGKILL"
s=0; ns systemctl start remus@g1 2>/dev/null || s=$?
[ $s -ne 0 ] || fail "remus@g1 started over its failover mark"
ns grep -q "may have taken guest g1 over" /var/log/remus-g1.log ||
	fail "refusal not logged: $(ns tail -3 /var/log/remus-g1.log)"
echo "remus@g1: not restarted (NRestarts 0); systemctl start refused over the mark"

s=0; ns systemctl restart remusd 2>/dev/null || s=$?
[ $s -ne 0 ] || fail "remusd restarted next to the guest it activated"
ns kill -0 "$A" || fail "the activated guest died with remusd's stop"
ns grep -q "activated here still runs" /var/log/remusd.log || fail "remusd refusal not logged"
echo "systemctl restart remusd: refused; the activated guest (pid $A) runs on"

ns sh -c "printf '[guest g2]\ndomain = proc:$A\nbackup = 127.0.0.1:5999\ninterval = 100\n' >>/etc/remus/remus.conf"
ns sh -c "printf 'REMUS_ARGS=\"$rextra\"\n' >/etc/remus/g2.env"
ns systemctl start remus@g2 || true
wait_for 30 sh -c "[ \$(nsenter -t $S -p -m -n -- systemctl show -p NRestarts --value remus@g2) -ge 1 ]" ||
	fail "remus@g2 (backup unreachable) not restarted: $(ns systemctl show -p ExecMainStatus -p NRestarts remus@g2)"
echo "remus@g2, backup unreachable: exit $(ns systemctl show -p ExecMainStatus --value remus@g2), restarted $(ns systemctl show -p NRestarts --value remus@g2) time(s)"
ns systemctl stop remus@g2
echo PASS
