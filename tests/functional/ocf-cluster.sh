#!/usr/bin/env bash
# A real two-node Pacemaker + Corosync cluster on this machine, with
# fencing: each node is PID 1 of its own pid, mount, net and uts
# namespaces (private /etc/corosync, /var/lib/pacemaker, /var/lib/corosync,
# /var/log, /run, /etc/hosts and remusd state directory), Corosync 3 knet
# over a veth pair (10.77.x.1 <-> 10.77.x.2).  The fence device is a
# "power switch": the stonith agent fence_remusns (in each node's
# /usr/sbin through an overlay, nothing is installed on the host) asks a
# loop outside the nodes, which can see their init pids, to kill a node.
# ocf:remus:remus runs as a promotable clone (agent in each node's
# /usr/lib/ocf through an overlay) with a real remus-kvd guest on n1, and
# remusd's fence is fence-remus-pacemaker (stonith_admin --fence through
# the cluster's fencer), as the agent has it by default.  A client writes
# to the kvd; then n1's init is killed (-9: the whole node).  Expected:
# the fencer on n2 fences n1 (the switch kills it), and only after that
# does remusd on n2 activate the replica (docs/failover.md: fence before
# activation); Pacemaker promotes n2; every write the kvd acknowledged
# reads back from the activated copy, which serves new ones.
. "$(dirname "$0")/functions.sh"
requires_root
requires corosync -v
requires test -x /usr/sbin/pacemakerd
requires crm_mon --version
requires test -r /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs
requires unshare --version
requires stonith_admin --version
: "${REMUS_SRC:?}"
B=$REMUS_BUILD/bin
D=$T/lab
mkdir -p "$D/fence" "$D/sbin" "$D/ocf/remus"
net=10.77.$((RANDOM % 200 + 20))

cp "$REMUS_SRC/contrib/ocf/remus" "$D/ocf/remus/remus"
cat >"$D/sbin/fence_remusns" <<'AGENT'
#!/bin/sh
# stonith agent of the lab: asks the switch loop to kill a node.
D=${0%/*}/../../fence-dir-placeholder
action=; port=
while IFS='=' read -r k v; do
	case $k in action) action=$v ;; port | plug) port=$v ;; esac
done
case $action in
metadata)
	cat <<'X'
<?xml version="1.0" ?>
<resource-agent name="fence_remusns" shortdesc="namespace lab power switch">
<longdesc>Kills a lab node through the switch loop outside the nodes.</longdesc>
<parameters>
<parameter name="port" unique="0" required="0"><getopt mixed="-n, --plug=[id]"/><content type="string"/><shortdesc lang="en">node</shortdesc></parameter>
<parameter name="plug" unique="0" required="0"><getopt mixed="-n, --plug=[id]"/><content type="string"/><shortdesc lang="en">node</shortdesc></parameter>
</parameters>
<actions><action name="on"/><action name="off"/><action name="reboot"/><action name="status"/><action name="list"/><action name="monitor"/><action name="metadata"/></actions>
</resource-agent>
X
	exit 0 ;;
list) echo "n1,"; echo "n2,"; exit 0 ;;
monitor) exit 0 ;;
status) [ -e "$D/$port.off" ] && exit 2; exit 0 ;;
on) rm -f "$D/$port.off"; exit 0 ;;
off | reboot)
	[ -e "$D/$port.off" ] && exit 0
	touch "$D/$port.req"
	i=0
	while [ ! -e "$D/$port.off" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$D/$port.off" ] || exit 1
	exit 0 ;;
esac
exit 1
AGENT
sed -i "s|^D=.*|D=$D/fence|" "$D/sbin/fence_remusns"
chmod 755 "$D/sbin/fence_remusns" "$D/ocf/remus/remus"

cat >"$D/corosync.conf" <<EOF2
totem {
	version: 2
	cluster_name: remuslab
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	token: 3000
}
nodelist {
	node {
		ring0_addr: $net.1
		name: n1
		nodeid: 1
	}
	node {
		ring0_addr: $net.2
		name: n2
		nodeid: 2
	}
}
quorum {
	provider: corosync_votequorum
	two_node: 1
}
logging {
	to_logfile: yes
	logfile: /var/log/corosync.log
	to_stderr: no
	to_syslog: no
}
EOF2

cat >"$D/node.sh" <<'NODE'
#!/bin/sh
# PID 1 of a lab node.
N=$1 ADDR=$2 D=$3 ND=$3/$1
set -e
hostname "$N"
mkdir -p $ND/etc-corosync $ND/var-lib-pacemaker $ND/var-lib-corosync $ND/log \
	$ND/state $ND/sbin-up $ND/sbin-work $ND/ocf-up/remus $ND/ocf-work
cp -a /var/lib/pacemaker/. $ND/var-lib-pacemaker/ 2>/dev/null || true
cp $D/corosync.conf $ND/etc-corosync/
cp $D/sbin/fence_remusns $ND/sbin-up/
cp $D/ocf/remus/remus $ND/ocf-up/remus/
mount --bind $ND/etc-corosync /etc/corosync
mount --bind $ND/var-lib-pacemaker /var/lib/pacemaker
mount --bind $ND/var-lib-corosync /var/lib/corosync
mount --bind $ND/log /var/log
mount --bind $D/hosts.$N /etc/hosts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=$ND/sbin-up,workdir=$ND/sbin-work /usr/sbin
mount -t overlay overlay -o lowerdir=/usr/lib/ocf/resource.d,upperdir=$ND/ocf-up,workdir=$ND/ocf-work /usr/lib/ocf/resource.d
mkdir -p /var/log/pacemaker && chown hacluster:haclient /var/log/pacemaker
ip link set lo up
while ! ip link show eth1 >/dev/null 2>&1; do sleep 0.1; done
ip addr add $ADDR/24 dev eth1
ip link set eth1 up
corosync -f >/var/log/corosync.out 2>&1 &
sleep 2
PCMK_logfile=/var/log/pacemaker/pacemaker.log /usr/sbin/pacemakerd -f >/var/log/pacemakerd.out 2>&1 &
wait
NODE
chmod +x "$D/node.sh"
for n in 1 2; do
	o=$((3 - n))
	printf '127.0.0.1 localhost\n%s.%s n%s\n%s.%s n%s remus-peer\n' $net $n $n $net $o $o >"$D/hosts.n$n"
done

# wait_until SECS CMD...: CMD succeeds within SECS seconds of wall time
# (crm_mon takes a while, wait_for counts polls).
wait_until() {
	local end=$(($(date +%s) + $1))
	shift
	while [ "$(date +%s)" -lt $end ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# The power switch (outside the nodes).
switch() {
	local r n p
	while :; do
		for r in "$D"/fence/*.req; do
			[ -e "$r" ] || continue
			n=$(basename "$r" .req)
			case $n in n1) p=$P1 ;; n2) p=$P2 ;; *) continue ;; esac
			kill -9 "$p" 2>/dev/null || :	# already dead: fine
			while [ -d "/proc/$p" ]; do sleep 0.1; done
			echo "$(date +%s%N) fenced $n" >>"$D/switch.log"
			touch "$D/fence/$n.off"
			rm -f "$r"
		done
		sleep 0.1
	done
}

for n in 1 2; do
	env -u REMUS_PROC_RUNDIR unshare --pid --mount --net --uts --fork --mount-proc --propagation private \
		"$D/node.sh" n$n $net.$n "$D" >"$D/n$n.out" 2>&1 &
done
P1="" P2=""
wait_for 20 sh -c "pgrep -f '^/bin/sh $D/node.sh n1 ' && pgrep -f '^/bin/sh $D/node.sh n2 '" || fail "nodes did not start"
P1=$(pgrep -f "^/bin/sh $D/node.sh n1 " | tail -1)
P2=$(pgrep -f "^/bin/sh $D/node.sh n2 " | tail -1)
# PID 1 of a namespace: killing it takes the whole node along.
cleanup_fn "kill -9 $P1 $P2 2>/dev/null"
v=rv$RANDOM
ip link add ${v}a type veth peer name ${v}b || fail "veth"
ip link set ${v}a netns "$P1" name eth1
ip link set ${v}b netns "$P2" name eth1
switch &
SW=$!
cleanup_fn "kill $SW 2>/dev/null"
C1="nsenter -t $P1 -n -m -p -u"
C2="nsenter -t $P2 -n -m -p -u"
wait_until 120 sh -c "$C1 crm_mon -1 2>/dev/null | grep -q 'Online: \[ n1 n2 \]'" ||
	fail "the cluster did not form: $(tail -5 "$D"/n1/log/corosync.log)"
echo "cluster formed: $($C1 crm_mon -1 | grep -E 'Current DC|Online')"

GCMD="$B/remus-kvd --listen 0.0.0.0:7000 --arena-size 16M --pidfile /run/g.pid"
# shellcheck disable=SC2086
$C1 env REMUS_PROC_RUNDIR=/run/remus setsid $GCMD >"$D/guest.out" 2>&1 &
wait_for 20 $C1 test -s /run/g.pid || fail "guest did not start on n1"
G=$($C1 cat /run/g.pid)
# The client talks to the kvd from inside each node's network namespace
# (only the network: it is not a process of the node, and outlives n1).
N1="nsenter -t $P1 -n"
N2="nsenter -t $P2 -n"
wait_for 20 $N1 remus-netbuf kv-check 127.0.0.1 7000 /dev/null || fail "the kvd does not answer on n1"
# Each node's remusd keeps its replica in its own directory (the guest
# is "guest" to it, the primitive's id: STATEDIR/guest).
mkdir -p "$D/state"
nsenter -t "$P1" -m mount --bind "$D/n1/state" "$D/state"
nsenter -t "$P2" -m mount --bind "$D/n2/state" "$D/state"
$C1 crm_attribute -t crm_config -n stonith-enabled -v true
$C1 crm_attribute -t crm_config -n no-quorum-policy -v ignore
$C1 cibadmin -C -o resources -X '<primitive id="fence-lab" class="stonith" type="fence_remusns"><instance_attributes id="fence-lab-ia"><nvpair id="fence-lab-hl" name="pcmk_host_list" value="n1 n2"/></instance_attributes><operations><op id="fence-lab-mon" name="monitor" interval="30s"/></operations></primitive>' ||
	fail "stonith resource"
# F, remusd's --fence-timeout: the fencer's time for a node that is gone
# (measured below, ~1-2 s here, more under load) with room to spare.
F=20000
nv() { echo "<nvpair id=\"g-$1\" name=\"$1\" value=\"$2\"/>"; }
$C1 cibadmin -C -o resources -X "<clone id=\"guest-clone\"><meta_attributes id=\"gc-meta\"><nvpair id=\"gc-prom\" name=\"promotable\" value=\"true\"/><nvpair id=\"gc-pm\" name=\"promoted-max\" value=\"1\"/><nvpair id=\"gc-cm\" name=\"clone-max\" value=\"2\"/><nvpair id=\"gc-cnm\" name=\"clone-node-max\" value=\"1\"/><nvpair id=\"gc-n\" name=\"notify\" value=\"true\"/></meta_attributes><primitive id=\"guest\" class=\"ocf\" provider=\"remus\" type=\"remus\"><instance_attributes id=\"guest-ia\">$(nv guest proc:$G)$(nv peer remus-peer:5270)$(nv listen :5270)$(nv fence "$REMUS_SRC/contrib/fence/fence-remus-pacemaker")$(nv fence_timeout $F)$(nv insecure true)$(nv interval 100)$(nv remus "$B/remus")$(nv remusd "$B/remusd")$(nv logfile /var/log/remus.log)$(nv state_dir "$D/state")$(nv command "$GCMD")</instance_attributes><operations><op id=\"gm1\" name=\"monitor\" interval=\"3s\" role=\"Promoted\"/><op id=\"gm2\" name=\"monitor\" interval=\"4s\" role=\"Unpromoted\"/><op id=\"gp\" name=\"promote\" timeout=\"60s\" interval=\"0\"/></operations></primitive></clone>" ||
	fail "clone resource"
wait_until 90 sh -c "$C1 crm_mon -1 | grep -q 'Promoted: \[ n1 \]' && test -s $D/n2/state/guest/proc-epoch" ||
	fail "not promoted on n1 with n2 holding a replica: $($C1 crm_mon -1 | tail -6)"
echo "guest proc:$G: promoted on n1; n2's remusd at epoch $(cat "$D/n2/state/guest/proc-epoch")"
wait_for 20 sh -c "[ \$(cat $D/n2/state/guest/proc-epoch) -ge 10 ]" || fail "protection does not progress"

# Writes, acknowledged by the kvd on n1.  The lab has no netbuf (the
# guest is a process of n1, not behind an interface remus could hold),
# so an acknowledged write is safe only once an epoch taken after it is
# committed on n2: the client stops, and three more epochs commit before
# the kill.  (Held output under load is checked by the fault tests.)
epoch() { cat "$D/n2/state/guest/proc-epoch"; }
$N1 remus-netbuf kv-client 127.0.0.1 7000 "$D/w1.clog" 3000 w >/dev/null 2>&1 ||
	fail "the client failed on n1: $(tail -1 "$D/w1.clog")"
acked=$(awk '$1 == "SET" && $4 == "OK"' "$D/w1.clog" | wc -l)
[ "$acked" -gt 100 ] || fail "only $acked writes acknowledged on n1: $(tail -1 "$D/w1.clog")"
e=$(epoch)
wait_for 20 sh -c "[ \$(cat $D/n2/state/guest/proc-epoch) -ge $((e + 3)) ]" ||
	fail "no epoch committed after the writes"
echo "$acked writes acknowledged on n1; n2 committed epoch $(epoch) after them"

t0=$(date +%s%N)
kill -9 "$P1"
echo "n1 killed (its init, -9)"
wait_until 120 sh -c "$C2 crm_mon -1 2>/dev/null | grep -q 'Promoted: \[ n2 \]'" ||
	fail "n2 not promoted: $($C2 crm_mon -1 | tail -8)"
t1=$(date +%s%N)
RL=$D/n2/log/remus.log
grep -q "fenced n1" "$D/switch.log" || fail "n1 was not fenced by the switch"
$C2 stonith_admin --history n1 | grep -q "successful" || fail "Pacemaker has no successful fencing of n1"
$C2 stonith_admin --history n1 --verbose | sed 's/^/  stonith history: /'
tf=$(awk '/fenced n1/ {print $1; exit}' "$D/switch.log")
grep -q "activated from epoch" "$RL" || fail "remusd on n2 did not activate: $(tail -5 "$RL")"
grep -q "fence-remus-pacemaker: n1 fenced" "$RL" ||
	fail "remusd's fence did not go through the cluster: $(grep -i fence "$RL" | tail -5)"
# Fence before activation: the switch killed n1 (its log, this host's
# clock) before remusd on n2 began to activate (its log line entering
# ACTIVATING, UTC with milliseconds, the same clock).
la=$(grep -m1 -- "-> ACTIVATING" "$RL") || fail "no ACTIVATING line in remusd's log"
ta=$(date -d "$(echo "$la" | awk '{print $1}')" +%s%N) || fail "timestamp of: $la"
grep -h "fence-remus-pacemaker\|fenced at\|FENCING\|ACTIVATING" "$RL" | sed 's/^/  n2 remusd: /'
fence_ms=$(((tf - t0) / 1000000))
margin_ms=$(((ta - tf) / 1000000))
echo "n1 fenced ${fence_ms} ms after the kill (F = $F ms); remusd began activating ${margin_ms} ms after the fence; n2 promoted after $(((t1 - t0) / 1000000)) ms"
[ "$ta" -gt "$tf" ] || fail "remusd on n2 activated ${margin_ms#-} ms BEFORE n1 was fenced"
A=$(cat "$D/n2/state/guest/proc-guest.pid")
$C2 kill -0 "$A" || fail "the activated guest does not run"

# The guest serves on: every acknowledged write reads back from n2's
# copy, and it takes new ones.
out=$($N2 remus-netbuf kv-check 127.0.0.1 7000 "$D/w1.clog") ||
	fail "kv-check on n2: $out"
echo "n2: $out"
w=$(echo "$out" | sed -n 's/^checked \([0-9]*\) writes .*: \([0-9]*\) lost.*/\1/p')
lost=$(echo "$out" | sed -n 's/^checked \([0-9]*\) writes .*: \([0-9]*\) lost.*/\2/p')
[ "$w" = "$acked" ] && [ "$lost" = 0 ] || fail "checked $w of $acked writes, $lost lost"
$N2 remus-netbuf kv-client 127.0.0.1 7000 "$D/w2.clog" 1000 after >/dev/null 2>&1 ||
	fail "the client failed on n2: $(tail -1 "$D/w2.clog")"
out2=$($N2 remus-netbuf kv-check 127.0.0.1 7000 "$D/w2.clog") || fail "kv-check of new writes on n2: $out2"
echo "n2, new writes after the failover: $out2"
sleep 5
$C2 kill -0 "$A" || fail "the activated guest died after promotion"
$C2 crm_mon -1 | grep -q 'Promoted: \[ n2 \]' || fail "n2 lost its promotion"
echo "ocf-cluster: fence_ms=$fence_ms activate_after_fence_ms=$margin_ms F_ms=$F promote_ms=$(((t1 - t0) / 1000000)) writes_checked=$w lost=$lost"
echo "activated guest runs on n2 (pid $A there), promoted, 5 s later still"
echo PASS
