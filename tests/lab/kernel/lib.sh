# tests/lab/kernel/lib.sh -- helpers for t-*.sh inside the lab VM (bash).
pass() { echo "LAB-RESULT PASS $*"; }
fail() { echo "LAB-RESULT FAIL $*"; }
skip() { echo "LAB-RESULT SKIP $*"; }
# check NAME COND-STATUS DETAIL: PASS if the status is 0.
check() {
	local name=$1 st=$2
	shift 2
	if [ "$st" -eq 0 ]; then pass "$name" "$*"; else fail "$name" "$*"; fi
}

# mk_pair HOSTNS-IF GUESTNS N: namespace GUESTNS with vg<N> 10.7<N>.0.2 /
# fd7<N>::2, its peer IF in the current namespace with .1 / ::1.
mk_pair() {
	local hif=$1 ns=$2 n=$3
	ip netns add "$ns"
	ip link add "$hif" type veth peer name "vg$n"
	ip link set "vg$n" netns "$ns"
	ip addr add "10.7$n.0.1/24" dev "$hif"
	ip addr add "fd7$n::1/64" dev "$hif" nodad
	ip link set "$hif" up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "10.7$n.0.2/24" dev "vg$n"
	ip -n "$ns" addr add "fd7$n::2/64" dev "vg$n" nodad
	ip -n "$ns" link set "vg$n" up
}
