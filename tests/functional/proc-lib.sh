# tests/functional/proc-lib.sh -- what the proc-*.sh tests share beyond
# functions.sh (sourced, not a test): a line-protocol client for
# remus-kvd, and remus-dirtier's checksum log.
. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

# kv PORT REQUEST...: send the requests on one connection, print one reply
# line per request.
kv() {
	local port=$1 line r
	shift
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	for r in "$@"; do
		printf '%s\n' "$r" >&3
		IFS= read -r -t 10 -u 3 line || { exec 3>&-; return 1; }
		printf '%s\n' "$line"
	done
	exec 3>&-
}

# sum_line LOG SEQ: the checksum remus-dirtier recorded at suspend SEQ.
sum_line() {
	awk -v s="$2" '$1 == s { v = $2 } END { if (v == "") exit 1; print v }' "$1"
}
