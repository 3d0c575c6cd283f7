#!/bin/bash
# diskbuf-epochs: qemu-io writes patterns across epochs through the NBD
# export of diskbuf-pair (primary + backup, epochs on a timer); the primary
# is killed -9 at a random moment; the backup must fail over holding, byte
# for byte, the primary's image as of its last committed epoch (the digest
# the primary recorded under its write lock when it closed that epoch).
# Odd rounds kill at a random moment; even rounds make the primary kill
# itself at a chosen phase (after closing the epoch, mid-send, after the
# end marker before the ACK, after the ACK) so every phase is covered.
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires qemu-io --version

ROUNDS=${ROUNDS:-8}
nonzero=0

writer() {
	# Random writes, write-zeroes, discards and FUA writes, forever.
	local uri=$1 cmds
	while :; do
		cmds=()
		for _ in 1 2 3 4 5 6 7 8; do
			local off=$(( (RANDOM % 2000) * 4096 ))
			case $((RANDOM % 7)) in
			6) cmds+=(-c "write -P $((RANDOM % 256)) $(( (RANDOM % 7) << 20 )) 1M") ;;
			0) cmds+=(-c "write -z $off 8k") ;;
			1) cmds+=(-c "discard $off 64k") ;;
			2) cmds+=(-c "write -f -P $((RANDOM % 256)) $off 4k") ;;
			*) cmds+=(-c "write -P $((RANDOM % 256)) $off $(( (RANDOM % 16 + 1) * 512 ))") ;;
			esac
		done
		cmds+=(-c flush)
		qemu-io -f raw "${cmds[@]}" "$uri" >/dev/null 2>&1 || true
	done
}

for round in $(seq "$ROUNDS"); do
	rm -f "$T"/p.img "$T"/b.img "$T"/dg "$T"/st
	mkimage "$T/p.img" 8
	sync_images "$T/p.img" "$T/b.img" -c || fail "initial sync"
	[ "$(digest "$T/p.img")" = "$(digest "$T/b.img")" ] ||
		fail "initial sync: images differ"

	epoch_ms=$((10 + RANDOM % 60))
	# Half the rounds spill the write logs to files past 64 KiB.
	mem=(); [ $((round % 2)) = 0 ] && mem=(-m 64k)
	phases=(close send end ack)
	hook=()
	[ $((round % 2)) = 0 ] &&
		hook=(-K "${phases[$(( (round / 2) % 4 ))]}@$((5 + RANDOM % 10))")
	start_pair pair -i "$T/p.img" -B "$T/b.img" -l "unix:$T/nbd.sock" \
	    -e "$epoch_ms" -d "$T/dg" -s "$T/st" -S "$T" "${mem[@]}" "${hook[@]}"
	writer "$(nbd_uri "$T/nbd.sock")" &
	wpid=$!
	_cleanup_pids="$_cleanup_pids $wpid"
	if [ ${#hook[@]} = 0 ]; then
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
		sleep "$((RANDOM % 2))"
		kill -9 "$PAIR_PID"
	fi
	wait_for grep -q '^activated' "$T/st" ||
		fail "round $round: the backup did not fail over"
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true

	n=$(awk '/^activated/ { print $2 }' "$T/st")
	want=$(awk -v n="$n" '$1 == n { print $2 }' "$T/dg")
	got=$(digest "$T/b.img")
	[ -n "$want" ] || fail "round $round: no digest recorded for epoch $n"
	echo "round $round: epoch ${epoch_ms} ms ${mem[*]} ${hook[*]}, backup committed epoch $n" \
	    "of $(tail -1 "$T/dg" | cut -d' ' -f1) closed"
	[ "$want" = "$got" ] ||
		fail "round $round: backup image differs from the primary at epoch $n"
	# Did the round test anything? (writes reached the backup)
	if [ "$n" -gt 0 ] && [ "$want" != "$(awk '$1 == 0 { print $2 }' "$T/dg")" ]; then
		nonzero=$((nonzero + 1))
	fi
done
[ "$nonzero" -gt 0 ] || fail "no round committed any write: the test proved nothing"
echo "PASS: $ROUNDS rounds, $nonzero with committed writes"
