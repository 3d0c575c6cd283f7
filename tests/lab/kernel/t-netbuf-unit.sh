#!/bin/bash
# t-netbuf-unit.sh -- the netbuf unit tests (tests/unit/test-netbuf.c) on a
# kernel with sch_plug and nft_queue: the plug cases that skip on the build
# machine run here, and nfqueue runs with native nftables.
# lab-build-files: tests/test-netbuf
# lab-bins: /usr/bin/awk /usr/bin/grep /usr/sbin/iptables-nft-restore /usr/sbin/ip6tables-nft-restore /usr/sbin/iptables-nft /usr/sbin/ip6tables-nft
. /lab/lib.sh
T=/usr/local/tests/test-netbuf
[ -x $T ] || { skip netbuf-unit "test-netbuf not built"; exit 0; }
out=$($T --jobs 1 2>&1)
st=$?
echo "$out" | grep -E '^\[(FAIL|----)\]' | head -40
syn=$(echo "$out" | grep Synthesis)
check netbuf-unit $st "$syn"
