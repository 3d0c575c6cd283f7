#!/usr/bin/env bash
# remusd --metrics ADDR and --metrics-file FILE: per-guest counters in the
# Prometheus text format, read by prometheus_client's own parser.  Two
# sessions of one guest (a clean stop, then a kill -9 of remus) and the
# failover that follows: epochs committed and ACKs sent add up over both
# sessions and are at least what remus counted as acknowledged, the
# bytes at least the epochs' bytes remus put on the wire; one
# fence run, fenced (--fence true); one failover; a second guest gets a
# label of its own.
. "$(dirname "$0")/functions.sh"
requires_root
PY=""
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import prometheus_client.parser' >/dev/null 2>&1; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || { echo "SKIP: no python3 with prometheus_client (apt-get install python3-prometheus-client)"; exit 77; }

mport=$(pick_port)
bport=$(pick_port)
# Two guests, g1 and g2, configured with the commands start_guest runs
# below; remus names each (--name), the metrics label it so.
CMD1=$(guest_cmd g1 remus-dirtier --pages 50 --working-set 500 --arena-size 8M)
CMD2=$(guest_cmd g2 remus-dirtier --pages 10 --working-set 100 --arena-size 4M)
start remusd remusd --listen "127.0.0.1:$bport" --insecure --fence true -t 1000 \
	-D "$T/state" --guest "g1=$CMD1" --guest "g2=$CMD2" --metrics "127.0.0.1:$mport" --metrics-file "$T/remusd.prom"
D=$LAST_PID
wait_for 20 sh -c "ss -Htln 'sport = :$bport' | grep -q ." || fail "remusd does not listen: $(cat "$T/remusd.log")"
[ -s "$T/remusd.prom" ] || fail "no textfile at start"

scrape() {	# OUT: GET /metrics into OUT (body only)
	"$PY" - "$mport" >"$1" <<'PYEOF' || fail "GET /metrics failed"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
head, _, body = out.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.1 200 "), head
sys.stdout.write(body.decode())
PYEOF
}

protect() {	# NAME GUEST: protect guest $GUEST_PID, named GUEST
	start "$1" remus -i 50 --insecure --stats-json "$T/$1.json" \
		--name "$2" proc:"$GUEST_PID" "127.0.0.1:$bport"
	R=$LAST_PID
}

start_guest g1 remus-dirtier --pages 50 --working-set 500 --arena-size 8M
# Session 1: stopped cleanly.
protect s1 g1
wait_for 20 sh -c "[ \$(wc -l <'$T/s1.json' 2>/dev/null || echo 0) -ge 10 ]" || fail "session 1: fewer than 10 epochs"
scrape "$T/live.txt"
kill -INT $R
wait $R || fail "session 1: remus exited $?"
# Session 2: remus killed; remusd fences (true) and activates.
protect s2 g1
wait_for 20 sh -c "[ \$(wc -l <'$T/s2.json' 2>/dev/null || echo 0) -ge 10 ]" || fail "session 2: fewer than 10 epochs"
kill -9 $R
wait $R 2>/dev/null || true
wait_for 20 grep -q "guest activated" "$T/remusd.log" || fail "no failover: $(tail -5 "$T/remusd.log")"
# (the activated guest, $T/state/g1/proc-guest.pid, is killed by the cleanup)
# A second guest, its own label.
start_guest g2 remus-dirtier --pages 10 --working-set 100 --arena-size 4M
protect s3 g2
wait_for 20 sh -c "[ \$(wc -l <'$T/s3.json' 2>/dev/null || echo 0) -ge 5 ]" || fail "session 3: fewer than 5 epochs"
kill -INT $R
wait $R || fail "session 3: remus exited $?"
sleep 0.5
scrape "$T/http.txt"
kill -TERM $D
wait $D || true
[ ! -e "$T/remusd.prom.tmp" ] || fail "the temporary file was left"

"$PY" - "$T/live.txt" "$T/http.txt" "$T/remusd.prom" "$T/s1.json" "$T/s2.json" "$T/s3.json" <<'PYEOF' || fail "metrics wrong"
import json, sys
from prometheus_client.parser import text_string_to_metric_families

def samples(path):
    out = {}
    for f in text_string_to_metric_families(open(path).read()):
        for s in f.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out

live, http, final = (samples(p) for p in sys.argv[1:4])
runs = [[json.loads(l) for l in open(p)] for p in sys.argv[4:7]]
acked = [len(r) for r in runs]
wire = [sum(e["wire_bytes"] for e in r) for r in runs]
ok = True
def check(what, cond, detail):
    global ok
    print(("ok" if cond else "FAIL") + f": {what}: {detail}")
    ok = ok and cond

names = sorted({dict(k[1]).get("guest") for k in final if dict(k[1]).get("guest")})
check("two guests", names == ["g1", "g2"], names)
# The guest label is the name remus announced (--name).
by = {}
for n in names:
    by[n] = {name: final[(name, (("guest", n),))] for name in
             ("remusd_sessions_total", "remusd_epochs_total", "remusd_acks_total",
              "remusd_failovers_total", "remusd_stream_bytes_total")}
    by[n]["fenced"] = final[("remusd_fence_runs_total", (("guest", n), ("result", "fenced")))]
    by[n]["failed"] = final[("remusd_fence_runs_total", (("guest", n), ("result", "failed")))]
first = max(names, key=lambda n: by[n]["remusd_sessions_total"])
other = [n for n in names if n != first][0]
a = by[first]
check(first + " sessions", a["remusd_sessions_total"] == 2, a["remusd_sessions_total"])
check(first + " epochs >= acknowledged by remus", a["remusd_epochs_total"] >= acked[0] + acked[1],
      f"{a['remusd_epochs_total']} >= {acked[0]} + {acked[1]}")
check(first + " acks <= epochs", a["remusd_acks_total"] <= a["remusd_epochs_total"] and
      a["remusd_acks_total"] >= acked[0] + acked[1], f"{a['remusd_acks_total']}")
check(first + " one failover", a["remusd_failovers_total"] == 1, a["remusd_failovers_total"])
check(first + " one fence run, fenced", a["fenced"] == 1 and a["failed"] == 0, f"{a['fenced']} fenced, {a['failed']} failed")
check(first + " bytes >= epoch bytes remus sent", a["remusd_stream_bytes_total"] >= wire[0] + wire[1],
      f"{a['remusd_stream_bytes_total']} >= {wire[0]} + {wire[1]}")
b = by[other]
check(other + " one session, no failover", b["remusd_sessions_total"] == 1 and b["remusd_failovers_total"] == 0
      and b["fenced"] + b["failed"] == 0, b)
check(other + " epochs", b["remusd_epochs_total"] >= acked[2], f"{b['remusd_epochs_total']} >= {acked[2]}")
check("gauge now 0", final[("remusd_sessions", ())] == 0, final[("remusd_sessions", ())])
check("gauge live 1", live[("remusd_sessions", ())] == 1, live[("remusd_sessions", ())])
lv = live[("remusd_epochs_total", (("guest", first),))]
check("live session counted", lv >= 10, lv)
check("HTTP = textfile at exit", http == final, "same samples" if http == final else
      {k: (http.get(k), final.get(k)) for k in set(http) | set(final) if http.get(k) != final.get(k)})
sys.exit(0 if ok else 1)
PYEOF
echo PASS
