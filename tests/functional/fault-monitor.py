#!/usr/bin/env python3
# tests/functional/fault-monitor.py -- the two_live monitor of the fault
# tests (started by fault-lib.sh in the client namespace, not a test).
#
#   fault-monitor.py OUT P_ADDR:PORT B_ADDR:PORT [PERIOD_MS]
#
# Every PERIOD_MS (default 50) it sends "GET __probe" to the primary's
# guest (P, through the primary host, so through netbuf) and to the guest
# the backup activated (B), each on a persistent connection, one request
# outstanding per target at a time.  A reply proves that copy was alive and
# emitting: its output reached a client.  Each reply is one line of OUT:
#
#   P|B <t_send> <t_recv>          (wall clock, seconds, like $EPOCHREALTIME)
#
# On SIGTERM it appends one line
#
#   two_live=N p_replies=N b_replies=N b_first=<t>
#
# two_live counts the samples in which the primary answered a request sent
# after the backup's copy had already answered one: both copies emitted,
# the primary after the backup.  (A primary reply to a request sent before
# the backup's first reply is not counted: it may have been emitted before
# the backup started.  A split brain answers every sample, so it shows at
# once.)
import errno
import os
import select
import signal
import socket
import sys
import time

CONNECT_TIMEOUT = 1.0
REPLY_TIMEOUT = 5.0


class Target:
    def __init__(self, tag, addr):
        host, port = addr.rsplit(":", 1)
        self.tag = tag
        self.host = host.strip("[]")
        self.port = int(port)
        self.sock = None
        self.connecting = False
        self.t_conn = 0.0
        self.t_sent = None
        self.buf = b""
        self.replies = []

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.connecting = False
        self.t_sent = None
        self.buf = b""

    def tick(self, now):
        """Send a probe if none is outstanding; (re)connect as needed."""
        if self.sock is None:
            fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            self.sock.setblocking(False)
            try:
                self.sock.connect((self.host, self.port))
            except OSError as e:
                if e.errno != errno.EINPROGRESS:
                    self.close()
                    return
            self.connecting = True
            self.t_conn = now
            return
        if self.connecting:
            if now - self.t_conn > CONNECT_TIMEOUT:
                self.close()
            return
        if self.t_sent is not None:
            if now - self.t_sent > REPLY_TIMEOUT:
                self.close()
            return
        try:
            self.sock.send(b"GET __probe\n")
            self.t_sent = now
        except OSError:
            self.close()

    def want(self):
        if self.sock is None:
            return None, None
        if self.connecting:
            return None, self.sock
        return self.sock, None

    def readable(self, out):
        try:
            data = self.sock.recv(4096)
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.buf += data
        while b"\n" in self.buf:
            _, self.buf = self.buf.split(b"\n", 1)
            if self.t_sent is None:
                continue
            now = time.time()
            self.replies.append((self.t_sent, now))
            out.write("%s %.6f %.6f\n" % (self.tag, self.t_sent, now))
            out.flush()
            self.t_sent = None

    def writable(self):
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.close()
        else:
            self.connecting = False


def main():
    if len(sys.argv) < 4:
        sys.stderr.write("usage: fault-monitor.py OUT P_ADDR:PORT "
                         "B_ADDR:PORT [PERIOD_MS]\n")
        return 2
    out = open(sys.argv[1], "a")
    targets = [Target("P", sys.argv[2]), Target("B", sys.argv[3])]
    period = (int(sys.argv[4]) if len(sys.argv) > 4 else 50) / 1000.0
    stop = []
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(1))
    signal.signal(signal.SIGINT, lambda s, f: stop.append(1))
    next_tick = time.time()
    while not stop:
        now = time.time()
        if now >= next_tick:
            for t in targets:
                t.tick(now)
            next_tick += period
            if next_tick < now:
                next_tick = now + period
        rd, wr, owner = [], [], {}
        for t in targets:
            r, w = t.want()
            if r is not None:
                rd.append(r)
                owner[r] = t
            if w is not None:
                wr.append(w)
                owner[w] = t
        try:
            r, w, _ = select.select(rd, wr, [],
                                    max(0.0, next_tick - time.time()))
        except InterruptedError:
            continue
        for s in w:
            if owner[s].sock is s:
                owner[s].writable()
        for s in r:
            if owner[s].sock is s:
                owner[s].readable(out)
    p, b = targets
    b_first = min((rv for _, rv in b.replies), default=None)
    two = 0
    if b_first is not None:
        two = sum(1 for s, _ in p.replies if s > b_first)
    out.write("two_live=%d p_replies=%d b_replies=%d b_first=%s\n" %
              (two, len(p.replies), len(b.replies),
               "%.6f" % b_first if b_first is not None else "none"))
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
