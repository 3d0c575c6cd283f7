#!/usr/bin/env bash
# Progress lines.  On a terminal (script(1) gives remus a pty): the full
# first checkpoint rewrites one line in place ("\r") with done/total MiB,
# the rate and the time left, then logs one final line; the live disk sync
# (--disk-sync) does the same with its own line.  Not on a terminal: only
# the final lines, no "\r" and no ETA.
. "$(dirname "$0")/functions.sh"
requires_root
requires script --version

# 256 MiB, every page written once so that the full copy takes a few
# tenths of a second at memory speed: a few 0.1 s ticks.
start_guest g remus-dirtier --pages 100 --working-set 65000 --arena-size 256M
sleep 1

# On a pty.
script -qfec "timeout -s INT 2 remus -b -i 100 proc:$GUEST_PID" "$T/tty.txt" >/dev/null </dev/null || true
tr '\r' '\n' <"$T/tty.txt" | grep -E '^full checkpoint: [0-9]+/256 MiB \([0-9]+%\), [0-9.]+ MiB/s, ETA [0-9.]+ s' >"$T/tty.lines" ||
	fail "no progress line on a terminal: $(head -c 2000 "$T/tty.txt" | cat -v)"
grep -q $'\rfull checkpoint: ' "$T/tty.txt" || fail "the line is not rewritten with \\r"
grep -qE 'remus: info: full checkpoint: 256 MiB in [0-9.]+ s \([0-9.]+ MiB/s\)' "$T/tty.txt" ||
	fail "no final line on a terminal"
echo "terminal: $(wc -l <"$T/tty.lines") progress update(s), last: $(tail -1 "$T/tty.lines")"

# Not on a terminal: the final line only.
timeout -s INT 2 remus -b -i 100 "proc:$GUEST_PID" >"$T/log.txt" 2>&1 </dev/null || true
! grep -q $'\r' "$T/log.txt" || fail "\\r in a log: $(grep -c $'\r' "$T/log.txt")"
! grep -q 'ETA' "$T/log.txt" || fail "progress updates in a log"
[ "$(grep -cE 'full checkpoint: 256 MiB in [0-9.]+ s' "$T/log.txt")" -eq 1 ] ||
	fail "want one final line: $(grep 'full checkpoint' "$T/log.txt")"
echo "log: $(grep -E 'full checkpoint: 256 MiB in' "$T/log.txt" | sed 's/.*info: //')"

# The live disk sync, on a pty: an 8 MiB image at 2 MiB/s, ~4 s.
truncate -s 8M "$T/p.img" "$T/b.img"
head -c 8M /dev/urandom >"$T/p.img"
port=$(pick_port)
sport=$(pick_port)
start remusd remusd --no-fence --insecure --listen "127.0.0.1:$port" -D "$T/state" \
	--disk "$T/b.img" --disk-sync-listen "127.0.0.1:$sport" --guest "g=$GUEST_CMD"
wait_for 20 sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd does not listen"
script -qfec "timeout -s INT 7 remus -i 100 --insecure --disk $T/p.img --nbd-listen unix:$T/nbd.sock --disk-sync 127.0.0.1:$sport --disk-sync-rate 2M --name g proc:$GUEST_PID 127.0.0.1:$port" \
	"$T/sync.txt" >/dev/null </dev/null || true
tr '\r' '\n' <"$T/sync.txt" | grep -E '^disksync: [0-9]+/8 MiB compared .*ETA [0-9]+ s' >"$T/sync.lines" ||
	fail "no disk sync progress on a terminal: $(head -c 3000 "$T/sync.txt" | cat -v)"
grep -qE 'disksync: 8/8 MiB compared \(100%\)' "$T/sync.txt" || fail "no final disk sync line"
echo "disk sync, terminal: $(wc -l <"$T/sync.lines") update(s), last: $(tail -1 "$T/sync.lines")"
cmp "$T/p.img" "$T/b.img" || fail "the backup's image differs after the sync"
echo PASS
