#!/bin/bash
# b-netbuf.sh -- bench/netbuf.sh inside the kernel lab, where the kernel has
# sch_plug: both drivers side by side (not run by default; bench/netbuf.sh
# with BENCH_LAB=1 boots the lab with LAB_TESTS=b-netbuf.sh).  Figures are
# TCG's: compare drivers with each other, not with the host.
# lab-modules: sch_plug ifb sch_ingress cls_matchall cls_u32 act_mirred veth nfnetlink_queue nft_queue
# lab-bins: /usr/bin/ss /usr/bin/mktemp
# lab-src-files: tests/functional/functions.sh tests/functional/netbuf-lib.sh bench/netbuf.sh
. /lab/lib.sh
export REMUS_BUILD=/usr/local
out=$(DRIVERS="plug nfqueue" INTERVALS="${LAB_INTERVALS:-50 100}" \
    DURATION_MS=3000 FLOOD=20000 bash /lab/src/bench/netbuf.sh 2>&1)
st=$?
echo "$out" | grep -v '^remus' | tail -12
check netbuf-bench $st "$(echo "$out" | grep -c '^BENCH') BENCH lines"
