# The command line: selfcheck, log formats, config errors and their exit
# statuses, and a supervisor faced with a compromised or tampered child.
. "$(dirname "$0")/lib.sh"

out=$("$SEPWORKER" selfcheck 2>"$TMP/err"); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^selfcheck passed' &&
    ! printf '%s\n' "$out" | grep -q FAIL; then
	ok "selfcheck starts, checks and stops the children"
else
	not_ok "selfcheck starts, checks and stops the children" "exit $rc" "$out" "$(cat "$TMP/err")"
fi

"$SEPWORKER" selfcheck --log-format json --verbose >/dev/null 2>"$TMP/json.err"
if node -e '
	const lines = require("fs").readFileSync(process.argv[1], "utf8")
	    .split("\n").filter(l => l.length);
	const seen = new Set();
	for (const l of lines) {
		const o = JSON.parse(l);
		for (const k of ["time", "process", "pid", "level", "message"])
			if (!(k in o)) throw new Error("no " + k + " in " + l);
		if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(o.time))
			throw new Error("bad time " + o.time);
		seen.add(o.process);
	}
	for (const p of ["supervisor", "keyholder", "proxyd", "taskrunner"])
		if (!seen.has(p)) throw new Error("no line from " + p);
' "$TMP/json.err" 2>"$TMP/node.err"; then
	ok "--log-format json: every line is a JSON record, all four processes log"
else
	not_ok "--log-format json: every line is a JSON record" "$(cat "$TMP/node.err")" "$(cat "$TMP/json.err")"
fi

# expect_exit NAME STATUS PATTERN COMMAND...: status and a stderr line
expect_exit() {
	local name=$1 want=$2 pattern=$3; shift 3
	"$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
	if [ $rc -eq "$want" ] && grep -q -- "$pattern" "$TMP/err"; then
		ok "$name"
	else
		not_ok "$name" "exit $rc (want $want), stderr:" "$(cat "$TMP/err")"
	fi
}

printf '{"rootURL": "https://tc.example.com", "bogus": 1}' >"$TMP/unknown.json"
expect_exit "unknown config key: exit 73, key named" 73 'unknown key "bogus"' \
	"$SEPWORKER" check-config --config "$TMP/unknown.json"
printf '{"capacity": "one"}' >"$TMP/type.json"
expect_exit "wrongly typed value: exit 73, key named" 73 '"capacity"' \
	"$SEPWORKER" check-config --config "$TMP/type.json"
printf '{"rootURL": ' >"$TMP/broken.json"
expect_exit "config that is not JSON: exit 64, file named" 64 "$TMP/broken.json" \
	"$SEPWORKER" check-config --config "$TMP/broken.json"
expect_exit "missing config file: exit 64, file named" 64 "$TMP/nonexistent.json" \
	"$SEPWORKER" selfcheck --config "$TMP/nonexistent.json"
expect_exit "unknown command: exit 64" 64 'unknown command "frobnicate"' \
	"$SEPWORKER" frobnicate
expect_exit "bad --log-format: exit 64" 64 'must be text or json' \
	"$SEPWORKER" selfcheck --log-format xml

printf '{"workerType": "linux", "SEPWORKER": {"taskNetwork": "isolated"}}' >"$TMP/good.json"
out=$("$SEPWORKER" check-config --config "$TMP/good.json" 2>&1)
printf '%s\n' "$out" | grep -q '"taskNetwork": "isolated"' &&
    printf '%s\n' "$out" | grep -q '"workerType": "linux"' &&
	ok "check-config prints the effective config" ||
	not_ok "check-config prints the effective config" "$out"

if "$SEPWORKER" config-reference | cmp -s - docs/config.md; then
	ok "docs/config.md is the output of config-reference"
else
	not_ok "docs/config.md is the output of config-reference" \
	    "$("$SEPWORKER" config-reference | diff - docs/config.md | head -20)"
fi

# A child that breaks protocol is treated as compromised.
mkdir "$TMP/bin"
cp "$SEPWORKER" "$BUILD/proxyd" "$BUILD/taskrunner" "$TMP/bin/"
cp "$HELPERS/badchild" "$TMP/bin/keyholder"
expect_exit "a child breaking protocol stops sepworker: exit 69, child named" 69 \
	'keyholder (pid [0-9]*) broke protocol: keyholder: unknown message type 999' \
	"$TMP/bin/sepworker" selfcheck

# A child binary others could have replaced is refused before it runs.
cp "$BUILD/keyholder" "$TMP/bin/keyholder"
chmod o+w "$TMP/bin/keyholder"
expect_exit "a child binary writable by others is refused" 69 \
	'keyholder: must be a regular file owned by root' \
	"$TMP/bin/sepworker" selfcheck
