#!/bin/bash
# diskbuf-sync: the initial sync (remus-disksync) copies a disk in full,
# is interrupted half-way, and resumes moving only the blocks that still
# differ; a backup holding an old copy receives only what changed; an image
# size mismatch is refused with one clear line.
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"

mkimage "$T/p.img" 32

# 1. Interrupted: 8 MiB/s for a 32 MiB image, killed after the first
#    progress line (about a second in).
port=$(pick_port)
remus-disksync recv -c "$T/b.img" "127.0.0.1:$port" >"$T/recv1.log" 2>&1 &
rpid=$!
remus-disksync send -r 8M -w 20 "$T/p.img" "127.0.0.1:$port" \
    >"$T/send1.log" 2>&1 &
spid=$!
# Kill it once some, but not all, blocks went (progress lines say so).
wait_for grep -q "[1-9][0-9]* blocks sent" "$T/send1.log" ||
	fail "no progress from the sender"
kill -9 "$spid"
wait "$spid" 2>/dev/null || true
if wait "$rpid"; then fail "the receiver did not notice the interruption"; fi
grep -q "sync interrupted" "$T/recv1.log" ||
	fail "no 'sync interrupted' message from the receiver"
grep -q "MiB compared" "$T/send1.log" || fail "no progress display"
[ "$(digest "$T/p.img")" != "$(digest "$T/b.img")" ] ||
	fail "the interrupted copy is already complete: slow it down"

# 2. Resume: only the missing blocks move.
sync_images "$T/p.img" "$T/b.img" || fail "resumed sync"
sent=$(sed -n 's/.* \([0-9]*\) sent .*/\1/p' "$T/send.log")
echo "resume sent $sent of 32 blocks"
if [ "$sent" -le 0 ] || [ "$sent" -ge 32 ]; then
	fail "resume sent $sent blocks, expected some but not all of 32"
fi
[ "$(digest "$T/p.img")" = "$(digest "$T/b.img")" ] ||
	fail "images differ after the resumed sync"

# 3. An old copy: change 3 blocks on the primary, exactly those move.
for off in 0 7 31; do
	printf 'changed' | dd of="$T/p.img" bs=1M seek="$off" conv=notrunc \
	    status=none
done
sync_images "$T/p.img" "$T/b.img" || fail "incremental sync"
grep -q " 3 sent " "$T/send.log" || fail "expected 3 blocks sent: $(cat "$T/send.log")"
[ "$(digest "$T/p.img")" = "$(digest "$T/b.img")" ] || fail "images differ"

# 4. Size mismatch: refused by both ends, one clear line.
truncate -s 16M "$T/small.img"
if sync_images "$T/p.img" "$T/small.img"; then fail "size mismatch accepted"; fi
grep -q "image size mismatch" "$T/recv.log" || fail "receiver: no size mismatch line"
grep -q "image size mismatch" "$T/send.log" || fail "sender: no size mismatch line"
[ "$(stat -c %s "$T/small.img")" = $((16 << 20)) ] || fail "small image resized"
echo "PASS"
