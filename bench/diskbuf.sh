#!/bin/bash
# bench/diskbuf.sh -- fio (ioengine=nbd, libnbd) against diskbuf's NBD
# export, unprotected vs protected (every write logged, shipped per epoch
# and applied + fdatasync'ed on the backup), measured side by side in one
# run.  Not a test: run it by hand or with `cmake --build B --target
# bench-diskbuf`.
#
#   REMUS_BUILD=build bench/diskbuf.sh [-t SECONDS] [-s SIZE_MIB] [-e EPOCH_MS]
#
# Each case ends with
#   BENCH diskbuf mode=<protected|unprotected> pattern=<...> iops=<x> MBps=<x>
set -eu

RUNTIME=5 SIZE=256 EPOCH=100
while getopts t:s:e: o; do
	case $o in
	t) RUNTIME=$OPTARG ;;
	s) SIZE=$OPTARG ;;
	e) EPOCH=$OPTARG ;;
	*) echo "usage: $0 [-t SECONDS] [-s SIZE_MIB] [-e EPOCH_MS]" >&2; exit 2 ;;
	esac
done
: "${REMUS_BUILD:?set REMUS_BUILD to the build directory}"
PATH="$REMUS_BUILD/bin:$PATH"
command -v fio >/dev/null || { echo "bench-diskbuf: fio is not installed" >&2; exit 1; }
fio --enghelp 2>/dev/null | grep -qw nbd ||
	{ echo "bench-diskbuf: this fio has no nbd engine" >&2; exit 1; }

D=$(mktemp -d "${TMPDIR:-/var/tmp}/bench-diskbuf.XXXXXX")
PID=""
stop() {	# and wait until it is gone (its exit statistics are read)
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	fi
	PID=""
}
trap 'stop; rm -rf "$D"' EXIT

start() {	# MODE
	rm -f "$D/pid" "$D/st"
	if [ "$1" = protected ]; then
		(diskbuf-pair -i "$D/p.img" -B "$D/b.img" -l "unix:$D/sock" \
		    -e "$EPOCH" -s "$D/st" -S "$D" -P "$D/pid" 2>"$D/pair.log" &)
	else
		(diskbuf-pair -u -i "$D/p.img" -l "unix:$D/sock" -P "$D/pid" \
		    2>"$D/pair.log" &)
	fi
	for _ in $(seq 100); do [ -s "$D/pid" ] && break; sleep 0.1; done
	PID=$(cat "$D/pid")
}

# run PATTERN RW BS: prints "iops MBps" (terse v3: read bw/iops fields 7/8,
# write 48/49; bandwidth in KiB/s).
run() {
	fio --name=bench --ioengine=nbd --uri="nbd+unix:///?socket=$D/sock" \
	    --rw="$2" --bs="$3" --size="${SIZE}M" --iodepth=8 \
	    --runtime="$RUNTIME" --time_based --output-format=terse 2>/dev/null |
	awk -F';' -v rw="$2" '$1 == 3 {
		if (rw ~ /read/) { bw = $7; iops = $8 } else { bw = $48; iops = $49 }
		printf "%d %.1f\n", iops, bw * 1024 / 1e6 }'
}

echo "bench-diskbuf: ${SIZE} MiB image in $D, ${RUNTIME} s per case," \
    "epoch ${EPOCH} ms, fio nbd engine, iodepth 8"
head -c "$((SIZE << 20))" /dev/zero >"$D/p.img"
for pat in randwrite4k:randwrite:4k seqwrite1m:write:1M randread4k:randread:4k; do
	IFS=: read -r name rw bs <<<"$pat"
	declare -A res=()
	for mode in unprotected protected; do
		cp --sparse=always "$D/p.img" "$D/b.img"
		start "$mode"
		r=$(run "$name" "$rw" "$bs")
		stop
		[ -n "$r" ] || { echo "bench-diskbuf: fio failed ($mode $name)" >&2; cat "$D/pair.log" >&2; exit 1; }
		res[$mode]=$r
		if [ "$mode" = protected ]; then
			echo "  backup committed epoch $(awk '/^committed/ { n = $2 } END { print n + 0 }' "$D/st")" \
			    "($(grep -o '[0-9]* bytes spilled' "$D/pair.log" || echo '0 bytes spilled'))"
		fi
		echo "BENCH diskbuf mode=$mode pattern=$name iops=${r%% *} MBps=${r##* }"
	done
	u=${res[unprotected]%% *} p=${res[protected]%% *}
	awk -v u="$u" -v p="$p" -v n="$name" 'BEGIN {
		printf "  %s: protected/unprotected iops = %.2f\n", n, u ? p / u : 0 }'
done
