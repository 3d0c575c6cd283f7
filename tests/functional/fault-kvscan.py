#!/usr/bin/env python3
# tests/functional/fault-kvscan.py -- is the surviving kvd's state one
# committed state, or torn (a mix of two epochs, or pages lost)?  Started
# by fault-lib.sh in the client namespace (not a test).
#
#   fault-kvscan.py ADDR PORT CLIENTLOG
#
# Every kv-client run writes SET <prefix><n> v<n> for n = 1, 2, ... in
# order, on one connection, one request outstanding.  So any state the
# guest ever had holds, for each prefix, exactly the keys 1..k with values
# v1..vk for some k (and k is at least the last acknowledged n when no
# acknowledged write was lost; at most that n + 1: the request in flight).
# A replica committed from one suspended state has the same shape.  A
# hole (key j missing while j + 1 is there), a wrong value, or k beyond
# n + 1 is a state the guest never had: torn.
#
# Prints "scanned P prefixes K keys: torn=N" (and up to 10 "TORN ..."
# lines); exits 1 if N > 0, 2 if the survivor could not be read.
import re
import socket
import sys
import time


def main():
    addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    top = {}
    pat = re.compile(r"^SET (\S*k)(\d+) v(\d+) (\S+)")
    with open(log) as f:
        for line in f:
            m = pat.match(line)
            if not m:
                continue
            p, n = m.group(1), int(m.group(2))
            top[p] = max(top.get(p, 0), n)
    deadline = time.time() + 15
    while True:
        try:
            s = socket.create_connection((addr, port), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                print("scan: cannot connect to %s:%d" % (addr, port))
                return 2
            time.sleep(0.1)
    s.settimeout(10)
    rf = s.makefile("rb")
    torn = 0
    keys = 0
    for p in sorted(top):
        n = top[p]
        want = list(range(1, n + 3))
        # Pipelined: the kvd answers in order.
        s.sendall(b"".join(b"GET %s%d\n" % (p.encode(), j) for j in want))
        present = {}
        for j in want:
            line = rf.readline()
            if not line:
                print("scan: connection closed")
                return 2
            r = line.decode().strip()
            keys += 1
            if r.startswith("VALUE "):
                present[j] = r[6:]
        k = 0
        while k + 1 in present:
            k += 1
        bad = [j for j in present if j > k]
        wrong = [j for j in present if present[j] != "v%d" % j]
        if bad or wrong or k > n + 1:
            torn += 1
            if torn <= 10:
                print("TORN %s: keys 1..%d present, then %s; wrong values "
                      "at %s; last acknowledged %d" %
                      (p, k, sorted(bad)[:5], sorted(wrong)[:5], n))
    print("scanned %d prefixes %d keys: torn=%d" % (len(top), keys, torn))
    return 1 if torn else 0


if __name__ == "__main__":
    sys.exit(main())
