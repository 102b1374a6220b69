# What a worker's configuration does to its tasks: cgroup and memory
# limits, the ptrace-and-namespaces switch, and a worker told to stop
# while a task runs.
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	for t in cgroup memory ptrace-switch sigterm; do skip "$t" root; done
	exit 0
fi

# with_config NAME NODE-EXPR: a copy of the test config, changed.
with_config() {
	node -e 'const fs = require("fs"); const c = JSON.parse(fs.readFileSync(process.argv[1]));
	    eval(process.argv[2]); fs.writeFileSync(process.argv[3], JSON.stringify(c))' \
	    "$TASK_CONFIG" "$2" "$TMP/$1.config.json"
	echo "$TMP/$1.config.json"
}

# The task runs in a cgroup of its own, with the configured pids limit.
run_task cgroup <<'JSON'
{"command": [["/bin/sh", "-c", "cat /proc/self/cgroup"]], "maxRunTime": 30}
JSON
uid=$(task_uid)
if grep -q 'cgroup v1 pids memory' "$LOG"; then
	grep -q "^[0-9]*:pids:/sepworker-task-$uid\$" "$LOG" &&
	    grep -q "^[0-9]*:memory:/sepworker-task-$uid\$" "$LOG" &&
	    ! ls -d /sys/fs/cgroup/pids/sepworker-task-"$uid" 2>/dev/null
	rc=$?
elif grep -q 'cgroup v2' "$LOG"; then
	grep -q "^0::/task-$uid\$" "$LOG"; rc=$?
else
	rc=1
fi
expect_task cgroup completed completed 0 && [ $rc -eq 0 ] &&
	ok "the task runs in a cgroup of its own, removed afterwards" ||
	not_ok "the task runs in a cgroup of its own, removed afterwards" "$(cat "$LOG")"

# pids.max is what the config says, seen from outside while it runs.
echo '{"command": [["/bin/sleep", "3"]], "maxRunTime": 30}' >"$TMP/sleep3.json"
"$SEPWORKER" run-task "$TMP/sleep3.json" --out "$TMP/pidsmax.out" \
    --config "$TASK_CONFIG" >/dev/null 2>&1 &
bg=$!
_pids+=("$bg")
max=""
for i in $(seq 100); do
	max=$(find /sys/fs/cgroup/pids -maxdepth 4 -name "sepworker-task-*" -exec cat {}/pids.max \; 2>/dev/null | head -n 1)
	[ -n "$max" ] && break
	sleep 0.05
done
wait "$bg"
[ "$max" = 256 ] && ok "the task's cgroup has pids.max = sepworker.taskMaxProcesses" ||
	not_ok "the task's cgroup has pids.max = sepworker.taskMaxProcesses" "pids.max: '$max'"

# taskMaxMemoryBytes: a task may not take more.
cfg=$(with_config mem 'c.sepworker.taskMaxMemoryBytes = 64 * 1024 * 1024')
run_task memory --config "$cfg" <<'JSON'
{"command": [["/usr/bin/python3", "-c", "x = bytearray(256 * 1024 * 1024); print('allocated')"]], "maxRunTime": 30}
JSON
expect_task memory failed failed 1 && ! grep -q '^allocated$' "$LOG" &&
	ok "a task cannot allocate past sepworker.taskMaxMemoryBytes" ||
	not_ok "a task cannot allocate past sepworker.taskMaxMemoryBytes"
run_task memoryok --config "$cfg" <<'JSON'
{"command": [["/usr/bin/python3", "-c", "x = bytearray(8 * 1024 * 1024); print('allocated')"]], "maxRunTime": 30}
JSON
expect_task memoryok completed completed 0 && grep -q '^allocated$' "$LOG" &&
	ok "a task within sepworker.taskMaxMemoryBytes runs" ||
	not_ok "a task within sepworker.taskMaxMemoryBytes runs"

# User namespaces: refused by default, allowed (and said so) by the switch.
userns='{"command": [["/usr/bin/unshare", "--user", "--map-root-user", "/usr/bin/id", "-u"]], "maxRunTime": 30}'
run_task nouserns <<<"$userns"
expect_task nouserns failed failed 1 && ! grep -q '^0$' "$LOG" &&
	ok "a task cannot make a user namespace" ||
	not_ok "a task cannot make a user namespace"
cfg=$(with_config debugns 'c.sepworker.allowTaskPtraceAndNamespaces = true')
run_task userns --config "$cfg" <<<"$userns"
expect_task userns completed completed 0 && grep -q '^0$' "$LOG" &&
	grep -q 'the sandbox is weakened' "$LOG" &&
	ok "allowTaskPtraceAndNamespaces: user namespaces work, the log says so" ||
	not_ok "allowTaskPtraceAndNamespaces: user namespaces work, the log says so"

# SIGTERM to sepworker while a task runs: the task is aborted and
# resolved as exception/worker-shutdown; nothing of it is left.
cat >"$TMP/long.json" <<'JSON'
{"command": [["/bin/sh", "-c", "(setsid sleep 600 &); echo running; sleep 600"]], "maxRunTime": 120}
JSON
"$SEPWORKER" run-task "$TMP/long.json" --out "$TMP/term.out" --config "$TASK_CONFIG" \
    >"$TMP/term.stdout" 2>"$TMP/term.stderr" &
sup=$!
_pids+=("$sup")
for i in $(seq 100); do
	grep -q '^running$' "$TMP/term.out/public/logs/live_backing.log" 2>/dev/null && break
	sleep 0.05
done
LOG=$TMP/term.out/public/logs/live_backing.log
uid=$(task_uid)
t0=$(now_ms)
kill -TERM "$sup"
wait "$sup"; RC=$?
t1=$(now_ms)
OUT=$TMP/term.out
left=$(for f in /proc/[0-9]*/status; do awk -v u="$uid" '$1 == "Uid:" && $2 == u { print FILENAME }' "$f" 2>/dev/null; done)
if expect_task term exception worker-shutdown 2 && [ -n "$uid" ] && [ -z "$left" ] &&
    [ $((t1 - t0)) -lt 5000 ]; then
	ok "SIGTERM during a task: exception/worker-shutdown, nothing left ($((t1 - t0)) ms)"
else
	not_ok "SIGTERM during a task: exception/worker-shutdown, nothing left" \
	    "took $((t1 - t0)) ms; uid '$uid'; left: $left"
fi
