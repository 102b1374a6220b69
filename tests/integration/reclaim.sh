# Reclaims (reference worker-mode.md §3) against tc-fake with a claim
# timeout of a few seconds and no tolerance on certificates: the task's
# proxy reclaims on time through long tasks and slow uploads, its
# forwarding uses each reclaim's credentials, and a claim the Queue
# refuses to renew (cancelled, resolved elsewhere) kills the task, uploads
# its logs alone, reports nothing, and the worker goes on.  reclaim.js
# makes the tasks and checks them through the Queue's API.
. "$(dirname "$0")/lib.sh"

CFGDIR=$(mktemp -d /var/lib/sepworker-test-reclaim.XXXXXX)
WORKER_PID=
WATCH_PID=
reclaim_cleanup() {
	[ -n "$WORKER_PID" ] && kill -KILL "$WORKER_PID" 2>/dev/null
	[ -n "$WATCH_PID" ] && kill -KILL "$WATCH_PID" 2>/dev/null
	stop_tc_fake
	rm -rf "$CFGDIR"
}
trap 'reclaim_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! is_root; then
	skip "reclaims" "root (the worker maps task uids)"
	exit 0
fi
if ! have_tc_fake; then
	skip "reclaims" "node and tests/tc-fake/node_modules (scripts/install-deps)"
	exit 0
fi

# Short enough that every reclaim is a short claim's (half-way), long
# enough for a task's logs to go up after the Queue refuses a reclaim.
CLAIM_TIMEOUT=12
PROV=test-provisioner
WTYPE=test-reclaim
GROUP=test-worker-group
WID=test-reclaim-worker
worker_client "worker-pool/$PROV/$WTYPE"
if ! start_tc_fake "$TMP/clients.json" --claim-wait-ms 2000 \
    --claim-timeout-s "$CLAIM_TIMEOUT" --cert-skew-ms 0; then
	not_ok "tc-fake starts"
	exit 1
fi

NODE_LIBS=$TASKS/node_modules
cp -r "$FAKE_DIR/node_modules" "$NODE_LIBS"
chmod -R a+rX "$NODE_LIBS"

KEY=$CFGDIR/worker.key
"$SEPWORKER" new-ed25519-keypair --file "$KEY" >/dev/null 2>&1
STATE=$TMP/reclaim.json
JS=$(dirname "$0")/reclaim.js
if ! node "$JS" create --root-url "$FAKE_URL" --state "$STATE" \
    --queue "$PROV/$WTYPE" --node-libs "$NODE_LIBS" \
    --claim-timeout "$CLAIM_TIMEOUT" 2>"$TMP/create.err" ||
    ! node "$JS" faults --root-url "$FAKE_URL" --state "$STATE" \
    2>>"$TMP/create.err"; then
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
    'sepworker.taskUidFirst=72000' 'sepworker.taskUidCount=4' \
    "sepworker.taskReadOnlyPaths=[\"$HELPERS_ABS\", \"$NODE_LIBS\"]" \
    'sepworker.proxyRetrySeconds=1'
chmod 600 "$CONFIG"

node "$JS" watch --root-url "$FAKE_URL" --state "$STATE" \
    --out "$TMP/watched.json" 2>"$TMP/watch.err" &
WATCH_PID=$!

# The task proxy of task proxyDies, killed once it has reclaimed twice.
descendants() {
	local p
	for p in $(ps -o pid= --ppid "$1"); do
		echo "$p"
		descendants "$p"
	done
}
kill_task_proxy() {
	local id p i
	id=$(node -e 'console.log(require(process.argv[1]).tasks.proxyDies)' "$STATE")
	for i in $(seq 1200); do
		[ "$(grep -c "task $id: reclaimed" "$TMP/worker.err")" -ge 2 ] && break
		sleep 0.1
	done
	for p in $(descendants "$WORKER_PID"); do
		if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = taskproxy ]; then
			kill -KILL "$p"
			echo "killed $p" >"$TMP/killed"
		fi
	done
}

started=$(now_ms)
timeout --foreground 240 "$SEPWORKER" run --config "$CONFIG" \
    >"$TMP/worker.out" 2>"$TMP/worker.err" &
WORKER_PID=$!
kill_task_proxy &
KILL_PID=$!
wait "$WORKER_PID"
rc=$?
wait "$KILL_PID"
WORKER_PID=
took=$(( $(now_ms) - started ))
wait "$WATCH_PID"
wrc=$?
WATCH_PID=
echo "# $NTASKS tasks took $took ms"
check "sepworker run exits 0 once its $NTASKS tasks are done" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/# worker: /' "$TMP/worker.err" | tail -n 60
check "the test cancelled one task and resolved another while they ran" \
    [ "$wrc" -eq 0 ]
[ "$wrc" -eq 0 ] || sed 's/^/# watch: /' "$TMP/watch.err"
check "the claim timeout too short for the usual margin is said, with its times" \
    grep -q "the claim's timeout is too short to reclaim 180 s before takenUntil .* reclaiming at .*, half-way" "$TMP/worker.err"
check "each reclaim is in the worker's log" \
    grep -q "reclaimed, taken until .* (client task-client/" "$TMP/worker.err"
check "two tasks are left unresolved, and the worker says so" \
    [ "$(grep -c 'NOT RESOLVED: the worker no longer holds it' "$TMP/worker.err")" -eq 2 ]
check "the test killed a task proxy mid-task" [ -s "$TMP/killed" ]
PD=$(node -e 'console.log(require(process.argv[1]).tasks.proxyDies)' "$STATE")
grep -q "holding the task's renewed credentials (client task-client/$PD/" "$TMP/worker.err" &&
    [ "$(grep -c "handed the credentials of client task-client/$PD/.*proxyd keeps the task's latest until it is over" "$TMP/worker.err")" -eq 2 ]
checked "proxyd kept the task's renewed credentials and fed them to a replacement" $?
[ -d "$CFGDIR/work/runs" ] && [ -z "$(ls -A "$CFGDIR/work/runs")" ]
checked "nothing is left in the worker's work directory" $?

node "$JS" check --root-url "$FAKE_URL" --state "$STATE" \
    --watched "$TMP/watched.json" --claim-timeout "$CLAIM_TIMEOUT" \
    >"$TMP/check.out" 2>"$TMP/check.err"
relay_tap "$TMP/check.out" $? "reclaim.js" "$TMP/check.err"
stop_tc_fake
