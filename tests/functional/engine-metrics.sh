#!/usr/bin/env bash
# remus --metrics ADDR and --metrics-file FILE: Prometheus text format
# 0.0.4, read by prometheus_client's own parser, with counters equal to
# the sums of --stats-json over the same run; the HTTP endpoint answers
# GET /metrics only, and refuses anything else with one status line.
. "$(dirname "$0")/functions.sh"
requires_root
# Debian's python3-prometheus-client (scripts/setup) is for the system
# python; a python3 earlier in PATH may lack it.
PY=""
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import prometheus_client.parser' >/dev/null 2>&1; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || { echo "SKIP: no python3 with prometheus_client (apt-get install python3-prometheus-client)"; exit 77; }

port=$(pick_port)
start_guest dirtier remus-dirtier --pages 100 --working-set 1000 \
	--arena-size 16M
start remus remus -b -i 50 --stats-json "$T/stats.json" \
	--metrics "127.0.0.1:$port" --metrics-file "$T/remus.prom" \
	proc:"$GUEST_PID"
R=$LAST_PID
wait_for 20 test -s "$T/stats.json" || fail "no epoch"
wait_for 10 sh -c "[ \$(wc -l <'$T/stats.json') -ge 20 ]" || fail "fewer than 20 epochs"

# HTTP: one strict request, one response, close.
http() {	# REQUEST: print the response (headers and body)
	"$PY" - "$port" "$1" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
PYEOF
}
http 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >"$T/http.out" || fail "GET /metrics: no answer"
head -1 "$T/http.out" | grep -q "^HTTP/1.1 200 OK" || fail "GET /metrics: $(head -1 "$T/http.out")"
grep -qi "^Content-Type: text/plain; version=0.0.4" "$T/http.out" || fail "no 0.0.4 content type"
for req in 'GET /other HTTP/1.1\r\n\r\n:404' 'POST /metrics HTTP/1.1\r\n\r\n:405' \
    'GET /metrics\r\n\r\n:400' 'GET  /metrics HTTP/1.1\r\n\r\n:400' \
    'GET /metrics HTTP/2.0\r\n\r\n:400'; do
	want=${req##*:}
	got=$(http "${req%:*}" | head -1)
	case "$got" in
	"HTTP/1.1 $want "*) echo "ok: ${req%:*} -> $got" ;;
	*) fail "${req%:*}: got '$got', want $want" ;;
	esac
done
# Still serving after the refusals.
http 'GET /metrics HTTP/1.0\r\n\r\n' | head -1 | grep -q " 200 " || fail "no 200 after the bad requests"

kill -INT $R
status=0
wait $R || status=$?
[ $status -eq 0 ] || fail "remus exited $status after SIGINT"
[ -s "$T/remus.prom" ] || fail "no metrics file"
[ ! -e "$T/remus.prom.tmp" ] || fail "the temporary file was left"

# The textfile written at exit against every line of --stats-json.
"$PY" - "$T/remus.prom" "$T/stats.json" "$T/http.out" <<'PYEOF' || fail "metrics do not match --stats-json"
import json, sys
from prometheus_client.parser import text_string_to_metric_families

def families(text):
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    return fams

def value(fams, fam, sample):
    for s in fams[fam].samples:
        if s.name == sample and not s.labels:
            return s.value
    raise KeyError(sample)

fams = families(open(sys.argv[1]).read())
epochs = [json.loads(l) for l in open(sys.argv[2])]
ok = True

def check(what, got, want):
    global ok
    mark = "ok" if abs(got - want) <= 1e-6 * max(1, abs(want)) else "FAIL"
    if mark == "FAIL":
        ok = False
    print(f"{mark}: {what} = {got}, --stats-json says {want}")

check("remus_epochs_total", value(fams, "remus_epochs", "remus_epochs_total"), len(epochs))
check("remus_full_epochs_total", value(fams, "remus_full_epochs", "remus_full_epochs_total"),
      sum(e["full"] for e in epochs))
for k in ("dirty_pages", "raw_bytes", "wire_bytes"):
    check(f"remus_{k}_total", value(fams, f"remus_{k}", f"remus_{k}_total"),
          sum(e[k] for e in epochs))
check("remus_ack_waits_total", value(fams, "remus_ack_waits", "remus_ack_waits_total"),
      sum(e["waits"] for e in epochs))
check("remus_last_epoch", value(fams, "remus_last_epoch", "remus_last_epoch"), epochs[-1]["epoch"])
inc = [e for e in epochs if not e["full"]]
for fam, key, scale, pool in (("remus_pause_seconds", "pause_us", 1e6, inc),
                              ("remus_ack_rtt_seconds", "ack_rtt_us", 1e6, epochs),
                              ("remus_send_seconds", "send_us", 1e6, epochs),
                              ("remus_epoch_dirty_pages", "dirty_pages", 1, inc)):
    f = fams[fam]
    if f.type != "histogram":
        ok = False
        print(f"FAIL: {fam} is a {f.type}")
    check(fam + "_count", value(fams, fam, fam + "_count"), len(pool))
    check(fam + "_sum", value(fams, fam, fam + "_sum"), sum(e[key] for e in pool) / scale)
    # Each bucket: exactly the epochs at or under its bound.
    for s in f.samples:
        if s.name != fam + "_bucket":
            continue
        le = float(s.labels["le"])
        want = sum(1 for e in pool if e[key] / scale <= le + 1e-12)
        if s.value != want:
            ok = False
            print(f"FAIL: {fam} le={s.labels['le']}: {s.value}, want {want}")
# The progress gauges (engine-progress.sh reads them while a full
# checkpoint and a disk sync run): at exit no full checkpoint runs, and
# this guest has no disk to sync.
for fam, want in (("remus_full_checkpoint_done_bytes", 0),
                  ("remus_full_checkpoint_total_bytes", 0)):
    if fams[fam].type != "gauge":
        ok = False
        print(f"FAIL: {fam} is a {fams[fam].type}")
    check(fam, value(fams, fam, fam), want)
for fam in ("remus_disk_sync_done_bytes", "remus_disk_sync_total_bytes",
            "remus_disk_sync_sent_bytes"):
    if fam not in fams or fams[fam].type != "gauge" or fams[fam].samples:
        ok = False
        print(f"FAIL: {fam}: want a gauge without samples (no disk)")
    else:
        print(f"ok: {fam}: a gauge, no disk")
# The HTTP body parses too.
body = open(sys.argv[3], newline="").read().split("\r\n\r\n", 1)[1]
h = families(body)
if "remus_pause_seconds" not in h or h["remus_pause_seconds"].type != "histogram":
    ok = False
    print("FAIL: the HTTP body has no pause histogram")
sys.exit(0 if ok else 1)
PYEOF

# Bad values are refused before the guest is touched.
start_guest g2 remus-dirtier --pages 10 --working-set 100 --arena-size 4M
remus -b --metrics-file /proc/version/x proc:"$GUEST_PID" 2>"$T/err" && fail "unwritable --metrics-file accepted"
[ $? -ne 0 ] && grep -q "metrics: /proc/version/x" "$T/err" || fail "--metrics-file: $(cat "$T/err")"
! grep -q attached "$T/err" || fail "--metrics-file: the guest was attached first"
rc=0; remus -b --metrics 127.0.0.1:99999 proc:"$GUEST_PID" 2>"$T/err" || rc=$?
[ $rc -eq 1 ] || fail "--metrics :99999: status $rc: $(cat "$T/err")"
echo PASS
