#!/usr/bin/env python3
"""nbd-acked-writer.py -- a guest's disk client that knows which of its
writes the backup holds (tests/functional/diskbuf-multi.sh).

    nbd-acked-writer.py SOCKET CTL-SOCKET LOG EXPORT...

Writes 4 KiB blocks over NBD (fixed newstyle, NBD_OPT_GO, simple replies)
to each EXPORT of the server at the unix SOCKET (EXPORT@PATH: the only
export of the server at PATH, called EXPORT here), in batches that go to
every export in turn, each write to a block never written before, with a
content that names it (export, block, sequence).  A write is
*acknowledged* the way a Remus guest's client sees it: not when the NBD
reply comes (the primary's disk has it, the backup not yet) but when the
epoch that carries it is acknowledged by the backup -- what netbuf waits
for before a guest's reply leaves.  After a batch's replies, the epoch
that remus's control socket calls its last one begun (E) bounds the
batch's epoch: every write applied before that answer is in epoch E + 1
at most.  Once remus reports ACK(E + 1) the batch is appended to LOG,
"EXPORT BLOCK SEQ" a line, and fsync'ed.  It runs until the server or
remus goes away.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import time

NBD_MAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x0003E889045565A9
OPT_GO = 7
REP_ACK = 1
REQ_MAGIC = 0x25609513
REPLY_MAGIC = 0x67446698
CMD_WRITE = 1
BLOCK = 4096


def recv_all(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("server closed")
        b += c
    return b


def connect(path, export):
    # The socket file exists from bind(), before listen(): retry a while.
    deadline = time.time() + 10
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            break
        except (ConnectionRefusedError, FileNotFoundError):
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    magic, opt, _flags = struct.unpack(">QQH", recv_all(s, 18))
    assert magic == NBD_MAGIC and opt == IHAVEOPT
    s.sendall(struct.pack(">I", 3))          # FIXED_NEWSTYLE | NO_ZEROES
    name = export.encode()
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, len(data)) + data)
    size = None
    while True:
        rmagic, _o, rtype, rlen = struct.unpack(">QIII", recv_all(s, 20))
        assert rmagic == REP_MAGIC
        body = recv_all(s, rlen)
        if rtype == REP_ACK:
            break
        if rtype & 0x80000000:
            raise SystemExit(f"export {export}: refused (0x{rtype:x})")
        if len(body) >= 12 and struct.unpack(">H", body[:2])[0] == 0:
            size = struct.unpack(">Q", body[2:10])[0]
    return s, size


def content(export, block, seq):
    tag = f"{export}:{block}:{seq}:".encode()
    return (tag * (BLOCK // len(tag) + 1))[:BLOCK]


def write(s, handle, off, data):
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, handle, off,
                          len(data)) + data)
    magic, err, h = struct.unpack(">IIQ", recv_all(s, 16))
    assert magic == REPLY_MAGIC and h == handle
    if err:
        raise SystemExit(f"write at {off}: NBD error {err}")


def status(ctl):
    out = subprocess.run(["remusctl", "-S", ctl, "--json", "status"],
                         capture_output=True, text=True, timeout=5)
    if out.returncode != 0:
        raise EOFError("remus gone: " + out.stderr.strip())
    st = json.loads(out.stdout)
    return st["epoch"], st["acked"]


def main():
    sock, ctl, logpath = sys.argv[1:4]
    exports = sys.argv[4:]
    conns, nblocks = {}, {}
    for i, e in enumerate(exports):
        if "@" in e:
            e, path = e.split("@", 1)
            exports[i] = e
            conns[e], size = connect(path, "")
        else:
            conns[e], size = connect(sock, e)
        nblocks[e] = size // BLOCK
    log = open(logpath, "a")
    seq, handle = 0, 1
    # Each export's blocks in a fixed shuffled order, none written twice:
    # what the backup holds of a block is then one write's content.
    order = {e: list(range(nblocks[e])) for e in exports}
    for i, e in enumerate(exports):
        r = (i + 1) * 7919
        order[e] = sorted(order[e], key=lambda b: (b * r) % 65521)
    nxt = {e: 0 for e in exports}
    try:
        while True:
            batch = []
            for _ in range(4):
                for e in exports:
                    if nxt[e] >= len(order[e]):
                        return
                    b = order[e][nxt[e]]
                    nxt[e] += 1
                    seq += 1
                    write(conns[e], handle, b * BLOCK, content(e, b, seq))
                    handle += 1
                    batch.append((e, b, seq))
            epoch, acked = status(ctl)
            deadline = time.time() + 20
            while acked < epoch + 1:
                if time.time() > deadline:
                    raise SystemExit(f"epoch {epoch + 1} never acked")
                time.sleep(0.01)
                _, acked = status(ctl)
            for e, b, q in batch:
                log.write(f"{e} {b} {q}\n")
            log.flush()
            os.fsync(log.fileno())
    except (EOFError, OSError, subprocess.TimeoutExpired):
        return


if __name__ == "__main__":
    main()
