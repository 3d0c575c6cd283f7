#!/bin/bash
# diskbuf-guests: one remusd protects two guests, each with its own disk
# (issue 14: a disk per guest among several).  g1's disk comes from the
# configuration file ([guest g1] backup-disk), g2's from the command line
# (--disk g2:d2=IMAGE).  Both primaries are killed -9 while their clients
# write; each guest is activated with its own disk holding every write
# acknowledged to its client, and nothing of the other guest's.
# Then: two guests without disks of their own share remusd's --disk for
# every guest; the second is refused while the first is fed (one line
# naming the image and the guest using it).
# shellcheck source=tests/functional/diskbuf-lib.sh
. "$(dirname "$0")/diskbuf-lib.sh"
requires test -x "$REMUS_BUILD/bin/remus"
requires test -x "$REMUS_BUILD/bin/remus-dirtier"
requires python3 -c 'import json, socket, struct'
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (the proc guest driver)"
	exit 77
fi
WRITER="$(dirname "$0")/nbd-acked-writer.py"
MiB=4
DIRTIER="remus-dirtier --pages 20 --working-set 200"

# guest NAME: start guest NAME's process; prints nothing, sets G_PID.
guest() {
	(remus-dirtier --pages 20 --working-set 200 --pidfile "$T/$1.pid" \
	    >"$T/$1.log" 2>&1 &)
	wait_for test -s "$T/$1.pid" || fail "guest $1 did not start"
	G_PID=$(cat "$T/$1.pid")
	_cleanup_pids="$_cleanup_pids $G_PID"
}

# protect NAME DISK: remus for guest NAME, its disk DISK=$T/p-NAME.img.
protect() {
	(remus -i $((30 + RANDOM % 40)) --insecure --name "$1" \
	    --ctl-socket "$T/ctl-$1.sock" --disk "$2=$T/p-$1.img" \
	    --nbd-listen "unix:$T/nbd-$1.sock" "proc:$(cat "$T/$1.pid")" \
	    "127.0.0.1:$port" >"$T/remus-$1.log" 2>&1 & echo $! >"$T/remus-$1.pid")
	wait_for test -s "$T/remus-$1.pid"
	_cleanup_pids="$_cleanup_pids $(cat "$T/remus-$1.pid")"
}

for g in g1 g2 g3 g4; do
	guest "$g"
done
mkimage "$T/p-g1.img" $MiB
mkimage "$T/p-g2.img" $MiB
sync_images "$T/p-g1.img" "$T/b-g1.img" -c || fail "initial sync g1"
sync_images "$T/p-g2.img" "$T/b-g2.img" -c || fail "initial sync g2"
cat >"$T/remus.conf" <<EOF
[remusd]
state-dir = $T/state
no-fence = yes
insecure = yes

[guest g1]
command = $DIRTIER --pidfile $T/g1.pid
backup-disk = d1=$T/b-g1.img

[guest g2]
command = $DIRTIER --pidfile $T/g2.pid
EOF
mkdir -p "$T/state"
port=$(pick_port)
(remusd --config "$T/remus.conf" -d -t 3000 --listen "127.0.0.1:$port" \
    --disk "g2:d2=$T/b-g2.img" --disk "$T/shared.img" \
    --guest "g3=$DIRTIER --pidfile $T/g3.pid" \
    --guest "g4=$DIRTIER --pidfile $T/g4.pid" \
    >"$T/remusd.log" 2>&1 & echo $! >"$T/remusd.pid")
wait_for test -s "$T/remusd.pid"
_cleanup_pids="$_cleanup_pids $(cat "$T/remusd.pid")"
wait_for sh -c "ss -Htln 'sport = :$port' | grep -q ." || fail "remusd does not listen"

protect g1 d1
protect g2 d2
for g in g1 g2; do
	wait_for test -S "$T/ctl-$g.sock" || fail "$g: no control socket"
	wait_for grep -q "serving NBD export" "$T/remus-$g.log" || fail "$g: disk not served"
done
grep -q "disk d1 (index 0) of the primary is $T/b-g1.img" "$T/remusd.log" ||
	fail "g1's disk is not its configured image"
grep -q "disk d2 (index 0) of the primary is $T/b-g2.img" "$T/remusd.log" ||
	fail "g2's disk is not its own image"
(python3 "$WRITER" "$T/nbd-g1.sock" "$T/ctl-g1.sock" "$T/acked-g1" d1 \
    >"$T/writer-g1.log" 2>&1 & echo $! >"$T/writer-g1.pid")
(python3 "$WRITER" "$T/nbd-g2.sock" "$T/ctl-g2.sock" "$T/acked-g2" d2 \
    >"$T/writer-g2.log" 2>&1 & echo $! >"$T/writer-g2.pid")
for g in g1 g2; do
	wait_for test -s "$T/writer-$g.pid"
	_cleanup_pids="$_cleanup_pids $(cat "$T/writer-$g.pid")"
	wait_for 60 test -s "$T/acked-$g" || fail "$g: nothing acknowledged: $(cat "$T/writer-$g.log")"
done
sleep "$((1 + RANDOM % 2)).$((RANDOM % 10))"
kill -9 "$(cat "$T/remus-g1.pid")" "$(cat "$T/remus-g2.pid")"
wait_for sh -c "[ \$(grep -c 'activated from epoch' '$T/remusd.log') -ge 2 ]" ||
	fail "the two guests were not both activated"
for g in g1 g2; do
	wait_for sh -c "! kill -0 $(cat "$T/writer-$g.pid") 2>/dev/null" ||
		fail "$g: the writer did not notice remus went"
done
python3 - "$T" <<'PY' || fail "an acknowledged write is missing, or a guest's disk has the other's"
import re, sys
t = sys.argv[1]
for g, d, other in (("g1", "d1", "d2"), ("g2", "d2", "d1")):
    img = open(f"{t}/b-{g}.img", "rb").read()
    n = 0
    for line in open(f"{t}/acked-{g}"):
        e, b, q = line.split()
        b = int(b)
        tag = f"{e}:{b}:{q}:".encode()
        want = (tag * (4096 // len(tag) + 1))[:4096]
        if img[b * 4096:(b + 1) * 4096] != want:
            sys.exit(f"{g}: {e} block {b} (write {q}) is missing")
        n += 1
    # A write's content: its tag over and over (random bytes would match
    # a short pattern by chance).
    if re.search(rb"(%s:[0-9]+:[0-9]+:){3}" % other.encode(), img):
        sys.exit(f"{g}'s disk holds writes of {other}")
    print(f"{g}: {n} acknowledged writes on its own disk, none of the other's")
PY
for g in g1 g2; do
	[ -s "$T/state/$g/proc-guest.pid" ] && kill -9 "$(cat "$T/state/$g/proc-guest.pid")" 2>/dev/null
done

# g3 and g4 have no disk of their own: remusd's one for every guest.  g3
# is fed; g4 must be refused while it is, naming the image and g3.
mkimage "$T/p-g3.img" $MiB
mkimage "$T/p-g4.img" $MiB
sync_images "$T/p-g3.img" "$T/shared.img" -c || fail "initial sync g3"
cp "$T/p-g3.img" "$T/p-g4.img"
protect g3 d
wait_for grep -q "guest g3: the primary\|protecting proc guest \"g3\"" "$T/remusd.log" ||
	fail "g3 not protected"
wait_for grep -q "disk d (index 0) of the primary is $T/shared.img" "$T/remusd.log" ||
	fail "g3 does not get the image for every guest"
protect g4 d
wait_for grep -q "guest \"g4\" refused: disk image $T/shared.img is in use by guest g3's session" "$T/remusd.log" ||
	fail "g4 was not refused: $(grep g4 "$T/remusd.log" | tail -3)"
wait_for sh -c "! kill -0 $(cat "$T/remus-g4.pid") 2>/dev/null" || fail "remus g4 went on"
grep -q "in use by guest g3" "$T/remus-g4.log" || fail "remus g4 did not say why: $(tail -2 "$T/remus-g4.log")"
echo "refused: $(grep -o "disk image .* in use by guest g3's session[^;]*" "$T/remusd.log" | head -1)"
kill "$(cat "$T/remus-g3.pid")"
wait_for grep -q "g3.*END\|clean end" "$T/remusd.log" || true
echo PASS
