#!/usr/bin/env bash
# conf-keys.sh -- every option of remus and remusd that sets something is a
# key of remus.conf(5) (issue 14): the options come from each program's
# getopt table (long options and the short ones of its optstring), the
# keys and the flags they become from common/conf.c's table, and an option
# with no key must be on the list below, each with the reason it has none.
# A new flag without a key (or a key gone) fails here until one is added
# or the flag is listed with a reason.
. "$(dirname "$0")/functions.sh"
: "${REMUS_SRC:?}"

# Options that set nothing, for each program: "PROG OPTION  # why".
EXCLUDED='
remus --help		# prints and exits
remus -h		# prints and exits
remus --version		# prints and exits
remus --capabilities	# prints and exits
remus --config		# names the file itself
remus --cookie		# one session: what remusctl prepare printed for it
remus --name		# the [guest NAME] header (conf_apply passes --name NAME)
remus -c		# xl remus flag: refused (COLO is not implemented)
remus -N		# xl remus flag: refused (no netbuf scripts)
remus -p		# xl remus flag: refused
remusd --help		# prints and exits
remusd -h		# prints and exits
remusd --version	# prints and exits
remusd --capabilities	# prints and exits
remusd --config		# names the file itself
remusd -n		# an action: check the configuration and exit
remusd --receive	# how it was started (by remus -s or ssh, on stdin)
remusd -d		# how it was started: stderr even when not a terminal
'

# Two spellings of one option (one case of its getopt switch): the key
# becomes one of them.  "PROG OPTION SAME-AS".
ALIASES='
remusd --timeout -t
'

# $1 = source file: its long options (--name) and its short ones (-c).
options() {
	sed -n '/^static const struct option longopts\[\] = {/,/^};/p' "$1" |
		sed -n 's/^[[:space:]]*{ "\([a-z0-9-]*\)",.*/--\1/p'
	sed -n 's/^static const char optstring\[\] = "\([^"]*\)";/\1/p' "$1" |
		tr -d ':' | fold -w1 | sed 's/^/-/'
}

# conf_keys: one line per key, "NAME WHERE KIND OPT" (OPT NULL for none).
sed -n '/^static const struct conf_key conf_keys\[\] = {/,/^};/p' \
	"$REMUS_SRC/common/conf.c" | sed 's,/\*.*\*/,,' | tr -d '\n\t' |
	sed 's/{ "/\n"/g' |
	sed -n 's/^"\([a-z0-9-]*\)", *\([A-Z_ |]*\), *T_[A-Z_]*, *\(K_[A-Z_]*\), *\(NULL\|"[^"]*"\),.*/\1 \2 \3 \4/p' |
	sed 's/ | /|/g; s/"//g' >"$T/keys"
nkeys=$(wc -l <"$T/keys")
# A table parsed short would let flags through unnoticed.
[ "$nkeys" -ge 80 ] || fail "only $nkeys keys read from common/conf.c: $(head -3 "$T/keys")"

# The keys PROG reads and the flags they become: remus, those of [remus]
# and [guest] that become its flags; remusd, those of [remusd] and the
# guest keys that become remusd flags (--guest, --disk, --guest-fence...).
# One awk per program (this machine may be loaded: a process per option
# took minutes): "key OPTION KEY", "excluded OPTION", or "FAIL: why".
printf '%s\n' "$EXCLUDED" | sed 's/#.*//' | awk 'NF == 2' >"$T/excluded"
printf '%s\n' "$ALIASES" | awk 'NF == 3' >"$T/aliases"
total=0
for prog in remus remusd; do
	src="$REMUS_SRC/remusd/$prog.c"
	options "$src" | sort -u >"$T/$prog.opts"
	n=$(wc -l <"$T/$prog.opts")
	[ "$n" -ge 20 ] || fail "$prog: only $n options read from $src"
	"$prog" --help >"$T/$prog.help"
	awk -v prog="$prog" '
	FILENAME == ARGV[1] {	# the keys
		if ($4 == "NULL")
			next
		if (prog == "remus" && $2 ~ /PRI|IN_REMUS($|\|)/ &&
		    ($3 == "K_FLAG" || $3 == "K_FLAG_IF_NO"))
			key[$4] = $1
		if (prog == "remusd" && ($2 ~ /IN_REMUSD/ || $3 ~ /^K_(COMMAND|GUEST_)/))
			key[$4] = $1
		next
	}
	FILENAME == ARGV[2] { if ($1 == prog) excl[$2] = 1; next }
	FILENAME == ARGV[3] { if ($1 == prog) alias[$2] = $3; next }
	FILENAME == ARGV[4] { help = help " " $0 " "; next }
	{	# an option of the getopt table
		opt[$1] = 1
		# What was read is the program s: each option is in its --help.
		o = $1; gsub(/-/, "\\-", o)
		if (help !~ ("[][ ,(|]" o "([]= ,|)]|$)"))
			print "FAIL: " prog ": " $1 " read from its getopt table is not in its --help"
		k = key[$1]
		if (k == "" && alias[$1] != "")
			k = key[alias[$1]]
		if (k != "" && excl[$1])
			print "FAIL: " prog " " $1 " has the key " k ": take it off the exclusion list"
		else if (k != "")
			print "key " $1 " " k
		else if (excl[$1])
			print "excluded " $1
		else
			print "FAIL: " prog " " $1 " sets something and has no key in remus.conf(5) (add one to common/conf.c, or list it here with the reason)"
	}
	END {
		for (o in excl)
			if (!(o in opt))
				print "FAIL: exclusion list: " prog " has no " o
	}' "$T/keys" "$T/excluded" "$T/aliases" "$T/$prog.help" "$T/$prog.opts" >"$T/$prog.out"
	sed -n 's/^key /'"$prog"' /p' "$T/$prog.out"
	! grep -q '^FAIL' "$T/$prog.out" || fail "$(grep '^FAIL' "$T/$prog.out" | sed 's/^FAIL: //')"
	keyed=$(grep -c '^key ' "$T/$prog.out")
	excl=$(grep -c '^excluded ' "$T/$prog.out")
	[ $((keyed + excl)) -eq "$n" ] || fail "$prog: $n options, $keyed keyed and $excl listed"
	echo "$prog: $n options: $keyed with a key, $excl on the list"
	total=$((total + keyed))
done
echo "$total options with keys, $nkeys keys in common/conf.c"
echo PASS
