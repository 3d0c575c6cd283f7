#!/usr/bin/env python3
"""tls-proxy.py -- an on-path relay for the tls-*.sh tests.

    tls-proxy.py LISTEN_PORT TARGET_PORT CAPTURE [FLIP_TRIGGER [DIRECTION]]

Accepts connections on 127.0.0.1:LISTEN_PORT and relays each to
127.0.0.1:TARGET_PORT, both ways.  Everything the client sends is appended
to CAPTURE (what an eavesdropper on the path sees).  If FLIP_TRIGGER is
given, once that file exists the proxy flips one bit of one byte of the
client's stream (DIRECTION c2s, the default) or of the server's (s2c:
the backup's ACKs and heartbeats), 64 bytes after the point it had
reached, once, and writes the offset into FLIP_TRIGGER.done.
"""
import os
import selectors
import socket
import sys


def main():
    lport, tport, capture = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    trigger = sys.argv[4] if len(sys.argv) > 4 else None
    flipdir = sys.argv[5] if len(sys.argv) > 5 else "c2s"
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(8)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    cap = open(capture, "ab")
    state = {"c2s": 0, "s2c": 0, "flip_at": None, "flipped": False}
    peers = {}

    def close_pair(s):
        o = peers.pop(s, None)
        for x in (s, o):
            if x is None:
                continue
            peers.pop(x, None)
            try:
                sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    while True:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            if s is ls:
                c, _ = ls.accept()
                t = socket.create_connection(("127.0.0.1", tport))
                peers[c] = t
                peers[t] = c
                sel.register(c, selectors.EVENT_READ, "c2s")
                sel.register(t, selectors.EVENT_READ, "s2c")
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                close_pair(s)
                continue
            d = key.data
            if d == flipdir:
                if (trigger and not state["flipped"] and
                        state["flip_at"] is None and os.path.exists(trigger)):
                    state["flip_at"] = state[d] + 64
                fa = state["flip_at"]
                if (fa is not None and not state["flipped"] and
                        state[d] <= fa < state[d] + len(data)):
                    b = bytearray(data)
                    b[fa - state[d]] ^= 0x01
                    data = bytes(b)
                    state["flipped"] = True
                    with open(trigger + ".done", "w") as f:
                        f.write("%d\n" % fa)
            state[d] += len(data)
            if d == "c2s":
                cap.write(data)
                cap.flush()
            try:
                peers[s].sendall(data)
            except (OSError, KeyError):
                close_pair(s)


if __name__ == "__main__":
    main()
