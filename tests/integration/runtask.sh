# sepworker run-task: generic-worker's resolution rules (reference §5.3),
# ported from its own tests (§6.4), end to end through the real
# supervisor, taskrunner and sandbox.
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	skip "run-task" "root (each task gets a fresh uid)"
	exit 0
fi

# TestValidPayload
run_task valid <<'JSON'
{"command": [["/bin/sh", "-c", "echo hello world"], ["/bin/echo", "goodbye world"]], "maxRunTime": 30}
JSON
if expect_task valid completed completed 0 &&
    grep -q '^hello world$' "$LOG" && grep -q '^goodbye world$' "$LOG" &&
    grep -q '=== Task Finished ===' "$LOG" && grep -q 'Exit Code: 0' "$LOG" &&
    [ "$(jget "$OUT/result.json" .exitCodes)" = "[0,0]" ] &&
    jget "$OUT/result.json" .started | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$'; then
	ok "a valid payload completes; log and result.json say so"
else
	not_ok "a valid payload completes; log and result.json say so"
fi

# TestFailureResolvesAsFailure, and later commands are not run
run_task exit1 <<'JSON'
{"command": [["/bin/sh", "-c", "exit 1"], ["/bin/sh", "-c", "echo should not run"]], "maxRunTime": 30}
JSON
if expect_task exit1 failed failed 1 && [ "$(jget "$OUT/result.json" .exitCodes)" = "[1]" ] &&
    ! grep -q 'should not run' "$LOG"; then
	ok "exit 1 fails the task; later commands do not run"
else
	not_ok "exit 1 fails the task; later commands do not run"
fi

# TestNonExistentCommandFailsTask
run_task notfound <<'JSON'
{"command": [["no-such-command-sepworker"]], "maxRunTime": 30}
JSON
expect_task notfound failed failed 1 && grep -q 'no-such-command-sepworker: command not found' "$LOG" &&
	ok "a command that does not exist fails the task, clearly logged" ||
	not_ok "a command that does not exist fails the task, clearly logged"

# TestNonExecutableBinaryFailsTask
run_task notexec <<'JSON'
{"command": [["/bin/sh", "-c", "printf '#!/bin/sh\\necho hi\\n' > x.sh; chmod 644 x.sh"], ["./x.sh"]], "maxRunTime": 30}
JSON
expect_task notexec failed failed 1 && grep -q 'not executable' "$LOG" &&
	ok "a file that is not executable fails the task, clearly logged" ||
	not_ok "a file that is not executable fails the task, clearly logged"

# The task can run what it wrote in its directory.
run_task ownbinary <<'JSON'
{"command": [["/bin/sh", "-c", "printf '#!/bin/sh\\necho ran my own script\\n' > x.sh; chmod 755 x.sh"], ["./x.sh"]], "maxRunTime": 30}
JSON
expect_task ownbinary completed completed 0 && grep -q '^ran my own script$' "$LOG" &&
	ok "a task runs what it wrote in its own directory" ||
	not_ok "a task runs what it wrote in its own directory"

# TestAbortAfterMaxRunTime, with a double-forked child that must die too
t0=$(now_ms)
run_task maxruntime <<'JSON'
{"command": [["/bin/sh", "-c", "(setsid sleep 600 &); echo started; sleep 600; echo hello"]], "maxRunTime": 2}
JSON
t1=$(now_ms)
uid=$(task_uid)
left=$(for f in /proc/[0-9]*/status; do awk -v u="$uid" '$1 == "Uid:" && $2 == u { print FILENAME }' "$f" 2>/dev/null; done)
if expect_task maxruntime failed failed 1 && grep -q 'max run time exceeded' "$LOG" &&
    ! grep -q '^hello$' "$LOG" && [ $((t1 - t0)) -lt 15000 ] && [ -n "$uid" ] && [ -z "$left" ]; then
	ok "maxRunTime exceeded: failed, logged, every process gone ($((t1 - t0)) ms)"
else
	not_ok "maxRunTime exceeded: failed, logged, every process gone" \
	    "took $((t1 - t0)) ms; uid $uid; processes left: $left"
fi

# intermittent_task_test.go
run_task retry <<'JSON'
{"command": [["/bin/sh", "-c", "exit 3"]], "maxRunTime": 30, "onExitStatus": {"retry": [3, 7]}}
JSON
expect_task retry exception intermittent-task 2 &&
	ok "an exit code listed in onExitStatus.retry: exception/intermittent-task" ||
	not_ok "an exit code listed in onExitStatus.retry: exception/intermittent-task"
run_task noretry <<'JSON'
{"command": [["/bin/sh", "-c", "exit 4"]], "maxRunTime": 30, "onExitStatus": {"retry": [3]}}
JSON
expect_task noretry failed failed 1 &&
	ok "an exit code not listed in onExitStatus.retry: failed" ||
	not_ok "an exit code not listed in onExitStatus.retry: failed"

# payload_test.go: malformed payloads, with the schema and the problem logged
malformed() {
	local name=$1 want=$2
	run_task "$name"
	if expect_task "$name" exception malformed-payload 2 &&
	    grep -q 'must conform to the following jsonschema' "$LOG" &&
	    grep -q '"maxRunTime"' "$LOG" && grep -qF -- "$want" "$LOG"; then
		ok "malformed payload ($name): logged with the schema and \"$want\""
	else
		not_ok "malformed payload ($name): logged with the schema and \"$want\""
	fi
}
malformed empty '"command" is required' <<<'{}'
malformed extrafield 'property "foo" is not allowed' <<<'{"command": [["true"]], "maxRunTime": 30, "foo": 1}'
malformed nocommands 'payload.command: must have at least 1 item' <<<'{"command": [], "maxRunTime": 30}'
malformed envnotstring 'payload.env.FOO: must be a string' <<<'{"command": [["true"]], "maxRunTime": 30, "env": {"FOO": 1}}'
malformed toolong "more than this worker's maxTaskRunTime of 300" <<<'{"command": [["true"]], "maxRunTime": 3000}'
malformed expiry "before the task's deadline" <<'JSON'
{"deadline": "2030-01-02T00:00:00.000Z", "expires": "2031-01-01T00:00:00.000Z",
 "payload": {"command": [["true"]], "maxRunTime": 30,
  "artifacts": [{"type": "file", "path": "x", "expires": "2030-01-01T00:00:00.000Z"}]}}
JSON
malformed notjson 'task definition' <<<'not json'

# Artifacts: missing, optional, directories with nested files
run_task missing <<'JSON'
{"command": [["true"]], "maxRunTime": 30,
 "artifacts": [{"type": "file", "path": "nothere.txt", "name": "public/nothere.txt"}]}
JSON
if expect_task missing failed failed 1 &&
    [ "$(jget "$OUT/result.json" '.artifactErrors[0].reason')" = file-missing-on-worker ] &&
    [ "$(jget "$OUT/result.json" '.artifactErrors[0].name')" = public/nothere.txt ]; then
	ok "a missing artifact fails the task with a file-missing-on-worker error"
else
	not_ok "a missing artifact fails the task with a file-missing-on-worker error"
fi
run_task optional <<'JSON'
{"command": [["true"]], "maxRunTime": 30,
 "artifacts": [{"type": "file", "path": "nothere.txt", "optional": true}]}
JSON
# generic-worker uploads an error artifact for it; the task completes.
expect_task optional completed completed 0 &&
    [ "$(jget "$OUT/result.json" .artifactErrors[0].optional)" = true ] &&
	ok "a missing optional artifact is recorded as an optional error, the task completes" ||
	not_ok "a missing optional artifact is recorded as an optional error, the task completes"
run_task nested <<'JSON'
{"command": [["/bin/sh", "-c", "mkdir -p d/e/f && echo 1 > d/a.txt && echo 2 > d/e/b.png && echo 3 > d/e/f/c.json && echo x > top.log"]],
 "maxRunTime": 30,
 "artifacts": [{"type": "directory", "path": "d", "name": "public/dir"},
               {"type": "file", "path": "top.log"}]}
JSON
names=$(jget "$OUT/result.json" '.artifacts.map(a => a.name).join(" ")')
if expect_task nested completed completed 0 &&
    [ "$names" = "public/dir/a.txt public/dir/e/b.png public/dir/e/f/c.json top.log" ] &&
    [ "$(cat "$OUT/public/dir/e/f/c.json")" = 3 ] &&
    [ "$(jget "$OUT/result.json" '.artifacts[1].contentType')" = image/png ] &&
    [ "$(jget "$OUT/result.json" '.artifacts[1].contentEncoding')" = identity ] &&
    [ "$(jget "$OUT/result.json" '.artifacts[3].contentEncoding')" = gzip ] &&
    [ "$(jget "$OUT/result.json" '.artifacts[0].sha256')" = "$(sha256sum "$OUT/public/dir/a.txt" | cut -d' ' -f1)" ]; then
	ok "directory artifacts: nested files under the artifact's name, types, encodings, hashes"
else
	not_ok "directory artifacts: nested files under the artifact's name, types, encodings, hashes" "names: $names"
fi

# The task's environment: generic-worker's variables, the payload's, and
# what a payload may not override.
run_task env --task-id YiWxGVZAQ1GTvaLvBT8RCg --run-id 2 <<'JSON'
{"taskGroupId": "aQlYHJ1CRsy0MPvNe5mLzg",
 "payload": {"command": [["/bin/sh", "-c", "env | sort"]], "maxRunTime": 30,
  "env": {"FOO": "bar baz", "TASK_ID": "forged"}}}
JSON
if expect_task env completed completed 0 &&
    grep -qx 'TASK_ID=YiWxGVZAQ1GTvaLvBT8RCg' "$LOG" && grep -qx 'RUN_ID=2' "$LOG" &&
    grep -qx 'TASK_GROUP_ID=aQlYHJ1CRsy0MPvNe5mLzg' "$LOG" &&
    grep -qx 'TASKCLUSTER_ROOT_URL=https://tc.example.com' "$LOG" &&
    grep -qx 'FOO=bar baz' "$LOG" && grep -q '^TASK_WORKDIR=/' "$LOG" &&
    grep -q '^HOME=/' "$LOG" && grep -q '^USER=task_' "$LOG" &&
    ! grep -q 'TASK_ID=forged' "$LOG" &&
    [ "$(jget "$OUT/result.json" .taskId)" = YiWxGVZAQ1GTvaLvBT8RCg ] &&
    [ "$(jget "$OUT/result.json" .runId)" = 2 ]; then
	ok "task environment: generic-worker's variables, the payload's, no override of TASK_ID"
else
	not_ok "task environment: generic-worker's variables, the payload's, no override of TASK_ID"
fi

# The output directory must be new or empty.
mkdir -p "$TMP/full.out" && touch "$TMP/full.out/x"
"$SEPWORKER" run-task "$TMP/valid.json" --out "$TMP/full.out" 2>"$TMP/full.err"; rc=$?
[ $rc -eq 64 ] && grep -q 'is not empty' "$TMP/full.err" &&
	ok "a non-empty output directory is refused (exit 64)" ||
	not_ok "a non-empty output directory is refused (exit 64)" "exit $rc" "$(cat "$TMP/full.err")"

# Nothing of a task is left: its directory is removed.
[ -z "$(ls -A "$TASKS/tasks")" ] && ok "every task directory was removed" ||
	not_ok "every task directory was removed" "$(ls -A "$TASKS/tasks")"
