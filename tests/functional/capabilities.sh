#!/usr/bin/env bash
# capabilities.sh -- remus --capabilities and remusd --capabilities print
# one JSON object (parsed with python's json) that matches what the
# binaries really accept: every guest driver, URI scheme, transport,
# netbuf driver and TLS mode it lists is taken by the command line (the
# run gets past parsing: a missing guest is exit 2, a usage error exit
# 1), and things it does not list are refused; the encodings are those of
# the normative stream format; both programs say the same.
. "$(dirname "$0")/functions.sh"
requires which python3
: "${REMUS_SRC:?}"

remus --capabilities >"$T/remus.json" || fail "remus --capabilities exited $?"
remusd --capabilities >"$T/remusd.json" || fail "remusd --capabilities exited $?"
# A guest that does not exist: parsing done, the run stops at the guest.
NOGUEST=proc:999999999
C="$T/creds"
creds=0
sh "$REMUS_SRC/tests/tls-creds.sh" "$C" >"$T/creds.log" 2>&1 && creds=1

T="$T" NOGUEST="$NOGUEST" CREDS=$creds C="$C" SRC="$REMUS_SRC" python3 - <<'EOF' || fail "capabilities do not match the build"
import json, os, subprocess, sys

T = os.environ["T"]
guest = os.environ["NOGUEST"]
bad = []
checked = 0

def run(*argv):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stderr

def accepted(*argv):
    """Past the command line: any exit but 1 (usage)."""
    global checked
    checked += 1
    rc, err = run(*argv)
    if rc == 1:
        bad.append("%s: refused (%s)" % (" ".join(argv), err.strip()))
    return rc != 1

def refused(*argv):
    global checked
    checked += 1
    rc, err = run(*argv)
    if rc != 1:
        bad.append("%s: exit %d, want 1" % (" ".join(argv), rc))

with open(T + "/remus.json") as f:
    c = json.load(f)
with open(T + "/remusd.json") as f:
    d = json.load(f)
if c["program"] != "remus" or d["program"] != "remusd":
    bad.append("program names: %s, %s" % (c["program"], d["program"]))
c2 = dict(c); d2 = dict(d)
# control_verbs are each program's socket's (ctl-verbs.sh asks them).
del c2["program"], d2["program"], c2["control_verbs"], d2["control_verbs"]
for x in (c, d):
    if not x["control_verbs"] or not all(isinstance(v, str) for v in x["control_verbs"]):
        bad.append("%s control_verbs: %r" % (x["program"], x["control_verbs"]))
if c2 != d2:
    bad.append("remus and remusd disagree")
v = subprocess.run(["remus", "--version"], capture_output=True, text=True).stdout.split()
if v[-1] != c["version"]:
    bad.append("version %s, remus --version %s" % (c["version"], v[-1]))

# Guest drivers: each is known to remus (a missing guest is exit 2 with
# the driver's own message, not "unknown guest type"); one not listed is.
for g in c["guest_drivers"]:
    rc, err = run("remus", "-b", g + ":999999999")
    checked += 1
    if "unknown guest type" in err or rc != 2:
        bad.append("guest driver %s: exit %d: %s" % (g, rc, err.strip()))
rc, err = run("remus", "-b", "kvm:1")
checked += 1
if "unknown guest type" not in err:
    bad.append("kvm: not refused as unknown: %s" % err.strip())
xen = "xen" in c["guest_drivers"]
if xen == ("this build has no Xen driver" in run("remus", "-b", "nosuchprefix:1")[1]):
    bad.append("xen listed %s, remus says otherwise" % xen)
if sorted(c["replica_drivers"]) != sorted(c["guest_drivers"]):
    bad.append("replica drivers %s, guest drivers %s" % (c["replica_drivers"], c["guest_drivers"]))

# URI schemes, each against the parser; an unlisted one refused.
for s in c["uri_schemes"]:
    addr = "backup1:5270" if s == "" else s + "://backup1:5270/"
    if s == "tls":
        if os.environ["CREDS"] == "1":
            accepted("remus", "--psk-file", os.environ["C"] + "/psk-client", guest, addr)
    elif s == "ssh":
        accepted("remus", guest, addr)
    else:
        accepted("remus", "--insecure", guest, addr)
for s in ("ftp", "http", "udp", "nbd"):
    if s not in c["uri_schemes"]:
        refused("remus", "--insecure", guest, s + "://backup1:5270/")

# Transports: tcp (an address), cmd (-s), blackhole (-b).
for t in c["transports"]:
    argv = {"tcp": ["remus", "--insecure", guest, "127.0.0.1:1"],
            "cmd": ["remus", "-s", "ssh", guest, "backup1"],
            "blackhole": ["remus", "-b", guest]}.get(t)
    if argv is None:
        bad.append("transport %s: no way to ask for it" % t)
    else:
        accepted(*argv)

# Netbuf drivers: each accepted by --netbuf-driver, another refused.
for n in c["netbuf"]["drivers"]:
    accepted("remus", "-b", "--netbuf-driver", n, guest)
refused("remus", "-b", "--netbuf-driver", "tc", guest)

# Encodings: the normative format's table names the same ones.
fmt = open(os.environ["SRC"] + "/docs/stream-format.md").read()
for e in c["codecs"]:
    checked += 1
    if e not in fmt:
        bad.append("encoding %s not in docs/stream-format.md" % e)

# Rename, bandwidth, device tools, fencing, disk, TLS modes: the flags.
if c["rename"]:
    accepted("remus", "-s", "ssh", "--dname", "web1-b", guest, "backup1")
    accepted("remusd", "-n", "-D", T + "/sd", "--no-fence", "--receive", "--dname", "web1-b")
else:
    refused("remus", "-s", "ssh", "--dname", "web1-b", guest, "backup1")
if c["bandwidth"]["cap"]:
    accepted("remus", "--insecure", "--bandwidth", "100", guest, "127.0.0.1:1")
for m in c["device_tools"]["modes"]:
    accepted("remus", "-b", "--device-tool",
             "t=" + ("coproc:" if m == "coproc" else "") + "/bin/true", guest)
f = c["fencing"]
if f["fence_cmd"]:
    accepted("remusd", "-n", "-D", T + "/sd", "--fence", "true", "--receive")
if f["no_fence"]:
    accepted("remusd", "-n", "-D", T + "/sd", "--no-fence", "--receive")
if f["fence_backup"]:
    accepted("remus", "--insecure", "--fence-backup", "true", guest, "127.0.0.1:1")
if c["disk"]["replication"]:
    open(T + "/d.img", "w").close()
    accepted("remusd", "-n", "-D", T + "/sd", "--no-fence", "--receive", "--disk", T + "/d.img")
if c["disk"]["per_guest"]:
    args = []
    for i in range(c["disk"]["max_disks"]):
        args += ["--disk", "g:d%d=%s/d.img" % (i, T)]
    accepted("remusd", "-n", "-D", T + "/sd", "--no-fence", "--receive", *args)
    rc, err = run("remusd", "-n", "-D", T + "/sd", "--no-fence", "--receive",
                  *args, "--disk", "g:dx=" + T + "/d.img")
    checked += 1
    if rc != 1:
        bad.append("max_disks %d: one more was accepted" % c["disk"]["max_disks"])
if c["no_guardian"]:
    accepted("remus", "-b", "-e", guest)
    accepted("remusd", "-n", "-D", T + "/sd", "--no-fence", "-e", "--receive")
for m in c["tls"]["modes"]:
    if m == "insecure":
        accepted("remusd", "-n", "-D", T + "/sd", "--no-fence", "--insecure", "--listen", "127.0.0.1:1")
    elif os.environ["CREDS"] == "1":
        flag = {"psk": ["--psk-file", os.environ["C"] + "/psk-server"],
                "x509": ["--tls-creds", os.environ["C"] + "/x509"]}[m]
        rc, err = run("remusd", "-n", "-D", T + "/sd", "--no-fence", *flag, "--listen", "127.0.0.1:1")
        checked += 1
        if rc != 0:
            bad.append("tls mode %s: remusd -n exit %d: %s" % (m, rc, err.strip()))

for b in bad:
    print("MISMATCH:", b)
print("%d claims checked against the binaries, %d mismatches" % (checked, len(bad)))
print("capabilities:", json.dumps({k: c[k] for k in ("guest_drivers", "uri_schemes", "transports", "codecs")}))
sys.exit(1 if bad else 0)
EOF
echo PASS
