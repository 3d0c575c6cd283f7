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
[ "$(stat -c %s "$cap")" = 5888 ] || { echo "capture size changed"; exit 1; }

expect valid 0 "ok: 2 epochs, 19 records, 5888 bytes" "" -- \
    remus-stream verify "$cap"
# shellcheck disable=SC2016  # $1 is the inner shell's
expect valid-stdin 0 "ok: 2 epochs, 19 records, 5888 bytes" "" -- \
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

head -c 5776 "$cap" >"$tmp/mid-epoch"
expect truncated-mid-epoch 1 "" \
    "offset 5776: truncated (epoch 2 begun at offset 5696 has no EPOCH_END)" -- \
    remus-stream verify "$tmp/mid-epoch"

head -c 1000 "$cap" >"$tmp/mid-record"
expect truncated-mid-record 1 "" \
    "offset 264: truncated (PAGE_BATCH record needs 5168 bytes, 736 present)" -- \
    remus-stream verify "$tmp/mid-record"

head -c 30 "$cap" >"$tmp/mid-header"
expect truncated-header 1 "" \
    "offset 0: truncated (stream header needs 56 bytes, 30 present)" -- \
    remus-stream verify "$tmp/mid-header"

# One byte of GUEST_STATE changed: the epoch CRC catches it at EPOCH_END.
cp "$cap" "$tmp/corrupt"
setbyte "$tmp/corrupt" 5440 000
expect corrupted-body 1 "" "offset 5616: EPOCH_END: CRC mismatch" -- \
    remus-stream verify "$tmp/corrupt"

# The page decoder sees a malformed XOR_RLE run header first.
cp "$cap" "$tmp/bad-rle"
setbyte "$tmp/bad-rle" 5406 344
expect malformed-page 1 "" "offset 5406: page pfn 4: malformed XOR_RLE data" -- \
    remus-stream verify "$tmp/bad-rle"

# A page entry's reserved field (entry 0 at 264 + 16, reserved at +14).
cp "$cap" "$tmp/reserved"
setbyte "$tmp/reserved" 294 001
expect reserved 1 "" "offset 264: PAGE_BATCH: reserved field or flag not zero" -- \
    remus-stream verify "$tmp/reserved"

# The heartbeat's own CRC.
cp "$cap" "$tmp/hb"
setbyte "$tmp/hb" 5648 011
expect heartbeat-crc 1 "" "offset 5640: HEARTBEAT: CRC mismatch" -- \
    remus-stream verify "$tmp/hb"

# dump stops at the same violation, after printing what came before.
remus-stream dump "$tmp/corrupt" >"$tmp/dump.out" 2>"$tmp/dump.err"
rc=$?
if [ $rc = 1 ] && [ "$(cat "$tmp/dump.err")" = "offset 5616: EPOCH_END: CRC mismatch" ] &&
    grep -q '^5600: OPTIONAL' "$tmp/dump.out" && ! grep -q '^5616' "$tmp/dump.out"; then
	echo "ok   dump-stops-at-violation"
else
	echo "FAIL dump-stops-at-violation: rc $rc"; cat "$tmp/dump.err"; fail=1
fi

# A version 1 capture (before the HELLO / WELCOME handshake) is refused
# at its header; so is a version 2 one (before DISKS).
expect version-1 1 "" "offset 0: stream header: unsupported stream version" -- \
    sh -c 'tail -c +2 "$1" | remus-stream verify -' sh "$REMUS_SRC/fuzz/corpus/stream/v1-fwd-all"
expect version-2 1 "" "offset 0: stream header: unsupported stream version" -- \
    sh -c 'tail -c +2 "$1" | remus-stream verify -' sh "$REMUS_SRC/fuzz/corpus/stream/v2-fwd-all"

: >"$tmp/empty"
expect empty 1 "" "offset 0: truncated (stream header needs 56 bytes, 0 present)" -- \
    remus-stream verify "$tmp/empty"
expect missing-file 1 "" "remus-stream: $tmp/nope: No such file or directory" -- \
    remus-stream verify "$tmp/nope"
# Usage errors exit 1 with one line, as in every remus program; --help
# works and lists the exit statuses.
for args in "frobnicate x" "verify" "-Z verify x"; do
	# shellcheck disable=SC2086
	remus-stream $args >/dev/null 2>"$tmp/usage.err"
	rc=$?
	if [ $rc = 1 ] && [ "$(wc -l <"$tmp/usage.err")" = 1 ]; then
		echo "ok   usage: $args -> $(cat "$tmp/usage.err")"
	else
		echo "FAIL usage: $args: rc $rc: $(cat "$tmp/usage.err")"; fail=1
	fi
done
if remus-stream --help >"$tmp/help.out" 2>&1 && grep -q "^Exit status" "$tmp/help.out"; then
	echo "ok   --help"
else
	echo "FAIL --help: $(cat "$tmp/help.out")"; fail=1
fi

exit $fail
