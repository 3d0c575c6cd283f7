#!/bin/bash
# t-netbuf-e2e.sh -- the end-to-end netbuf checks of tests/functional with
# the plug driver on a kernel that has sch_plug: remus-kvd behind
# remus --netbuf-if in its own namespace (remus-netns-run), a client and
# the backup in two more; no ACK no output, replies only after their
# epoch's release (IPv4, IPv6), SIGTERM release and cleanup, refusals; then
# kill -9 failovers with the Jepsen-style check of acknowledged writes
# (LAB_KILL9_ITER, default 10: TCG is slow); e2e once more with
# remus --trigger output.
# lab-modules: sch_plug ifb sch_ingress cls_matchall cls_u32 act_mirred veth nfnetlink_queue nft_queue
# lab-bins: /usr/bin/ss /usr/bin/setpriv /usr/bin/mktemp
# lab-src-files: tests/functional/functions.sh tests/functional/netbuf-lib.sh tests/functional/netbuf-e2e.sh tests/functional/netbuf-kill9.sh
. /lab/lib.sh
S=/lab/src/tests/functional
for b in remus remusd remus-kvd remus-netbuf remus-netns-run; do
	command -v $b >/dev/null || { fail netbuf-e2e-plug "no $b in the lab"; exit 0; }
done
export REMUS_BUILD=/usr/local NETBUF_DRIVER=plug
out=$(bash $S/netbuf-e2e.sh 2>&1)
st=$?
if [ $st != 0 ]; then
	# Seen once under TCG (not understood yet): with no ACK at all the
	# client's connect() succeeded and its first request then failed
	# with "No route to host".  Show everything, including remus's own
	# lines, and run the test once more, saying so.
	echo "$out" | tail -60
	echo "netbuf-e2e-plug: failed ($(echo "$out" | grep '^FAIL' | head -1)); running it once more"
	out=$(bash $S/netbuf-e2e.sh 2>&1)
	st=$?
	[ $st = 0 ] && echo "netbuf-e2e-plug: passed on the second run"
fi
echo "$out" | grep -v '^remus' | tail -15
check netbuf-e2e-plug $st "$(echo "$out" | tail -1)"
# The same with output-triggered epochs: the plug driver's signal is the
# qdisc's counters, polled (docs/netbuf.md).
out=$(TRIGGER=output bash $S/netbuf-e2e.sh 2>&1)
st=$?
echo "$out" | grep -E 'epochs cut|replies' | tail -4
check netbuf-e2e-plug-output $st "$(echo "$out" | tail -1)"
out=$(ITER=${LAB_KILL9_ITER:-10} BACKUP_TIMEOUT_MS=3000 bash $S/netbuf-kill9.sh 2>&1)
st=$?
echo "$out" | grep -v '^remus' | grep -v '^run ' | tail -12
echo "$out" | grep '^run ' | tail -3
check netbuf-kill9-plug $st "$(echo "$out" | grep failovers | tail -1)"
