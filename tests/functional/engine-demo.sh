#!/usr/bin/env bash
# scripts/demo against this build, so the demo cannot rot: kvd protected,
# keys written, primary killed -9, keys read back from the backup.  The
# first thing a newcomer runs also ends clean: no error of its own
# cleanup (a /proc/PID/environ read of a process gone, bash's "Killed"
# job message) in what it prints.
: "${REMUS_BUILD:?run through ctest}" "${REMUS_SRC:?}"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: the demo needs root"
	exit 77
fi
out=$(mktemp "${TMPDIR:-/tmp}/engine-demo.XXXXXX")
trap 'rm -f "$out"' EXIT
rc=0
DEMO_BUILD=$REMUS_BUILD REMUS_SETUP_SKIP=1 bash "$REMUS_SRC/scripts/demo" >"$out" 2>&1 || rc=$?
cat "$out"
[ "$rc" = 0 ] || { echo "FAIL: scripts/demo exited $rc"; exit 1; }
noise=$(grep -E 'No such file or directory|^[^ ]*: line [0-9]+: .*Killed|^Killed|Terminated' "$out" |
	grep -v ' remus[a-z-]*: ' | head -3)
if [ -n "$noise" ]; then
	echo "FAIL: the demo printed its own cleanup noise:"
	echo "$noise"
	exit 1
fi
echo "demo output: $(wc -l <"$out") lines, no cleanup noise"
