# The README's run-task examples run as printed: every "$ " command of
# the code blocks in "What works today", in order, with only its paths
# moved to this test's own (/tmp/hello, /tmp/cot, /etc/sepworker), exits
# 0 and prints the lines the README shows (task IDs and keys aside).
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	skip "the README's examples" "root (each task gets a fresh uid)"
	exit 0
fi
README=$(dirname "$0")/../../README.md
# Keys must lie where only root can reach them: not below /tmp.
KEYDIR=$(mktemp -d /var/lib/sepworker-test-readme.XXXXXX)
rmdir "$KEYDIR"
trap 'rm -rf "$KEYDIR"; cleanup_all' EXIT

# One JSON line per command: {"cmd": ..., "expect": [lines shown after it]}.
node -e '
    const text = require("fs").readFileSync(process.argv[1], "utf8");
    const section = text.split("\n## What works today\n")[1].split("\n## ")[0];
    const blocks = section.split("```").filter((_, i) => i % 2 === 1);
    for (const b of blocks) {
	let cur = null;
	for (const line of b.split("\n")) {
	    if (line.startsWith("$ ")) {
		if (cur) console.log(JSON.stringify(cur));
		cur = {cmd: line.slice(2), expect: []};
	    } else if (cur && line.length) cur.expect.push(line);
	}
	if (cur) console.log(JSON.stringify(cur));
    }' "$README" >"$TMP/commands"

[ "$(grep -c run-task "$TMP/commands")" -ge 2 ] &&
	ok "the README shows run-task without and with a config" ||
	not_ok "the README shows run-task without and with a config" "$(cat "$TMP/commands")"

# The README's lines that say how a task went, IDs and keys as X.
shape() {
	grep -E '^(task |output: |chain of trust: |verify-cot: )' |
	    sed -E -e 's#[A-Za-z0-9+/]{43}=#K#g; s/[A-Za-z0-9_-]{22}/X/g' \
	    -e "s#$TMP/#/tmp/#g"
}

n=0
while IFS= read -r entry; do
	n=$((n + 1))
	cmd=$(node -e 'console.log(JSON.parse(process.argv[1]).cmd)' "$entry" |
	    sed -e "s#/etc/sepworker#$KEYDIR#g" -e "s#/tmp/hello#$TMP/hello#g" \
	    -e "s#/tmp/cot#$TMP/cot#g")
	want=$(node -e 'console.log(JSON.parse(process.argv[1]).expect.join("\n"))' "$entry" | shape)
	# As an operator's shell would run it, from the checkout, with the
	# build the README names.
	got=$(cd "$(dirname "$0")/../.." && PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    bash -c "${cmd//build\//$BUILD/}" 2>"$TMP/readme.$n.err"); rc=$?
	if [ $rc -eq 0 ] && [ "$(printf '%s\n' "$got" | shape)" = "$want" ]; then
		ok "README, as printed: \$ $(node -e 'console.log(JSON.parse(process.argv[1]).cmd)' "$entry" | cut -c1-100)"
	else
		not_ok "README, as printed: \$ $cmd" "exit $rc; printed:" "$got" \
		    "wanted (shape):" "$want" "stderr:" "$(tail -5 "$TMP/readme.$n.err")"
	fi
done <"$TMP/commands"
