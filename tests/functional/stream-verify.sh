#!/bin/bash
# stream-verify.sh -- `remus-stream verify` accepts a capture made by the
# writer and rejects truncated and corrupted copies with one line naming
# the byte offset and the reason (docs/stream-format.md).
set -uo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# setbyte FILE OFFSET OCTAL: overwrite one byte.
setbyte() {
	# shellcheck disable=SC2059  # the octal escape is the point
	printf "\\$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# expect NAME STATUS STDOUT STDERR -- command follows after --
expect() {
	local name=$1 want_rc=$2 want_out=$3 want_err=$4 rc
	shift 5
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" != "$want_rc" ] || [ "$(cat "$tmp/out")" != "$want_out" ] ||
	    [ "$(cat "$tmp/err")" != "$want_err" ]; then
		echo "FAIL $name: status $rc (want $want_rc)"
		echo "  stdout: $(cat "$tmp/out")"
		echo "  want:   $want_out"
		echo "  stderr: $(cat "$tmp/err")"
		echo "  want:   $want_err"
		fail=1
	else
		echo "ok   $name"
	fi
}

fuzz-stream-replay --make-seeds "$tmp/seeds" >/dev/null || exit 1
cap=$tmp/capture
tail -c +2 "$tmp/seeds/fwd-all" >"$cap"
[ "$(stat -c %s "$cap")" = 5760 ] || { echo "capture size changed"; exit 1; }

expect valid 0 "ok: 2 epochs, 17 records, 5760 bytes" "" -- \
    remus-stream verify "$cap"
# shellcheck disable=SC2016  # $1 is the inner shell's
expect valid-stdin 0 "ok: 2 epochs, 17 records, 5760 bytes" "" -- \
    sh -c 'remus-stream verify - <"$1"' sh "$cap"

# A primary that died: epochs complete, no END.  Valid, with a note.
tail -c +2 "$tmp/seeds/fwd-one-epoch" >"$tmp/one"
expect no-end 0 "ok: 1 epochs, 4 records, 4840 bytes" \
    "remus-stream: note: no END record (the primary stopped without a clean shutdown)" -- \
    remus-stream verify "$tmp/one"

tail -c +2 "$tmp/seeds/back-acks" >"$tmp/back"
expect back-channel 0 "ok: 0 epochs, 6 records, 152 bytes" "" -- \
    remus-stream -B verify "$tmp/back"
expect back-as-forward 1 "" \
    "offset 0: stream header: bad magic: not a remus stream" -- \
    remus-stream verify "$tmp/back"

head -c 5688 "$cap" >"$tmp/mid-epoch"
expect truncated-mid-epoch 1 "" \
    "offset 5688: truncated (epoch 2 begun at offset 5608 has no EPOCH_END)" -- \
    remus-stream verify "$tmp/mid-epoch"

head -c 1000 "$cap" >"$tmp/mid-record"
expect truncated-mid-record 1 "" \
    "offset 184: truncated (PAGE_BATCH record needs 5168 bytes, 816 present)" -- \
    remus-stream verify "$tmp/mid-record"

head -c 30 "$cap" >"$tmp/mid-header"
expect truncated-header 1 "" \
    "offset 0: truncated (stream header needs 56 bytes, 30 present)" -- \
    remus-stream verify "$tmp/mid-header"

# One byte of GUEST_STATE changed: the epoch CRC catches it at EPOCH_END.
cp "$cap" "$tmp/corrupt"
setbyte "$tmp/corrupt" 5360 000
expect corrupted-body 1 "" "offset 5528: EPOCH_END: CRC mismatch" -- \
    remus-stream verify "$tmp/corrupt"

# The page decoder sees a malformed XOR_RLE run header first.
cp "$cap" "$tmp/bad-rle"
setbyte "$tmp/bad-rle" 5326 344
expect malformed-page 1 "" "offset 5326: page pfn 4: malformed XOR_RLE data" -- \
    remus-stream verify "$tmp/bad-rle"

# A page entry's reserved field (entry 0 at 184 + 16, reserved at +14).
cp "$cap" "$tmp/reserved"
setbyte "$tmp/reserved" 214 001
expect reserved 1 "" "offset 184: PAGE_BATCH: reserved field or flag not zero" -- \
    remus-stream verify "$tmp/reserved"

# The heartbeat's own CRC.
cp "$cap" "$tmp/hb"
setbyte "$tmp/hb" 5560 011
expect heartbeat-crc 1 "" "offset 5552: HEARTBEAT: CRC mismatch" -- \
    remus-stream verify "$tmp/hb"

# dump stops at the same violation, after printing what came before.
remus-stream dump "$tmp/corrupt" >"$tmp/dump.out" 2>"$tmp/dump.err"
rc=$?
if [ $rc = 1 ] && [ "$(cat "$tmp/dump.err")" = "offset 5528: EPOCH_END: CRC mismatch" ] &&
    grep -q '^5512: OPTIONAL' "$tmp/dump.out" && ! grep -q '^5528' "$tmp/dump.out"; then
	echo "ok   dump-stops-at-violation"
else
	echo "FAIL dump-stops-at-violation: rc $rc"; cat "$tmp/dump.err"; fail=1
fi

# A version 1 capture (before the HELLO / WELCOME handshake) is refused
# at its header.
expect version-1 1 "" "offset 0: stream header: unsupported stream version" -- \
    sh -c 'tail -c +2 "$1" | remus-stream verify -' sh "$REMUS_SRC/fuzz/corpus/stream/v1-fwd-all"

: >"$tmp/empty"
expect empty 1 "" "offset 0: truncated (stream header needs 56 bytes, 0 present)" -- \
    remus-stream verify "$tmp/empty"
expect missing-file 1 "" "remus-stream: $tmp/nope: No such file or directory" -- \
    remus-stream verify "$tmp/nope"
remus-stream frobnicate x >/dev/null 2>&1
if [ $? = 2 ]; then
	echo "ok   usage"
else
	echo "FAIL usage"; fail=1
fi

exit $fail
