# tests/functional/netbuf-lib.sh -- the network of the netbuf end-to-end
# tests (sourced after functions.sh, not a test).
#
#   C (client)           P (primary host: remus)             B (backup)
#   vc 10.91.2.2 ----- vp2 10.91.2.1                        vb 10.91.3.2
#   fd91:2::2           fd91:2::1   vp3 10.91.3.1 --------- fd91:3::2
#                                   fd91:3::1          remusd, activated kvd
#                       vh 10.91.1.1 (netbuf holds its ingress)
#                       fd91:1::1
#                            |  veth (remus-netns-run)
#                       G (guest): eth0 10.91.1.2 fd91:1::2, remus-kvd
#
# P forwards between its links, so the client reaches the guest (and, after
# failover, the activated kvd in B) only through P, and every packet the
# guest sends enters P through vh, where remus --netbuf-if vh holds it.
#
#   nb_net_up         create C, P, B (names carry $NB, unique per run)
#   nb_guest_start N  start remus-kvd in G (via remus-netns-run) as guest N;
#                     sets GUEST_PID, GUEST_NAME (remus --name) and
#                     GUEST_CMD (remusd --guest "$GUEST_NAME=$GUEST_CMD")
#   nb_guest_stop     kill the guest, delete G
#   inC/inP/inB CMD   run CMD in that namespace
#   nb_check_order CLIENTLOG TRACE
#                     every reply in CLIENTLOG arrived after the release of
#                     the first epoch closed after its request was sent
#   nb_kill_and_check RUN REMUS CLIENT STATEDIR BADDR CLIENTLOG TRACE
#                     the primary host dies at a random moment of the
#                     client's run (remus, then its guest, kill -9); the
#                     backup in STATEDIR activates; every acknowledged
#                     write and read is there and no reply came early.
#                     Sets NB_W, NB_R, NB_O (writes, reads, replies
#                     checked) and NB_SAID (the checks' own lines)

NB=${NB:-nb$$}
NS_C=${NB}c NS_P=${NB}p NS_B=${NB}b NS_G=${NB}g
HIF=vh${NB: -6}

# Not for background jobs: $! would be the subshell, not the program.
inC() { ip netns exec "$NS_C" "$@"; }
inP() { ip netns exec "$NS_P" "$@"; }
inB() { ip netns exec "$NS_B" "$@"; }

nb_net_down() {
	local n
	for n in "$NS_G" "$NS_C" "$NS_P" "$NS_B"; do
		ip netns del "$n" 2>/dev/null || true
	done
	return 0
}

# veth PEER-NS-A IF-A ADDR-A PEER-NS-B IF-B ADDR-B (v4 /24 and v6 /64 base)
_nb_link() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" &&
	ip -n "$1" addr add "$3.1/24" dev "$2" &&
	ip -n "$1" addr add "$6::1/64" dev "$2" nodad &&
	ip -n "$1" link set "$2" up &&
	ip -n "$4" addr add "$3.2/24" dev "$5" &&
	ip -n "$4" addr add "$6::2/64" dev "$5" nodad &&
	ip -n "$4" link set "$5" up &&
	ip -n "$4" route add default via "$3.1" &&
	ip -n "$4" -6 route add default via "$6::1"
}

nb_net_up() {
	local n
	nb_net_down
	cleanup_fn nb_net_down
	for n in "$NS_C" "$NS_P" "$NS_B"; do
		ip netns add "$n" && ip -n "$n" link set lo up || fail "ip netns add $n"
	done
	_nb_link "$NS_P" vp2 10.91.2 "$NS_C" vc fd91:2 || fail "link P-C"
	_nb_link "$NS_P" vp3 10.91.3 "$NS_B" vb fd91:3 || fail "link P-B"
	inP sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 ||
		fail "forwarding in P"
}

nb_guest_start() {
	local name=kvd$1
	shift
	remus-netns-run --host-netns "$NS_P" --host-if "$HIF" --addr 10.91.1.2/24 \
	    --addr6 fd91:1::2/64 "$NS_G" -- \
	    remus-kvd --listen "${KVD_LISTEN:-10.91.1.2:7000}" \
	    --arena-size "${KVD_ARENA:-16M}" --pidfile "$T/$name.pid" "$@" \
	    >"$T/$name.log" 2>&1 &
	disown $!
	wait_for 20 test -s "$T/$name.pid" || fail "$name did not start"
	GUEST_PID=$(cat "$T/$name.pid")
	# What the backup runs for it (remusd --guest "$GUEST_NAME=$GUEST_CMD"),
	# and its name there (remus --name, STATEDIR/$GUEST_NAME).
	GUEST_NAME=$name
	GUEST_CMD="remus-kvd --listen ${KVD_LISTEN:-10.91.1.2:7000} --arena-size ${KVD_ARENA:-16M} --pidfile $T/$name.pid $*"
	wait_for 20 test -S "$REMUS_PROC_RUNDIR/proc-$GUEST_PID.sock" ||
		fail "$name: no control socket"
}

nb_guest_stop() {
	[ -n "${GUEST_PID:-}" ] && kill -9 "$GUEST_PID" 2>/dev/null || true
	GUEST_PID=""
	remus-netns-run --delete --host-netns "$NS_P" --host-if "$HIF" "$NS_G" \
	    2>/dev/null || true
	return 0
}

nb_check_order() {
	awk '
	FNR == NR {
		if ($1 == "start") s[$2] = $3
		if ($1 == "release") r[$2] = $3
		if ($2 > maxe) maxe = $2
		next
	}
	$1 == "SET" || $1 == "GET" {
		ts = $(NF - 1); tr = $NF
		e = 0
		for (i = 1; i <= maxe; i++)
			if ((i in s) && s[i] > ts) { e = i; break }
		checked++
		if (e == 0 || !(e in r) || r[e] > tr) {
			bad++
			printf "EARLY: %s %s: sent %s, received %s, first epoch " \
			    "closed after it: %s, released %s\n", $1, $2, ts, tr,
			    e, (e in r) ? r[e] : "never"
		}
	}
	END {
		printf "order: %d replies checked, %d arrived before their " \
		    "epoch was released\n", checked, bad
		exit bad > 0
	}' "$2" "$1"
}

nb_kill_and_check() {
	local run=$1 r=$2 c=$3 st=$4 baddr=$5 clog=$6 trace=$7 out ord
	# A random moment, 0 .. 1 s after the client's first reply (IPv6
	# needs neighbour discovery first, whose packets are held too).
	wait_for 10 test -s "$clog" || fail "run $run: no reply at all"
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	kill -9 "$r"			# the primary host dies: remus first,
	kill -9 "$GUEST_PID"		# then its guest (no release by remus)
	wait "$r" 2>/dev/null || true
	sleep 0.3
	kill "$c" 2>/dev/null || true
	wait "$c" 2>/dev/null || true
	wait_for 20 test -s "$st/proc-guest.pid" ||
		fail "run $run: backup did not activate"
	out=$(ip netns exec "$NS_C" remus-netbuf kv-check "$baddr" 7000 \
	    "$clog") || fail "run $run: $out"
	ord=$(nb_check_order "$clog" "$trace") || fail "run $run: $ord"
	NB_W=$(echo "$out" | sed -n 's/checked \([0-9]*\) writes \([0-9]*\) reads.*/\1/p')
	NB_R=$(echo "$out" | sed -n 's/checked \([0-9]*\) writes \([0-9]*\) reads.*/\2/p')
	NB_O=$(echo "$ord" | sed -n 's/order: \([0-9]*\) replies.*/\1/p')
	NB_SAID="$out; $ord"
}
