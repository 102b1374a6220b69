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

# generic-worker's exit codes: what its JSON decoder rejects cannot be
# loaded (64), a setting that fails validation is invalid (73).
printf '{"rootURL": "https://tc.example.com", "bogus": 1}' >"$TMP/unknown.json"
expect_exit "unknown config key: exit 64, key named" 64 'unknown key "bogus"' \
	"$SEPWORKER" check-config --config "$TMP/unknown.json"
printf '{"capacity": "one"}' >"$TMP/type.json"
expect_exit "wrongly typed value: exit 64, key named" 64 '"capacity"' \
	"$SEPWORKER" check-config --config "$TMP/type.json"
printf '{"capacity": 2}' >"$TMP/range.json"
expect_exit "a value out of range: exit 73, key named" 73 '"capacity" must be 1' \
	"$SEPWORKER" check-config --config "$TMP/range.json"
printf '{"rootURL": ' >"$TMP/broken.json"
expect_exit "config that is not JSON: exit 64, file named" 64 "$TMP/broken.json" \
	"$SEPWORKER" check-config --config "$TMP/broken.json"
expect_exit "missing config file: exit 64, file named" 64 "$TMP/nonexistent.json" \
	"$SEPWORKER" selfcheck --config "$TMP/nonexistent.json"
# generic-worker's config_test.go, through every command that loads one.
printf '{"shutdownMachineOnInternalError": "true"}' >"$TMP/boolstr.json"
printf '{"rootURL": "https://tc" "clientId": "c"}' >"$TMP/invalid.json"
printf '{"publicIP": "123.1.2"}' >"$TMP/badip.json"
printf '{}' >"$TMP/task.json"
for cmd in check-config selfcheck run-task; do
	args=(); [ $cmd = run-task ] && args=("$TMP/task.json" --out "$TMP/never.out")
	expect_exit "TestBoolAsString ($cmd): a string where a boolean is expected: exit 64" 64 \
	    '"shutdownMachineOnInternalError" must be true or false' \
	    "$SEPWORKER" $cmd "${args[@]}" --config "$TMP/boolstr.json"
	expect_exit "TestInvalidJsonConfig ($cmd): exit 64, file named" 64 "$TMP/invalid.json" \
	    "$SEPWORKER" $cmd "${args[@]}" --config "$TMP/invalid.json"
	expect_exit "TestMissingConfigFile ($cmd): exit 64, file named" 64 \
	    "$TMP/nonexistent.json: No such file" \
	    "$SEPWORKER" $cmd "${args[@]}" --config "$TMP/nonexistent.json"
	expect_exit "TestInvalidIPConfig ($cmd): exit 64" 64 '"publicIP" must be an IPv4 or IPv6 address' \
	    "$SEPWORKER" $cmd "${args[@]}" --config "$TMP/badip.json"
done
[ ! -e "$TMP/never.out" ] && ok "run-task with a config it cannot load writes nothing" ||
	not_ok "run-task with a config it cannot load writes nothing" "$(ls -la "$TMP/never.out")"

# Worker mode's required settings, generic-worker's message; publicIP is
# not one of them (TestMissingIPConfig).  A config with credentials must
# lie where only root can reach it: not below /tmp.
SECURE=$(mktemp -d /var/lib/sepworker-test-cli.XXXXXX)
trap 'rm -rf "$SECURE"; cleanup_all' EXIT
cat >"$SECURE/worker.json" <<JSON
{"accessToken": "t", "clientId": "c", "ed25519SigningKeyLocation": "/k",
 "rootURL": "https://tc.example.com", "workerId": "w",
 "workerPoolId": "proj/linux", "tasksDir": "$TASKS/tasks"}
JSON
chmod 600 "$SECURE/worker.json"
out=$("$SEPWORKER" check-config --worker --config "$SECURE/worker.json" 2>&1); rc=$?
[ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '"workerType": "linux"' &&
    printf '%s\n' "$out" | grep -q '"provisionerId": "proj"' &&
	ok "TestMissingIPConfig: check-config --worker passes without publicIP; workerPoolId split" ||
	not_ok "TestMissingIPConfig: check-config --worker passes without publicIP" "exit $rc" "$out"
printf '{"rootURL": "https://tc.example.com", "tasksDir": "%s/tasks"}' "$TASKS" >"$TMP/noworker.json"
expect_exit "check-config --worker: a required setting missing is exit 73, generic-worker's message" 73 \
	'Config setting "accessToken" has not been defined' \
	"$SEPWORKER" check-config --worker --config "$TMP/noworker.json"
quiet() { "$@" >/dev/null 2>&1; }
check "check-config without --worker does not ask for credentials" \
	quiet "$SEPWORKER" check-config --config "$TMP/noworker.json"
printf '{"workerPoolId": "proj/linux", "workerType": "win"}' >"$TMP/pool.json"
expect_exit "workerPoolId disagreeing with workerType: exit 73, both named" 73 \
	'"workerPoolId" ("proj/linux") and "workerType" ("win") disagree' \
	"$SEPWORKER" check-config --config "$TMP/pool.json"
printf '{"workerPoolId": "linux"}' >"$TMP/pool.json"
expect_exit "workerPoolId without a '/': exit 73, key named" 73 '"workerPoolId" ("linux") must be' \
	"$SEPWORKER" check-config --config "$TMP/pool.json"

# tasksDir as task users meet it: every directory on the way root's, not
# writable by others (unless sticky), searchable by others.
# tasks_dir_config NAME DIR: a config whose tasksDir is DIR.
tasks_dir_config() {
	printf '{"tasksDir": "%s"}' "$2" >"$TMP/$1.json"
}
mkdir -p "$TASKS/closed/inner" "$TASKS/gw/inner" "$TASKS/users"
chmod 700 "$TASKS/closed"; chmod 775 "$TASKS/gw"; chmod 711 "$TASKS/users"
tasks_dir_config closed "$TASKS/closed/inner/tasks"
tasks_dir_config gw "$TASKS/gw/inner/tasks"
mkdir -m 711 "$TASKS/users/tasks"; chown 1234:1234 "$TASKS/users/tasks"
tasks_dir_config users "$TASKS/users/tasks"
for cmd in check-config run-task; do
	args=(); [ $cmd = run-task ] && args=("$TMP/task.json" --out "$TMP/never.out")
	expect_exit "tasksDir below a 0700 directory ($cmd): exit 73, the directory named" 73 \
	    "tasksDir $TASKS/closed/inner/tasks: $TASKS/closed (uid 0, mode 0700) is not searchable by others" \
	    "$SEPWORKER" $cmd "${args[@]}" --config "$TMP/closed.json"
	expect_exit "tasksDir below a group-writable directory ($cmd): exit 73, the directory named" 73 \
	    "tasksDir $TASKS/gw/inner/tasks: $TASKS/gw (uid 0, mode 0775) is writable by group or others" \
	    "$SEPWORKER" $cmd "${args[@]}" --config "$TMP/gw.json"
	expect_exit "tasksDir not owned by root ($cmd): exit 73, the directory named" 73 \
	    "tasksDir $TASKS/users/tasks: $TASKS/users/tasks (uid 1234, mode 0711) is not owned by root" \
	    "$SEPWORKER" $cmd "${args[@]}" --config "$TMP/users.json"
done
[ ! -e "$TMP/never.out" ] && [ ! -e "$TASKS/closed/inner/tasks" ] &&
	ok "a refused tasksDir: nothing made, nothing written" ||
	not_ok "a refused tasksDir: nothing made, nothing written"
# Sticky /var/tmp on the way (the tests' own tasksDir) is fine.
check "a tasksDir below a sticky directory (/var/tmp) passes" \
	quiet "$SEPWORKER" check-config --config "$SECURE/worker.json"

# The supervisor speaks no HTTP: no HTTP library in it.
libs=$(ldd "$SEPWORKER" 2>&1)
if [ -n "$libs" ] && ! printf '%s\n' "$libs" | grep -Eq 'libcurl|libmicrohttpd|libnghttp|libssl'; then
	ok "ldd sepworker: no libcurl, no libmicrohttpd, no TLS library (the supervisor speaks no HTTP)"
else
	not_ok "ldd sepworker: no libcurl, no libmicrohttpd" "$libs"
fi
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
