#!/bin/bash
# stream-golden.sh -- `remus-stream -v dump` of a capture made by the
# writer (fuzz-stream-replay --make-seeds, seed fwd-all: every record type
# and page encoding) must match golden/stream-dump.ok (STYLE T7).
# UPDATE_GOLDEN=1 regenerates the golden file.
set -euo pipefail
src=${REMUS_SRC:?} golden=$REMUS_SRC/tests/functional/golden/stream-dump.ok
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fuzz-stream-replay --make-seeds "$tmp/seeds" >/dev/null
# Seeds start with the fuzz target's control byte; the capture follows.
tail -c +2 "$tmp/seeds/fwd-all" >"$tmp/capture"
remus-stream -v dump "$tmp/capture" >"$tmp/dump"

if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
	cp "$tmp/dump" "$golden"
	echo "stream-golden: updated $golden"
	exit 0
fi
diff -u "$golden" "$tmp/dump"

# The same from stdin.
remus-stream -v dump - <"$tmp/capture" | diff -u "$golden" -

# The committed seed corpus is what the writer makes today.
for f in "$tmp"/seeds/*; do
	if ! cmp -s "$f" "$src/fuzz/corpus/stream/${f##*/}"; then
		echo "stream-golden: fuzz/corpus/stream/${f##*/} is stale;" \
		    "run: fuzz-stream-replay --make-seeds fuzz/corpus/stream"
		exit 1
	fi
done
echo "stream-golden: ok"
