#!/usr/bin/bash
# tests/lab/xen/labtest.sh -- the checks, run inside the lab's dom0.
#
# $1: '+'-separated phases.  Every check prints one line
#   @@RESULT ok|FAIL <check> <detail>
# benchmarks print '@@BENCH xen ...', and the end is '@@SUMMARY fails=N'.
# iproute2 is called by full path: busybox's ash would run its own applets.
set -u
PHASES="+$1+"
has() { case $PHASES in *+"$1"+*) return 0 ;; esac; return 1; }
now() { cut -d' ' -f1 /proc/uptime; }
el() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
FAILS=0
ok() { echo "@@RESULT ok $*"; }
fail() { echo "@@RESULT FAIL $*"; FAILS=$((FAILS + 1)); }
IP=/usr/sbin/ip
TC=/usr/sbin/tc
GUEST=169.254.99.2
PORT=7777
CONS=/var/log/xen/console

# ask CMD: one request to the domU's counter service; prints its reply
# ("count=C tick=T") or nothing.
ask() {
	/usr/bin/timeout 6 /usr/bin/bash -c '
		exec 3<>/dev/tcp/'$GUEST'/'$PORT' || exit 1
		echo "$1" >&3
		read -r -t 4 line <&3 && echo "$line"' _ "$1" 2>/dev/null
}
count_of() { sed -n 's/^count=\([0-9]*\).*/\1/p'; }
# wait_ask SECONDS: until the service answers; prints the reply.
wait_ask() {
	local t0 r
	t0=$(now)
	while [ "$(el "$t0" "$(now)" | cut -d. -f1)" -lt "$1" ]; do
		r=$(ask GET) && [ -n "$r" ] && { echo "$r"; return 0; }
		sleep 0.5
	done
	return 1
}
wait_console() { # name pattern seconds
	local n=0
	while [ $n -lt "$3" ]; do
		grep -aq "$2" "$CONS/guest-$1.log" 2>/dev/null && return 0
		sleep 1; n=$((n + 1))
	done
	return 1
}
# tick_of NAME: the last tick the domain printed on its console.
tick_of() {
	tr -d '\r' < "$CONS/guest-$1.log" 2>/dev/null |
	    sed -n 's/^@@DOMU-TICK \([0-9]*\) .*/\1/p' | tail -1
}
domid_of() { xl domid "$1" 2>/dev/null; }
# state_of NAME: xl list's state column (r, b, p, s, ...).
state_of() { xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }' | tr -d -; }

# --- toolstack -----------------------------------------------------------
for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs xen-netback \
    bridge sch_plug ifb sch_ingress act_mirred cls_u32 cls_matchall; do
	modprobe $m 2>/dev/null || echo "modprobe $m failed"
done
mount -t xenfs xenfs /proc/xen
T=$(now)
/usr/lib/xen-4.17/bin/xenstored --pid-file /run/xenstored.pid &&
    /usr/lib/xen-4.17/bin/xen-init-dom0 >/dev/null &&
    /usr/lib/xen-4.17/bin/xenconsoled --pid-file=/run/xenconsoled.pid \
    --log=guest --log-dir=$CONS &&
    xl list >/dev/null &&
    ok toolstack "xenstored, xenconsoled, xl list in $(el "$T" "$(now)") s" ||
    { fail toolstack "see the log above"; echo "@@SUMMARY fails=$FAILS"; exit 1; }
$IP link set lo up
$IP link add xenbr0 type bridge && $IP link set xenbr0 up &&
    $IP addr add 169.254.99.1/24 dev xenbr0

cat > /tmp/domu.cfg <<'EOC'
name = "domu"
type = "pvh"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/initrd"
extra = "console=hvc0 quiet"
memory = 128
vcpus = 1
vif = [ 'bridge=xenbr0,mac=00:16:3e:00:00:02' ]
on_crash = "preserve"
on_reboot = "destroy"
EOC

# create_domu: PVH domU up with its service answering (one retry: TCG).
create_domu() {
	local t0 r
	t0=$(now)
	if ! xl create /tmp/domu.cfg >/tmp/create.log 2>&1; then
		tail -20 /tmp/create.log
		fail domu-create "xl create failed"
		return 1
	fi
	if ! wait_console domu DOMU-SERVICE 300 || ! r=$(wait_ask 60); then
		tail -5 "$CONS/guest-domu.log"
		fail domu-create "PVH domU service not up after $(el "$t0" "$(now)") s"
		return 1
	fi
	ok domu-create "PVH domU $(domid_of domu) serving in $(el "$t0" "$(now)") s ($r)"
}

# --- domu: a PVH guest with the TCP counter ----------------------------
if has domu; then
	create_domu || { echo "@@SUMMARY fails=$FAILS"; exit 1; }
	a=$(ask INC | count_of); b=$(ask INC | count_of)
	if [ -n "$a" ] && [ -n "$b" ] && [ "$b" -eq $((a + 1)) ]; then
		ok domu-service "INC, INC -> count $a, $b"
	else
		fail domu-service "INC, INC -> '$a', '$b'"
	fi
fi

# stream_bytes FILE: bytes counted so far by labtool count.
stream_bytes() { cat "$1" 2>/dev/null || echo 0; }
checkpoints() { grep -c 'guest has suspended' "$1" 2>/dev/null; }

# --- xlremus: baseline xl remus to localhost, failover by destroy -------
if has xlremus; then
	INT=${XL_INTERVAL:-200}
	old=$(domid_of domu)
	rm -f /tmp/xl.bytes
	xl -vvv remus -F -n -i "$INT" -s '' domu \
	    '/labtool count /tmp/xl.bytes | xl -vvv migrate-receive -r -e' \
	    >/tmp/xlremus.log 2>&1 &
	RP=$!
	n=0
	while [ $n -lt 300 ] && ! xl list | grep -q 'domu--incoming'; do
		sleep 1; n=$((n + 1))
	done
	# wait for the first full copy to finish: checkpoints start
	n2=0
	while [ $n2 -lt 300 ] && [ "$(checkpoints /tmp/xlremus.log)" -lt 3 ]; do
		sleep 1; n2=$((n2 + 1))
	done
	T=$(now); c0=$(checkpoints /tmp/xlremus.log); b0=$(stream_bytes /tmp/xl.bytes)
	sleep "${XL_WINDOW:-20}"
	before=$(ask INC | count_of)
	sleep 2	# let the INC reach a checkpoint
	T1=$(now); c1=$(checkpoints /tmp/xlremus.log); b1=$(stream_bytes /tmp/xl.bytes)
	secs=$(el "$T" "$T1"); eps=$((c1 - c0))
	hz=$(awk -v e=$eps -v s="$secs" 'BEGIN { printf "%.2f", e / s }')
	bpe=na
	[ $eps -gt 0 ] && bpe=$(( (b1 - b0) / eps ))
	if kill -0 $RP 2>/dev/null && [ $eps -gt 0 ]; then
		ok xl-remus "backup after ${n} s, $eps checkpoints in $secs s"
	else
		tail -30 /tmp/xlremus.log
		fail xl-remus "sender alive? $eps checkpoints in $secs s"
	fi
	xl list
	T=$(now)
	xl destroy "$old"
	fo=na
	r=$(wait_ask 180) && fo=$(el "$T" "$(now)")
	after=$(echo "$r" | count_of)
	if [ "$fo" != na ] && [ -n "$after" ] && [ -n "$before" ] &&
	    [ "$after" -ge "$before" ]; then
		ok xl-remus-failover "backup answers $fo s after destroy ($r; count before $before)"
	else
		tail -30 /tmp/xlremus.log
		fail xl-remus-failover "after destroy: '$r', count before '$before'"
	fi
	wait $RP 2>/dev/null
	echo "@@BENCH xen tool=xl-remus interval_ms=$INT pause_ms_p50=na hz=$hz bytes_per_epoch=$bpe failover_s=$fo"
	xl list
	xl rename domu--incoming domu 2>/dev/null
fi

# --- xlbh: xl remus -b (blackhole); leaves the guest suspended ----------
if has xlbh; then
	T=$(now)
	/usr/bin/timeout "${XLBH_SECS:-20}" xl -vvv remus -F -n -b -i 100 domu \
	    dummy >/tmp/xlbh.log 2>&1
	n=$(checkpoints /tmp/xlbh.log)
	if [ "$n" -gt 3 ]; then
		ok xl-remus-blackhole "$n checkpoints in $(el "$T" "$(now)") s; domain left '$(state_of domu)'"
	else
		tail -20 /tmp/xlbh.log
		fail xl-remus-blackhole "$n checkpoints"
	fi
fi

xl list
echo "@@SUMMARY fails=$FAILS"
exit $FAILS
