#!/bin/bash
# t-netbuf-plug.sh -- the netbuf plug driver on a kernel with sch_plug:
# output held until commit and released on commit (IPv4, IPv6, ARP),
# release-all, the limit with counted drops, nothing left after teardown.
# Driven through remus-netbuf (netbuf/netbuf-tool.c).
# lab-modules: sch_plug ifb sch_ingress cls_matchall cls_u32 act_mirred veth
. /lab/lib.sh

command -v remus-netbuf >/dev/null || { fail netbuf-plug "no remus-netbuf in the lab"; exit 0; }
out=$(remus-netbuf probe 2>&1)
check netbuf-plug-probe $([ "$out" = plug=1 ]; echo $?) "$out"
[ "$out" = plug=1 ] || exit 0

mk_pair vh nbg 7
# Resolve neighbours before buffering (a new veth drops packets until its
# qdisc is activated: retry).
for a in 10.77.0.1 fd77::1; do
	for _ in $(seq 20); do
		ip netns exec nbg ping -c1 -W1 $a >/dev/null 2>&1 && break
	done
done

# hold ARGS...: start remus-netbuf hold on vh as coprocess NB.
hold() {
	coproc NB { exec remus-netbuf hold "$@" vh 2>/tmp/nb.err; }
	read -r -t 20 line <&"${NB[0]}"
	echo "$line" >/tmp/nb.ready
	case $line in ready*) return 0 ;; esac
	cat /tmp/nb.err
	return 1
}
cmd() {	# cmd "start 1" -> reply line
	echo "$1" >&"${NB[1]}"
	read -r -t 20 reply <&"${NB[0]}"
	echo "$reply"
}
# recv QUIET_MS [-6]: count datagrams to port 5555 until QUIET_MS pass
# without one; runs in the background, result in /tmp/rx.
recv_bg() {
	rm -f /tmp/rx
	( remus-netbuf udp-recv $2 5555 "$1" >/tmp/rx.out 2>&1; mv /tmp/rx.out /tmp/rx ) &
	RX=$!
	for _ in $(seq 50); do grep -q listening /tmp/rx.out 2>/dev/null && break; sleep 0.1; done
}
# recv_wait: sets N (not in $(...): a subshell cannot wait for our child).
recv_wait() { wait $RX; N=$(awk '/^received/ {print $2}' /tmp/rx); }
send_g() { ip netns exec nbg remus-netbuf udp-send "$1" 5555 "$2"; }

for fam in 4 6; do
	if [ $fam = 4 ]; then dst=10.77.0.1; r=; else dst=fd77::1; r=-6; fi
	hold -d plug || { fail netbuf-plug-setup-v$fam "$(cat /tmp/nb.err)"; continue; }
	recv_bg 1500 $r
	send_g $dst 20
	recv_wait; n=$N
	check netbuf-plug-held-v$fam $([ "$n" = 0 ]; echo $?) "received $n of 20 before commit (want 0)"
	recv_bg 2000 $r
	r1=$(cmd "start 1")
	send_g $dst 7
	sleep 0.5
	r2=$(cmd "release 1")
	recv_wait; n=$N
	check netbuf-plug-release-one-v$fam $([ "$n" = 20 ]; echo $?) "after commit(1): $n (want 20: epoch 1 only; $r1 $r2)"
	recv_bg 1500 $r
	cmd "start 2" >/dev/null
	cmd "release 2" >/dev/null
	recv_wait; n=$N
	check netbuf-plug-release-two-v$fam $([ "$n" = 7 ]; echo $?) "after commit(2): $n (want 7)"
	cmd quit >/dev/null
	wait $NB_PID 2>/dev/null
done

# ARP is held too: G's request for H's address reaches H's stack only on
# commit, so H learns G's neighbour entry only then.
hold -d plug
ip neigh flush dev vh
ip -n nbg neigh flush dev vg7
send_g 10.77.0.1 1
sleep 1
before=$(ip neigh show dev vh | grep -c 10.77.0.2)
cmd "start 1" >/dev/null
cmd "release 1" >/dev/null
sleep 1
after=$(ip neigh show dev vh | grep -c 10.77.0.2)
check netbuf-plug-arp-held $([ "$before" = 0 ] && [ "$after" = 1 ]; echo $?) "neighbour entries for G on H: before commit $before (want 0), after $after (want 1)"
cmd quit >/dev/null
wait $NB_PID 2>/dev/null

# release-all frees everything and stops buffering.
hold -d plug
recv_bg 1500
send_g 10.77.0.1 10
cmd "start 1" >/dev/null
send_g 10.77.0.1 5
r=$(cmd release-all)
send_g 10.77.0.1 4
recv_wait; n=$N
check netbuf-plug-release-all $([ "$n" = 19 ]; echo $?) "received $n (want 19: 15 held + 4 unheld; $r)"
cmd quit >/dev/null
wait $NB_PID 2>/dev/null

# The limit: 3000 bytes hold a few dozen small packets; the rest are
# dropped and counted.
hold -d plug -l 3000
recv_bg 1500
send_g 10.77.0.1 200
sleep 0.5
st=$(cmd stats)
drops=$(echo "$st" | sed -n 's/.*drops=\([0-9]*\).*/\1/p')
cmd "start 1" >/dev/null
cmd "release 1" >/dev/null
recv_wait; n=$N
check netbuf-plug-limit-drops $([ -n "$drops" ] && [ "$drops" -gt 0 ] && [ $((n + drops)) = 200 ]; echo $?) "received $n, drops $drops (want drops > 0, sum 200; $st)"
cmd quit >/dev/null
wait $NB_PID 2>/dev/null

# Nothing left behind.
left=$(ip link show | grep -c rmsb; tc qdisc show dev vh | grep -c ingress)
check netbuf-plug-teardown-clean $([ "$(echo $left | tr -d ' 0')" = "" ]; echo $?) "leftovers: $(echo $left)"

# Stale state of a crashed run (kill -9) is removed by the next run.
hold -d plug
kill -9 $NB_PID; wait $NB_PID 2>/dev/null
stale=$(ip link show | grep -c rmsb)
hold -d plug
ok=$?
cmd quit >/dev/null
wait $NB_PID 2>/dev/null
left=$(ip link show | grep -c rmsb)
check netbuf-plug-stale-cleanup $([ "$stale" = 1 ] && [ $ok = 0 ] && [ "$left" = 0 ]; echo $?) "stale ifb after kill -9: $stale, restart ok: $ok, left after: $left"

ip netns del nbg
exit 0
