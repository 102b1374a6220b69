# The shell suites themselves: a check that cannot fail is no check.
# "check NAME [ A ] && [ B ]" runs check on [ A ] alone and B outside it
# (worker.sh had five such, one of them the scan for the worker's token);
# a check of several conditions is "A && B; checked NAME $?".
. "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)

# Each logical command (continuation lines joined) that starts with
# "check " and chains a second condition with && or ||.
lint() {
	awk -v F="${1##*/}" '
	{ if (buf != "") buf = buf " " $0; else { buf = $0; start = NR } }
	/\\$/ || /&&$/ || /\|\|$/ { next }
	{
		if (buf ~ /^[ \t]*check "/ &&
		    (buf ~ /\] *&&/ ||
		    buf ~ /(&&|\|\|) *\\? *(\[|grep|!|test )/))
			print F ":" start ": " substr(buf, 1, 100)
		buf = ""
	}' "$1"
}

# The lint finds what it is for.
printf '%s\n' 'check "two" [ 1 -eq 1 ] &&' '    [ 2 -eq 3 ]' \
    'check "one" [ 1 -eq 1 ]' 'check "grep" grep -q a f && grep -q b f' \
    >"$TMP/sample.sh"
found=$(lint "$TMP/sample.sh" | wc -l)
check "the lint finds a check chained over two lines and one on one line ($found of 2)" \
    [ "$found" -eq 2 ]

bad=()
for f in "$here"/*.sh; do
	while IFS= read -r line; do
		bad+=("$line")
	done < <(lint "$f")
done
[ "${#bad[@]}" -eq 0 ]
checked "no suite chains a second condition outside its check" $? "${bad[@]}"
