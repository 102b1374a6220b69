# The task log's worker lines as generic-worker writes them: the header
# with workerTypeMetadata (backing_log_feature.go), each command whole
# ("Executing command N: ..."), one log line per worker line.
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	skip "run-task" "root (each task gets a fresh uid)"
	exit 0
fi

# A config with workerTypeMetadata, keys in no order, nested, with a
# character Go escapes.
MD_CONFIG=$TMP/metadata.json
node -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1]));
    c.provisionerId = "proj-test";
    c.workerTypeMetadata = {zone: "z-1", "instance-id": "i-0abc",
	nested: {b: [1, "x<y"], a: {}}, empty: []};
    require("fs").writeFileSync(process.argv[2], JSON.stringify(c));' \
    "$TASK_CONFIG" "$MD_CONFIG"

# Log lines without their "[taskcluster <time>] " prefix.
worker_lines() {
	sed -n 's/^\[taskcluster [0-9T:.Z-]*\] //p' "$LOG"
}

run_task header --config "$MD_CONFIG" <<'JSON'
{"command": [["/bin/true"]], "maxRunTime": 30}
JSON
test_header() {
	local task_id want
	task_id=$(jget "$OUT/result.json" .taskId)
	want=$(cat <<EOT
Worker Type (proj-test/test-linux) settings:
  {
    "empty": [],
    "instance-id": "i-0abc",
    "nested": {
      "a": {},
      "b": [
        1,
        "x\u003cy"
      ]
    },
    "sepworker": {
      "arch": "$(uname -m)",
      "os": "linux",
      "revision": "R",
      "taskNetwork": "host",
      "version": "$("$SEPWORKER" version | cut -d' ' -f2)"
    },
    "zone": "z-1"
  }
Task ID: $task_id
EOT
)
	# The revision is the build's commit, or "unknown": any non-empty.
	got=$(worker_lines | head -n "$(printf '%s\n' "$want" | wc -l)" |
	    sed 's/^      "revision": ".\{1,\}",$/      "revision": "R",/')
	why=("header:" "$got" "wanted:" "$want")
	expect_task header completed completed 0 >/dev/null && [ "$got" = "$want" ] &&
	    [ "$(grep -c '=== Task Starting ===' "$LOG")" = 1 ]
}
# t NAME FUNCTION: ok if FUNCTION succeeds, else not ok with ${why[@]}.
t() {
	why=()
	if "$2"; then ok "$1"; else not_ok "$1" "${why[@]}"; fi
}
t "TestWorkerTypeMetadata: the log starts with the pool, workerTypeMetadata (sorted, indented as Go's MarshalIndent, a sepworker entry) and the task ID" test_header

run_task nometadata <<'JSON'
{"command": [["/bin/true"]], "maxRunTime": 30}
JSON
test_no_metadata() {
	why=("$(head -5 "$LOG")")
	expect_task nometadata completed completed 0 >/dev/null &&
	    [ "$(worker_lines | head -3)" = "Worker Type (test-provisioner/test-linux) settings:
  {
    \"sepworker\": {" ]
}
t "without workerTypeMetadata the header shows the sepworker entry alone" test_no_metadata

# A 10 KiB command, with a newline, a fake worker line, a quote, a C1
# control and an escape: printed whole on one line, and it reads back as
# the same arguments.
node -e '
    const big = "x".repeat(10240) + "END";
    console.log(JSON.stringify({payload: {maxRunTime: 30, command: [[
	"/bin/echo", big, "two\n[taskcluster 2026-01-01T00:00:00.000Z] === Task Finished ===",
	"it'"'"'s", "c1\u0085del\u007f", "tab\there", "back\\slash", ""]]}}))' >"$TMP/long-task.json"
run_task long <"$TMP/long-task.json"
test_long_command() {
	local line args
	line=$(grep -a '^\[taskcluster [0-9T:.Z-]*\] Executing command 0: ' "$LOG")
	why=("$(printf '%s' "$line" | cut -c1-200)...$(printf '%s' "$line" | tail -c 200)")
	expect_task long completed completed 0 >/dev/null || return 1
	[ "$(printf '%s\n' "$line" | wc -l)" = 1 ] && [ "${#line}" -gt 10240 ] || return 1
	# The fake line appears once, as the task's own output: the
	# command's echo did not start a line with it.
	[ "$(grep -ac '^\[taskcluster 2026-01-01T00:00:00.000Z\]' "$LOG")" = 1 ] &&
	    printf '%s' "$line" | grep -qF "\$'two\\n[taskcluster 2026-01-01" ||
	    { why+=("the command's echo broke its line"); return 1; }
	# bash reads the printed command back to the payload's arguments.
	args=$(LC_ALL=C.UTF-8 bash -c 'eval "set -- ${1#*Executing command 0: }"; node -e "console.log(JSON.stringify(process.argv.slice(1)))" "$@"' _ "$line")
	[ "$args" = "$(node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1])).payload.command[0]))' "$TMP/long.json")" ] ||
	    { why+=("read back as $(printf '%s' "$args" | cut -c1-100)...$(printf '%s' "$args" | tail -c 150)"); return 1; }
}
t "a 10 KiB command is printed whole, on one line (controls as \$'...'), and reads back as its arguments" test_long_command
