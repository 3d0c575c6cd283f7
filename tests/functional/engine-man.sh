#!/usr/bin/env bash
# Docs are tested (STYLE T8): every program `cmake --install` installs
# has a man page, installed too (section 1 for bin/, 8 for sbin/); every
# option its --help prints appears in the page; its exit statuses match
# the page's; mandoc -Tlint finds nothing at warning level or above.
. "$(dirname "$0")/functions.sh"
requires which mandoc
requires which cmake
: "${REMUS_SRC:?}"

cmake --install "$REMUS_BUILD" --prefix "$T/inst" >"$T/install.log" 2>&1 ||
	fail "cmake --install: $(tail -5 "$T/install.log")"
progs=0
for path in "$T"/inst/bin/* "$T"/inst/sbin/*; do
	[ -f "$path" ] || continue
	prog=$(basename "$path")
	case $path in */sbin/*) sec=8 ;; *) sec=1 ;; esac
	page="$REMUS_SRC/man/$prog.$sec"
	[ -f "$page" ] || fail "$prog is installed, man/$prog.$sec does not exist"
	[ -f "$T/inst/share/man/man$sec/$prog.$sec" ] || fail "$prog.$sec is not installed"
	mandoc -Tlint -Wwarning "$page" >"$T/lint" 2>&1 || true
	[ ! -s "$T/lint" ] || fail "mandoc -Tlint $prog.$sec: $(cat "$T/lint")"
	mandoc -Tascii "$page" | sed "s/.\x08//g" >"$T/$prog.txt"
	"$path" --help >"$T/$prog.help" 2>&1 || fail "$prog --help failed"
	opts=$(grep -oE '(^|[][ ,(|])--?[a-zA-Z][a-zA-Z0-9-]*' "$T/$prog.help" |
		sed 's/^[][ ,(|]*//' | sort -u)
	n=0
	for o in $opts; do
		grep -qF -- "$o" "$T/$prog.txt" || fail "$prog --help has $o, $prog.$sec does not"
		n=$((n + 1))
	done
	# The exit statuses in --help match the page's.
	for s in $(sed -n '/^Exit status/,$p' "$T/$prog.help" | awk '/^  [0-9] /{print $1}'); do
		sed -n '/EXIT STATUS/,/EXAMPLES\|SEE ALSO/p' "$T/$prog.txt" | grep -qE "^ +$s([[:space:]]|$)" ||
			fail "$prog: exit status $s not in the man page"
	done
	# Usage errors are status 1 in every program, and the page says so.
	sed -n '/EXIT STATUS/,/SEE ALSO/p' "$T/$prog.txt" | grep -qE "^ +1([[:space:]]|$)|1 with one line" ||
		fail "$prog.$sec: no exit status 1"
	echo "$prog.$sec: $n options documented, lint clean"
	progs=$((progs + 1))
done
[ $progs -ge 4 ] || fail "only $progs programs installed"
# The fence agents remusd --fence runs (libexec/remus/fence-*): each on a
# section-8 page of its own or one that names it (.Nm), installed, lint
# clean, with every option of its --help.
agents=0
for path in "$T"/inst/libexec/remus/fence-*; do
	[ -f "$path" ] || continue
	prog=$(basename "$path")
	page="$REMUS_SRC/man/$prog.8"
	[ -f "$page" ] || page=$(grep -lE "^\.Nm $prog( ,)?\$" "$REMUS_SRC"/man/*.8 | head -1)
	[ -n "$page" ] && [ -f "$page" ] || fail "$prog is installed, no man page names it"
	pg=$(basename "$page")
	[ -f "$T/inst/share/man/man8/$pg" ] || fail "$pg ($prog) is not installed"
	mandoc -Tlint -Wwarning "$page" >"$T/lint" 2>&1 || true
	[ ! -s "$T/lint" ] || fail "mandoc -Tlint $pg: $(cat "$T/lint")"
	mandoc -Tascii "$page" | sed "s/.\x08//g" >"$T/$prog.txt"
	"$path" --help >"$T/$prog.help" 2>&1 || fail "$prog --help failed"
	n=0
	for o in $(grep -oE '(^|[][ ,(|])--?[a-zA-Z][a-zA-Z0-9-]*' "$T/$prog.help" |
	    sed 's/^[][ ,(|]*//' | sort -u); do
		grep -qF -- "$o" "$T/$prog.txt" || fail "$prog --help has $o, $pg does not"
		n=$((n + 1))
	done
	sed -n '/EXIT STATUS/,/SEE ALSO/p' "$T/$prog.txt" | grep -qE "^ +1([[:space:]]|$)" ||
		fail "$pg: no exit status 1"
	echo "$prog ($pg): $n options documented, lint clean"
	agents=$((agents + 1))
done
[ $agents -ge 3 ] || fail "only $agents fence agents installed"
# File formats (section 5): installed and lint clean too.
for page in "$REMUS_SRC"/man/*.5; do
	[ -f "$page" ] || continue
	[ -f "$T/inst/share/man/man5/$(basename "$page")" ] || fail "$(basename "$page") is not installed"
	mandoc -Tlint -Wwarning "$page" >"$T/lint" 2>&1 || true
	[ ! -s "$T/lint" ] || fail "mandoc -Tlint $(basename "$page"): $(cat "$T/lint")"
	echo "$(basename "$page"): installed, lint clean"
done
echo PASS
