#!/bin/bash
# fuzz/run.sh BUILD-DIR [TARGET...] -- the bounded fuzz stage of
# scripts/check: build the libFuzzer targets with clang
# (-fsanitize=fuzzer,address,undefined) and run each for FUZZ_SECONDS
# (default 150) on a copy of its corpus in the tree (fuzz/corpus/TARGET).
# A crash, leak, sanitizer report, timeout or out-of-memory fails the
# stage; libFuzzer saves the input as BUILD-DIR/artifacts/TARGET/crash-*
# (leak-*, timeout-*, oom-*), and this script prints its path.  New
# corpus entries stay in BUILD-DIR/corpus/TARGET (merge by hand:
# fuzz/README.md).  TARGETs default to every target: stream session
# primary ctl xenpolicy.  The small parsers (ctl: the control socket's
# requests; xenpolicy: the Xen twin's config check) saturate their
# coverage quickly: they get FUZZ_SECONDS_SMALL (default 60) unless
# FUZZ_SECONDS is given.
#
#   FUZZ_SECONDS=3600 fuzz/run.sh build/fuzz session   # a longer run
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: fuzz/run.sh BUILD-DIR [TARGET...]}
shift
targets=${*:-stream session primary ctl xenpolicy}
secs=${FUZZ_SECONDS:-150}
jobs=${JOBS:-$(nproc)}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if ! command -v clang >/dev/null; then
	echo "fuzz: clang not installed (scripts/setup installs it)"
	exit 1
fi
# Only the fuzz targets: the rest of the tree is built by gcc stages.
if ! { cmake -S "$src" -B "$dir" -DCMAKE_C_COMPILER=clang -DREMUS_FUZZ=ON \
    -DREMUS_WERROR=ON >"$dir.configure.log" 2>&1 &&
    cmake --build "$dir" -j "$jobs" --target $(printf 'fuzz-%s ' $targets) \
    >"$dir.build.log" 2>&1; }; then
	tail -n 50 "$dir.configure.log" "$dir.build.log"
	echo "fuzz: build FAILED"
	exit 1
fi

fail=0
for t in $targets; do
	work=$dir/corpus/$t
	art=$dir/artifacts/$t
	log=$dir/fuzz-$t.log
	tsecs=$secs
	case $t in ctl|xenpolicy)
		[ -z "${FUZZ_SECONDS:-}" ] && tsecs=${FUZZ_SECONDS_SMALL:-60} ;;
	esac
	rm -rf "$art"		# what a failure prints is this run's
	mkdir -p "$work" "$art"
	cp "$src/fuzz/corpus/$t"/* "$work/"
	# -close_fd_mask=2: the target's own stderr (its log lines) goes to
	# /dev/null; libFuzzer's and the sanitizers' reports do not.
	"$dir/bin/fuzz-$t" -max_total_time="$tsecs" -timeout=30 \
	    -rss_limit_mb=2048 -max_len=32768 -close_fd_mask=2 \
	    -print_final_stats=1 -artifact_prefix="$art/" "$work" \
	    >"$log" 2>&1 </dev/null
	rc=$?
	# Belt and braces: any sanitizer report fails, recovered or not.
	if [ "$rc" -eq 0 ] && grep -q 'runtime error:\|ERROR: .*Sanitizer' "$log"; then
		rc=1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
	if [ "$rc" -ne 0 ]; then
		tail -60 "$log"
		echo "fuzz-$t: FAILED (exit $rc) after ${runs:-?} runs;" \
		    "input saved:" "$art"/*
		fail=1
	else
		echo "fuzz-$t: ok, ${tsecs} s, ${runs:-?} runs" \
		    "(${speed:-?}/s), $cov, corpus $(ls "$work" | wc -l) files"
	fi
done
exit $fail
