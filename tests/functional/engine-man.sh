#!/usr/bin/env bash
# Docs are tested (STYLE T8): every option that remus --help and
# remusd --help print appears in man/remus.8 / man/remusd.8, and
# mandoc -Tlint finds nothing at warning level or above.
. "$(dirname "$0")/functions.sh"
requires which mandoc
: "${REMUS_SRC:?}"

for prog in remus remusd remus-diskd; do
	page="$REMUS_SRC/man/$prog.8"
	[ -f "$page" ] || fail "no $page"
	mandoc -Tlint -Wwarning "$page" >"$T/lint" 2>&1 || true
	[ ! -s "$T/lint" ] || fail "mandoc -Tlint $prog.8: $(cat "$T/lint")"
	mandoc -Tascii "$page" | sed "s/.\x08//g" >"$T/$prog.txt"
	"$prog" --help >"$T/$prog.help" || fail "$prog --help failed"
	opts=$(grep -oE '(^|[][ ,(])--?[a-zA-Z][a-zA-Z-]*' "$T/$prog.help" |
		sed 's/^[][ ,(]*//' | sort -u)
	n=0
	for o in $opts; do
		grep -qF -- "$o" "$T/$prog.txt" || fail "$prog --help has $o, $prog.8 does not"
		n=$((n + 1))
	done
	# The exit statuses in --help match the page's.
	for s in $(sed -n '/^Exit status/,$p' "$T/$prog.help" | awk '/^  [0-9] /{print $1}'); do
		sed -n '/EXIT STATUS/,/EXAMPLES/p' "$T/$prog.txt" | grep -qE "^ +$s([[:space:]]|$)" ||
			fail "$prog: exit status $s not in the man page"
	done
	echo "$prog: $n options documented, lint clean"
done
echo PASS
