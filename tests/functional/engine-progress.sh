#!/usr/bin/env bash
# Progress lines.  On a terminal (script(1) gives remus a pty): the full
# first checkpoint rewrites one line in place ("\r") with done/total MiB,
# the rate and the time left, then logs one final line; the live disk sync
# (--disk-sync) does the same with its own line.  Not on a terminal: only
# the final lines, no "\r" and no ETA.  remusctl status (human and
# --json) and remus --metrics show both while they run: the full
# checkpoint's done/total pages, rate and ETA (slowed by --bandwidth),
# each disk's sync done/total bytes, rate and ETA.
. "$(dirname "$0")/functions.sh"
requires_root
requires script --version
requires jq --version
requires curl --version

# 256 MiB, every page written once so that the full copy takes a few
# tenths of a second at memory speed: a few 0.1 s ticks.
start_guest g remus-dirtier --pages 100 --working-set 65000 --arena-size 256M
sleep 1

# On a pty.
script -qfec "timeout -s INT 6 remus -b -i 100 proc:$GUEST_PID" "$T/tty.txt" >/dev/null </dev/null || true
tr '\r' '\n' <"$T/tty.txt" | grep -E '^full checkpoint: [0-9]+/256 MiB \([0-9]+%\), [0-9.]+ MiB/s, ETA [0-9.]+ s' >"$T/tty.lines" ||
	fail "no progress line on a terminal: $(head -c 2000 "$T/tty.txt" | cat -v)"
grep -q $'\rfull checkpoint: ' "$T/tty.txt" || fail "the line is not rewritten with \\r"
grep -qE 'remus: info: full checkpoint: 256 MiB in [0-9.]+ s \([0-9.]+ MiB/s\)' "$T/tty.txt" ||
	fail "no final line on a terminal"
echo "terminal: $(wc -l <"$T/tty.lines") progress update(s), last: $(tail -1 "$T/tty.lines")"

# Not on a terminal: the final line only.
timeout -s INT 6 remus -b -i 100 "proc:$GUEST_PID" >"$T/log.txt" 2>&1 </dev/null || true
! grep -q $'\r' "$T/log.txt" || fail "\\r in a log: $(grep -c $'\r' "$T/log.txt")"
! grep -q 'ETA' "$T/log.txt" || fail "progress updates in a log"
[ "$(grep -cE 'full checkpoint: 256 MiB in [0-9.]+ s' "$T/log.txt")" -eq 1 ] ||
	fail "want one final line: $(grep 'full checkpoint' "$T/log.txt")"
echo "log: $(grep -E 'full checkpoint: 256 MiB in' "$T/log.txt" | sed 's/.*info: //')"

# The full checkpoint in remusctl status (human and --json) and in the
# metrics while it runs: 32 MiB of random pages (--fill) sent
# uncompressed (-u) under --bandwidth 16 (2 MB/s): ~17 s on the wire.
# The three views are read together, again until all three fall inside
# the full checkpoint (on a loaded machine each remusctl takes a while).
start_guest g64 remus-dirtier --pages 100 --working-set 8000 --arena-size 32M --fill
sleep 1
port=$(pick_port)
mport=$(pick_port)
start remusd64 remusd --no-fence --no-activate --insecure --listen "127.0.0.1:$port" -D "$T/state64" \
	--guest "g64=$GUEST_CMD"
wait_for 20 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd (g64) does not listen"
start remus64 remus -u -i 100 --insecure --bandwidth 16 --ctl-socket "$T/full.sock" \
	--metrics "127.0.0.1:$mport" --name g64 proc:$GUEST_PID 127.0.0.1:$port
R64=$LAST_PID
views() {	# the three views now; 0 when all are inside the full checkpoint
	remusctl -S "$T/full.sock" --json status >"$T/full.json" 2>&1 &&
	jq -e '.full_checkpoint.done_pages > 0 and .full_checkpoint.done_pages < .full_checkpoint.total_pages' \
		"$T/full.json" >/dev/null &&
	remusctl -S "$T/full.sock" status >"$T/full.txt" 2>&1 &&
	grep -q '^full checkpoint' "$T/full.txt" &&
	curl -sf --max-time 5 "http://127.0.0.1:$mport/metrics" >"$T/full.prom" &&
	grep -q '^remus_full_checkpoint_done_bytes [1-9]' "$T/full.prom"
}
wait_for 40 views || fail "no view of the full checkpoint under way: $(cat "$T/full.json"; grep -s full "$T/full.txt" "$T/full.prom")"
jq -e '.phase == "FULL" and .full_checkpoint.total_pages == 8192 and
	.full_checkpoint.total_bytes == 33554432 and
	.full_checkpoint.done_pages < .full_checkpoint.total_pages and
	.full_checkpoint.rate_bytes_per_s > 0 and .full_checkpoint.eta_s > 0' \
	"$T/full.json" >/dev/null || fail "status JSON during the full checkpoint: $(cat "$T/full.json")"
echo "status --json, full checkpoint: $(jq -c .full_checkpoint "$T/full.json")"
grep -qE '^full checkpoint +[0-9]+/8192 pages, [0-9]+/32 MiB \([0-9]+%\), [0-9.]+ MiB/s, ETA [0-9.]+ s$' "$T/full.txt" ||
	fail "status table during the full checkpoint: $(cat "$T/full.txt")"
echo "status: $(grep '^full checkpoint' "$T/full.txt")"
grep -qx 'remus_full_checkpoint_total_bytes 33554432' "$T/full.prom" ||
	fail "no full checkpoint total in the metrics: $(grep full_checkpoint "$T/full.prom")"
d=$(sed -n 's/^remus_full_checkpoint_done_bytes //p' "$T/full.prom")
[ -n "$d" ] && [ "$d" -gt 0 ] && [ "$d" -le 33554432 ] || fail "full checkpoint done bytes in the metrics: '$d'"
echo "metrics: remus_full_checkpoint_done_bytes $d of 33554432"
# Once it is over: null in status, 0 in the metrics.
wait_for 60 sh -c "remusctl -S '$T/full.sock' --json status | jq -e '.full_checkpoint == null and .acked >= 1' >/dev/null" ||
	fail "the full checkpoint did not end in status"
curl -sf --max-time 5 "http://127.0.0.1:$mport/metrics" | grep -qx 'remus_full_checkpoint_total_bytes 0' ||
	fail "full checkpoint gauge not 0 after it"
kill -INT $R64
wait $R64 || fail "remus (g64) failed: $(tail -3 "$T/remus64.log")"

# The live disk sync, on a pty: a 16 MiB image at 2 MiB/s, ~8 s; its
# progress in remusctl status (human and --json) and the metrics too,
# the three read together as above.
truncate -s 16M "$T/p.img" "$T/b.img"
head -c 16M /dev/urandom >"$T/p.img"
port=$(pick_port)
sport=$(pick_port)
mport=$(pick_port)
start remusd remusd --no-fence --no-activate --insecure --listen "127.0.0.1:$port" -D "$T/state" \
	--disk "$T/b.img" --disk-sync-listen "127.0.0.1:$sport" --guest "g=$GUEST_CMD"
wait_for 20 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd does not listen"
script -qfec "timeout -s INT 20 remus -i 100 --insecure --disk $T/p.img --nbd-listen unix:$T/nbd.sock --disk-sync 127.0.0.1:$sport --disk-sync-rate 2M --ctl-socket $T/sync.sock --metrics 127.0.0.1:$mport --name g proc:$GUEST_PID 127.0.0.1:$port" \
	"$T/sync.txt" >/dev/null </dev/null &
S=$!
_kill_pids="$_kill_pids $S"
sync_views() {
	remusctl -S "$T/sync.sock" --json status >"$T/sync.json" 2>&1 &&
	jq -e '.disk_sync_disks[0].done_bytes > 0 and .disk_sync_disks[0].eta_s > 0' \
		"$T/sync.json" >/dev/null &&
	remusctl -S "$T/sync.sock" status >"$T/syncst.txt" 2>&1 &&
	grep -q '^disk sync (disk) *running' "$T/syncst.txt" &&
	curl -sf --max-time 5 "http://127.0.0.1:$mport/metrics" >"$T/sync.prom" &&
	grep -q '^remus_disk_sync_done_bytes{disk=""} [1-9]' "$T/sync.prom" &&
	! grep -q '^remus_disk_sync_done_bytes{disk=""} 16777216$' "$T/sync.prom"
}
wait_for 40 sync_views || fail "no view of the disk sync under way: $(cat "$T/sync.json"; grep -s 'disk.sync' "$T/syncst.txt" "$T/sync.prom")"
jq -e '.disk_sync == "running" and (.disk_sync_disks | length) == 1 and
	.disk_sync_disks[0].state == "running" and
	.disk_sync_disks[0].total_bytes == 16777216 and
	.disk_sync_disks[0].done_bytes < 16777216 and
	.disk_sync_disks[0].rate_bytes_per_s > 0 and
	.disk_sync_disks[0].sent_bytes <= .disk_sync_disks[0].done_bytes' \
	"$T/sync.json" >/dev/null || fail "status JSON during the disk sync: $(cat "$T/sync.json")"
echo "status --json, disk sync: $(jq -c '.disk_sync_disks[0]' "$T/sync.json")"
grep -qE '^disk sync \(disk\) +running, [0-9]+/16 MiB \([0-9]+%\), [0-9.]+ MiB/s, ETA [0-9.]+ s$' "$T/syncst.txt" ||
	fail "status table during the disk sync: $(cat "$T/syncst.txt")"
echo "status: $(grep '^disk sync (' "$T/syncst.txt")"
grep -qx 'remus_disk_sync_total_bytes{disk=""} 16777216' "$T/sync.prom" ||
	fail "no disk sync total in the metrics: $(grep disk_sync "$T/sync.prom")"
d=$(sed -n 's/^remus_disk_sync_done_bytes{disk=""} //p' "$T/sync.prom")
echo "metrics: remus_disk_sync_done_bytes $d of 16777216"
wait $S || true
tr '\r' '\n' <"$T/sync.txt" | grep -E '^disksync: [0-9]+/16 MiB compared .*ETA [0-9]+ s' >"$T/sync.lines" ||
	fail "no disk sync progress on a terminal: $(head -c 3000 "$T/sync.txt" | cat -v)"
grep -qE 'disksync: 16/16 MiB compared \(100%\)' "$T/sync.txt" || fail "no final disk sync line"
echo "disk sync, terminal: $(wc -l <"$T/sync.lines") update(s), last: $(tail -1 "$T/sync.lines")"
cmp "$T/p.img" "$T/b.img" || fail "the backup's image differs after the sync"
echo PASS
