#!/usr/bin/env bash
# stream-engine-capture.sh -- a capture of what the real engine sends
# (remus protecting a remus-dirtier guest, the forward stream tee'd on its
# way to remusd --no-fence --receive) passes `remus-stream verify` and uses the XOR
# encodings.  The writer-made captures are checked by stream-verify.sh;
# this one checks the engine's use of the writer against the spec.
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
requires_root
requires remus-dirtier --help

start_guest g remus-dirtier --pages 200 --working-set 2000 --arena-size 8M
# -s '': the "host" is the whole command (transport-cmd.c).  remusd's
# stdout goes through cat so that remusd, which makes its stdin and stdout
# non-blocking, does not do so to the socket tee reads from (the command's
# stdin and stdout share one open file description).
start remus remus -i 50 -s '' --name g proc:"$GUEST_PID" \
	"sh -c 'tee $T/capture | remusd --no-fence --receive -D $T/st --guest \"g=$GUEST_CMD\" | cat'"
R=$LAST_PID
# Five committed epochs, however loaded the machine is.
wait_for 60 sh -c "[ \"\$(cat $T/st/g/proc-epoch 2>/dev/null)\" -ge 5 ] 2>/dev/null" ||
	fail "fewer than 5 epochs committed"
kill -INT "$R"
status=0
wait "$R" || status=$?
[ $status -eq 0 ] || fail "remus exited $status after SIGINT"
kill -9 "$GUEST_PID"

out=$(remus-stream verify "$T/capture" 2>"$T/verify.err") ||
	fail "verify: $(cat "$T/verify.err")"
echo "$out"
[ ! -s "$T/verify.err" ] || fail "verify: $(cat "$T/verify.err")"
n=$(echo "$out" | sed -n 's/^ok: \([0-9]*\) epochs.*/\1/p')
if [ -z "$n" ] || [ "$n" -lt 5 ]; then
	fail "only '$n' epochs in the capture"
fi
remus-stream -v dump "$T/capture" >"$T/dump"
tail -1 "$T/dump" | grep -q ': END ' || fail "capture does not end with END"
grep -q ' XOR_\(RLE\|LZ4\) ' "$T/dump" || fail "no XOR-encoded page in the capture"
grep -q ' EPOCH_BEGIN .* (full)' "$T/dump" || fail "no FULL first epoch"
echo "encodings: $(grep -o ' page pfn [0-9]* [A-Z_0-9]* ' "$T/dump" |
	awk '{print $4}' | sort | uniq -c | tr -s ' \n' ' ')"
echo PASS
