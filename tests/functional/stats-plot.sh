#!/usr/bin/env bash
# remus-stats plot: an SVG from a real run's --stats-json with the four
# series (pause, period, dirty pages, wire bytes), each with a point per
# epoch after the full one; plot-bench: BENCH lines, a series per --by
# value; bad input: one line FILE:LINE, exit 2.
. "$(dirname "$0")/functions.sh"
requires_root
requires gnuplot --version
requires python3 --version

start_guest g remus-dirtier --pages 100 --working-set 1000 --arena-size 16M
start remus remus -b -i 50 --stats-json "$T/stats.json" "proc:$GUEST_PID"
R=$LAST_PID
wait_for 20 sh -c "[ \$(wc -l <'$T/stats.json' 2>/dev/null || echo 0) -ge 30 ]" || fail "fewer than 30 epochs"
kill -INT $R
wait $R || fail "remus exited $?"
n=$(grep -vc '"full":1' "$T/stats.json")
remus-stats plot "$T/stats.json" -o "$T/run.svg" || fail "remus-stats plot failed"
python3 - "$T/run.svg" "$n" <<'PYEOF' || fail "the SVG lacks a series"
import sys
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(sys.argv[1]).getroot()
n = int(sys.argv[2])
want = ["pause (ms)", "period (ms)", "dirty pages", "wire (KiB)"]
got = {}
for g in root.iter("{http://www.w3.org/2000/svg}g"):
    if not g.get("id", "").startswith("gnuplot_plot_"):
        continue
    t = g.find("s:title", ns)
    pts = len(list(g.iter("{http://www.w3.org/2000/svg}use")))
    got[t.text if t is not None else g.get("id")] = pts
ok = True
for w in want:
    pts = got.get(w, 0)
    good = pts >= n
    ok = ok and good
    print("%s: series %s, %d points for %d epochs" % ("ok" if good else "FAIL", w, pts, n))
sys.exit(0 if ok else 1)
PYEOF

# BENCH lines.
cat >"$T/bench.txt" <<'B'
some other output
BENCH netbuf driver=plug interval_ms=25 rtt_us=300
BENCH netbuf driver=plug interval_ms=50 rtt_us=500
BENCH netbuf driver=nfqueue interval_ms=25 rtt_us=350
BENCH netbuf driver=nfqueue interval_ms=50 rtt_us=560
BENCH tls mode=psk hz=40
B
remus-stats plot-bench --x interval_ms --y rtt_us --by driver -o "$T/bench.svg" "$T/bench.txt" ||
	fail "plot-bench failed"
for s in "netbuf driver=plug" "netbuf driver=nfqueue"; do
	grep -qF "<title>$s</title>" "$T/bench.svg" || fail "plot-bench: no series \"$s\""
done
echo "ok: plot-bench: 2 series"

# Bad input: one line, status 2.
bad() {	# what args...
	local what=$1 st=0
	shift
	remus-stats "$@" >/dev/null 2>"$T/err" || st=$?
	[ $st -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$what" "$T/err" ||
		fail "remus-stats $*: status $st: $(cat "$T/err")"
	echo "ok 2: $(cat "$T/err")"
}
printf '{"epoch":1}\n' >"$T/bad.json"
bad "$T/bad.json:1: no integer" plot "$T/bad.json" -o "$T/x.svg"
printf 'BENCH x a=1 junk\n' >"$T/bad.txt"
bad "$T/bad.txt:1: \"junk\": want key=value" plot-bench --x a --y b -o "$T/x.svg" "$T/bad.txt"
bad "none.json: No such file or directory" plot "$T/none.json" -o "$T/x.svg"
[ ! -e "$T/x.svg" ] || fail "a picture was written from bad input"
echo PASS
