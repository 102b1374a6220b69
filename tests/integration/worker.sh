# Worker mode (`sepworker run`) against tc-fake: a pool of one works a
# queue of mixed tasks created with taskcluster-client; worker_pool.js
# checks every resolution, artifact and the chain of trust through the
# Queue's API, as a downstream user would.  Then what only the worker's
# own processes can tell: who held which credentials, exit codes.
. "$(dirname "$0")/lib.sh"

CFGDIR=$(mktemp -d /var/lib/sepworker-test-worker.XXXXXX)
WORKER_PID=
worker_cleanup() {
	[ -n "$WORKER_PID" ] && kill -KILL "$WORKER_PID" 2>/dev/null
	stop_tc_fake
	rm -rf "$CFGDIR"
}
trap 'worker_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! is_root; then
	skip "worker mode" "root (the worker maps task uids)"
	exit 0
fi
if ! have_tc_fake; then
	skip "worker mode" "node and tests/tc-fake/node_modules (scripts/install-deps)"
	exit 0
fi

PROV=test-provisioner
WTYPE=test-linux
GROUP=test-worker-group
WID=test-worker-id
worker_client "worker-pool/$PROV/$WTYPE"
if ! start_tc_fake "$TMP/clients.json" --claim-wait-ms 2000; then
	not_ok "tc-fake starts"
	exit 1
fi

# taskcluster-client, where tasks can read it.
NODE_LIBS=$TASKS/node_modules
cp -r "$FAKE_DIR/node_modules" "$NODE_LIBS"
chmod -R a+rX "$NODE_LIBS"

KEY=$CFGDIR/worker.key
"$SEPWORKER" new-ed25519-keypair --file "$KEY" >/dev/null 2>&1
PUB=$("$SEPWORKER" show-public-key --file "$KEY")
STATE=$TMP/pool.json
if ! node "$(dirname "$0")/worker_pool.js" create --root-url "$FAKE_URL" \
    --state "$STATE" --queue "$PROV/$WTYPE" --node-libs "$NODE_LIBS" \
    2>"$TMP/create.err"; then
	not_ok "the tasks are created" "$(cat "$TMP/create.err")"
	exit 1
fi

NTASKS=$(node -e 'console.log(Object.keys(require(process.argv[1]).tasks).length)' "$STATE")

CONFIG=$CFGDIR/worker.json
mkconfig "$CONFIG" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
    "ed25519SigningKeyLocation=\"$KEY\"" "numberOfTasksToRun=$NTASKS" \
    "taskclusterProxyPort=$(free_port)" \
    "sepworker.workDir=\"$CFGDIR/work\"" \
    "sepworker.taskReadOnlyPaths=[\"$HELPERS_ABS\", \"$NODE_LIBS\"]" \
    'sepworker.proxyRetrySeconds=1'
chmod 600 "$CONFIG"

# --- the pool of one ---

started=$(now_ms)
timeout --foreground 300 "$SEPWORKER" run --config "$CONFIG" \
    >"$TMP/worker.out" 2>"$TMP/worker.err" &
WORKER_PID=$!
wait "$WORKER_PID"
rc=$?
WORKER_PID=
took=$(( $(now_ms) - started ))
check "sepworker run exits 0 once numberOfTasksToRun tasks are resolved" \
    [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/# worker: /' "$TMP/worker.err" | tail -n 40
echo "# $NTASKS tasks took $took ms"
check "tasks-resolved-count.txt says $NTASKS" \
    [ "$(cat "$CFGDIR/work/tasks-resolved-count.txt" 2>/dev/null)" = "$NTASKS" ]
check "past 64 queued uploads the taskrunner is held (task many)" \
    grep -q 'uploads queued for its agent: the taskrunner waits' "$TMP/worker.err"
[ -d "$CFGDIR/work/runs" ] && [ -z "$(ls -A "$CFGDIR/work/runs")" ]
checked "nothing is left in the worker's work directory" $? \
    "$(ls -A "$CFGDIR/work/runs" 2>&1)"

node "$(dirname "$0")/worker_pool.js" check --root-url "$FAKE_URL" --state "$STATE" \
    --public-key "$PUB" --worker-group "$GROUP" --worker-id "$WID" \
    --node-libs "$NODE_LIBS" >"$TMP/check.out" 2>"$TMP/check.err"
relay_tap "$TMP/check.out" $? "worker_pool.js" "$TMP/check.err"

# --- exit codes ---

# A second run starts from the count kept: all are done, nothing to do.
"$SEPWORKER" run --config "$CONFIG" >/dev/null 2>"$TMP/again.err"
check "numberOfTasksToRun counts across restarts: a second run exits 0 at once" \
    [ $? -eq 0 ]

mkconfig "$CFGDIR/idle.json" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
    "ed25519SigningKeyLocation=\"$KEY\"" "idleTimeoutSecs=7" \
    "sepworker.workDir=\"$CFGDIR/idle-work\""
chmod 600 "$CFGDIR/idle.json"
started=$(now_ms)
timeout 60 "$SEPWORKER" run --config "$CFGDIR/idle.json" >/dev/null \
    2>"$TMP/idle.err"
rc=$?
took=$(( $(now_ms) - started ))
[ "$rc" -eq 68 ] && [ "$took" -ge 7000 ]
checked "TestIdleWithoutCrash: idleTimeoutSecs 7, exit 68, not before 7 s (took $took ms)" \
    $? "exit $rc"

mkconfig "$CFGDIR/nokey.json" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
    "ed25519SigningKeyLocation=\"$CFGDIR/no-such.key\"" \
    "sepworker.workDir=\"$CFGDIR/idle-work\""
chmod 600 "$CFGDIR/nokey.json"
"$SEPWORKER" run --config "$CFGDIR/nokey.json" >/dev/null 2>"$TMP/nokey.err"
check "a missing signing key: exit 82 (TestExitCodeMissingChainOfTrustKey)" \
    [ $? -eq 82 ]

mkconfig "$CFGDIR/noid.json" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "ed25519SigningKeyLocation=\"$KEY\"" \
    "workerId=null"
chmod 600 "$CFGDIR/noid.json"
"$SEPWORKER" run --config "$CFGDIR/noid.json" >/dev/null 2>"$TMP/noid.err"
rc=$?
[ "$rc" -eq 73 ] &&
    grep -q 'Config setting "workerId" has not been defined' "$TMP/noid.err"
checked "no workerId: exit 73 naming it" $? "exit $rc" "$(cat "$TMP/noid.err")"

# --- the README's static worker, as printed ---

# Its commands and its config, with only the paths, the rootURL and the
# credentials (and the pool and worker names the client may claim as)
# this test's own.
RDIR=$CFGDIR/readme-etc
node -e '
    const fs = require("fs");
    const [readme, out, rdir, sw, url, client, token, pool, group, id,
	tasks, work] = process.argv.slice(1);
    const sec = fs.readFileSync(readme, "utf8").split("\n## Worker mode\n")[1]
	.split("\n## ")[0];
    const blocks = sec.split("```").filter((_, i) => i % 2 === 1);
    const sh = blocks.find(b => b.startsWith("sh\n")).slice(3).trim()
	.split("\n").map(l => l.replaceAll("/etc/sepworker", rdir)
	.replaceAll("build/sepworker", sw));
    const cfg = JSON.parse(blocks.find(b => b.startsWith("json\n")).slice(5));
    Object.assign(cfg, { rootURL: url, clientId: client, accessToken: token,
	workerPoolId: pool, workerGroup: group, workerId: id, tasksDir: tasks,
	ed25519SigningKeyLocation: cfg.ed25519SigningKeyLocation.replace(
	    "/etc/sepworker", rdir) });
    cfg.sepworker.workDir = work;
    fs.writeFileSync(out + ".sh", sh.join("\n") + "\n");
    fs.writeFileSync(out + ".json", JSON.stringify(cfg, null, 2));' \
    "$(dirname "$0")/../../README.md" "$TMP/readme" "$RDIR" "$SEPWORKER" \
    "$FAKE_URL" "$CLIENT" "$TOKEN" "$PROV/$WTYPE" "$GROUP" "$WID" \
    "$TASKS/tasks" "$CFGDIR/readme-work"
mapfile -t RCMD <"$TMP/readme.sh"
check "the README's worker section has its four commands" [ "${#RCMD[@]}" -eq 4 ]
bash -c "${RCMD[0]}" && bash -c "${RCMD[1]}" >"$TMP/readme-key.out" 2>&1 &&
    cp "$TMP/readme.json" "$RDIR/worker.json" && chmod 600 "$RDIR/worker.json"
check "README: new-ed25519-keypair writes the key" [ -s "$RDIR/ed25519.key" ]
bash -c "${RCMD[2]}" >"$TMP/readme-check.out" 2>&1
check "README: check-config --worker accepts the config" [ $? -eq 0 ]
node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue createTask \
    "$(node -e 'console.log(require(process.argv[1]).default.slugid())' \
    "$FAKE_DIR/node_modules/taskcluster-client")" \
    "{\"taskQueueId\": \"$PROV/$WTYPE\", \"schedulerId\": \"tests\",
      \"created\": \"{{now}}\", \"deadline\": \"{{now+3600}}\",
      \"expires\": \"{{now+86400}}\", \"retries\": 0,
      \"payload\": {\"command\": [[\"/bin/echo\", \"from the README\"]],
	\"maxRunTime\": 30},
      \"metadata\": {\"name\": \"readme\", \"description\": \"d\",
	\"owner\": \"t@example.com\", \"source\": \"https://example.com\"}}" \
    >"$TMP/readme-task.out" 2>&1 || sed 's/^/# call.js: /' "$TMP/readme-task.out"
bash -c "exec ${RCMD[3]}" >"$TMP/readme-run.out" 2>&1 &
WORKER_PID=$!
for i in $(seq 300); do
	grep -q "resolved: completed/completed" "$TMP/readme-run.out" && break
	alive "$WORKER_PID" || break
	sleep 0.1
done
if grep -q "resolved: completed/completed" "$TMP/readme-run.out"; then
	ok "README: the static worker works a task"
else
	not_ok "README: the static worker works a task" \
	    "$(cat "$TMP/readme-task.out")" "$(tail -n 20 "$TMP/readme-run.out")"
fi
kill -TERM "$WORKER_PID" 2>/dev/null
wait "$WORKER_PID"
rc=$?
WORKER_PID=
check "SIGTERM while waiting for work: exit 72 (got $rc)" [ "$rc" -eq 72 ]

# --- who holds which credentials, while a task runs ---

hex() { printf %s "$1" | od -An -v -tx1 | tr -d ' \n'; }
descendants() {
	local p
	for p in $(children_of "$1"); do
		echo "$p"
		descendants "$p"
	done
}
SCAN_ID=$(node -e 'console.log(require(process.argv[1]).default.slugid())' \
    "$FAKE_DIR/node_modules/taskcluster-client")
node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue createTask "$SCAN_ID" \
    "{\"taskQueueId\": \"$PROV/$WTYPE\", \"schedulerId\": \"tests\",
      \"created\": \"{{now}}\", \"deadline\": \"{{now+3600}}\",
      \"expires\": \"{{now+86400}}\", \"retries\": 0,
      \"payload\": {\"command\": [[\"/bin/sleep\", \"30\"]],
	\"maxRunTime\": 60, \"features\": {\"taskclusterProxy\": true}},
      \"metadata\": {\"name\": \"scan\", \"description\": \"d\",
	\"owner\": \"t@example.com\", \"source\": \"https://example.com\"}}" \
    >"$TMP/scan-task.out" 2>&1
mkconfig "$CFGDIR/scan.json" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
    "ed25519SigningKeyLocation=\"$KEY\"" "numberOfTasksToRun=1" \
    "taskclusterProxyPort=$(free_port)" \
    "sepworker.workDir=\"$CFGDIR/scan-work\""
chmod 600 "$CFGDIR/scan.json"
"$SEPWORKER" run --config "$CFGDIR/scan.json" >/dev/null 2>"$TMP/scan.err" &
WORKER_PID=$!
for i in $(seq 300); do
	grep -q "task $SCAN_ID started" "$TMP/scan.err" && break
	sleep 0.1
done
TASK_TOKEN=$(curl -s "$FAKE_URL/_fake/task-credentials/$SCAN_ID/0" |
    node -e 'const c = JSON.parse(require("fs").readFileSync(0)).credentials;
	console.log(c.length === 1 ? c[0].accessToken : "")')
where=()
for p in $WORKER_PID $(descendants "$WORKER_PID"); do
	comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
	hits=$("$HELPERS/memscan" "$p" "$(hex "$TOKEN")" "$(hex "$TASK_TOKEN")" \
	    2>/dev/null | tr '\n' ' ')
	where+=("$comm:$hits")
done
summary=" ${where[*]} "
# proxyd alone holds the worker's; the task's are in its proxy and in
# proxyd (kept until the task is over, for a replacement proxy); the
# supervisor, the keyholder, the taskrunner and the task hold neither.
holders() {
	local col=$1
	for w in "${where[@]}"; do
		set -- ${w#*:}
		[ "${!col}" -gt 0 ] && echo "${w%%:*}"
	done | sort -u | tr '\n' ' '
}
[ -n "$TASK_TOKEN" ] && [ "$(holders 1)" = "proxyd " ]
checked "memory during a task: the worker's accessToken only in proxyd" $? \
    "held by: $(holders 1)"
[ "$(holders 1)" = "proxyd " ] || echo "# scanned: $summary"
check "memory during a task: the task's accessToken only in its proxy and proxyd" \
    [ "$(holders 2)" = "proxyd taskproxy " ]
[ "$(holders 2)" = "proxyd taskproxy " ] || echo "# scanned: $summary"
check "at least the supervisor, keyholder, proxyd, taskrunner, task proxy and the task were scanned" \
    [ "${#where[@]}" -ge 6 ]
kill -TERM "$WORKER_PID"
wait "$WORKER_PID"
rc=$?
WORKER_PID=
check "SIGTERM during a task: exit 72 (got $rc)" [ "$rc" -eq 72 ]
state=$(node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue status "$SCAN_ID" |
    node -e 'const r = JSON.parse(require("fs").readFileSync(0)).status.runs[0];
	console.log(r.state + "/" + r.reasonResolved)')
check "... and the task aborted is resolved exception/worker-shutdown (got $state)" \
    [ "$state" = exception/worker-shutdown ]

# --- createObjectArtifacts: the task's artifacts through the object service ---

OBJ_ID=$(node -e 'console.log(require(process.argv[1]).default.slugid())' \
    "$FAKE_DIR/node_modules/taskcluster-client")
node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue createTask "$OBJ_ID" \
    "{\"taskQueueId\": \"$PROV/$WTYPE\", \"schedulerId\": \"tests\",
      \"created\": \"{{now}}\", \"deadline\": \"{{now+3600}}\",
      \"expires\": \"{{now+86400}}\", \"retries\": 0,
      \"payload\": {\"command\": [[\"/bin/sh\", \"-c\",
	\"echo small > small.txt; head -c 100000 /dev/urandom > big.bin\"]],
	\"maxRunTime\": 30, \"artifacts\": [
	  {\"type\": \"file\", \"path\": \"small.txt\", \"name\": \"public/small.txt\"},
	  {\"type\": \"file\", \"path\": \"big.bin\", \"name\": \"public/big.bin\"}]},
      \"metadata\": {\"name\": \"objects\", \"description\": \"d\",
	\"owner\": \"t@example.com\", \"source\": \"https://example.com\"}}" \
    >"$TMP/obj-task.out" 2>&1
mkconfig "$CFGDIR/obj.json" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
    "ed25519SigningKeyLocation=\"$KEY\"" "numberOfTasksToRun=1" \
    "createObjectArtifacts=true" "sepworker.workDir=\"$CFGDIR/obj-work\""
chmod 600 "$CFGDIR/obj.json"
timeout 120 "$SEPWORKER" run --config "$CFGDIR/obj.json" >/dev/null \
    2>"$TMP/obj.err"
check "createObjectArtifacts: the worker works its task, exit 0" [ $? -eq 0 ]
types=$(node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue listArtifacts \
    "$OBJ_ID" 0 | node -e '
	const a = JSON.parse(require("fs").readFileSync(0)).artifacts;
	console.log(a.filter(x => x.name.startsWith("public/") &&
	    !x.name.startsWith("public/logs/")).map(x =>
	    x.name + "=" + x.storageType).sort().join(" "))')
check "createObjectArtifacts: the task's artifacts are objects ($types)" \
    [ "$types" = "public/big.bin=object public/small.txt=object" ]
for f in small.txt big.bin; do
	curl -sfL -o "$TMP/obj.$f" \
	    "$FAKE_URL/api/queue/v1/task/$OBJ_ID/runs/0/artifacts/public%2F$f"
done
[ "$(cat "$TMP/obj.small.txt" 2>/dev/null)" = small ] &&
    [ "$(stat -c %s "$TMP/obj.big.bin" 2>/dev/null)" = 100000 ]
checked "createObjectArtifacts: inline (small) and PUT (large) objects hold the task's bytes" $?

stop_tc_fake
