#!/bin/bash
# t-netbuf-guestcrash.sh -- tests/functional/netbuf-guestcrash.sh with the
# plug driver: kill -9 of the guest only; its output stays plugged after
# remus exits 6 (nothing from its address reaches the client), the backup
# activates with every acknowledged write, remus-netbuf cleanup IFACE
# lifts the block.
# lab-modules: sch_plug ifb sch_ingress cls_matchall cls_u32 act_mirred veth nfnetlink_queue nft_queue nft_objref
# lab-bins: /usr/bin/ss /usr/bin/setpriv /usr/bin/mktemp /usr/bin/sed
# lab-src-files: tests/functional/functions.sh tests/functional/netbuf-lib.sh tests/functional/netbuf-guestcrash.sh
. /lab/lib.sh
S=/lab/src/tests/functional
for b in remus remusd remus-kvd remus-netbuf remus-netns-run; do
	command -v $b >/dev/null || { fail netbuf-guestcrash-plug "no $b in the lab"; exit 0; }
done
export REMUS_BUILD=/usr/local NETBUF_DRIVER=plug
out=$(bash $S/netbuf-guestcrash.sh 2>&1)
st=$?
echo "$out" | grep -v '^remus' | tail -15
check netbuf-guestcrash-plug $st "$(echo "$out" | grep 'guest packets' | tail -1)"
