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
TOKEN=$(head -c 33 /dev/urandom | base64 | tr '+/' '-_')
CLIENT=worker-pool/$PROV/$WTYPE
cat >"$TMP/clients.json" <<JSON
{"$CLIENT": {"accessToken": "$TOKEN",
  "scopes": ["queue:claim-work:$PROV/$WTYPE",
    "queue:worker-id:$GROUP/$WID"]}}
JSON
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
CONFIG=$CFGDIR/worker.json
mkconfig "$CONFIG" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
    "ed25519SigningKeyLocation=\"$KEY\"" "numberOfTasksToRun=8" \
    "taskclusterProxyPort=$(free_port)" \
    "sepworker.workDir=\"$CFGDIR/work\"" \
    "sepworker.taskReadOnlyPaths=[\"$HELPERS_ABS\", \"$NODE_LIBS\"]" \
    'sepworker.proxyRetrySeconds=1'
chmod 600 "$CONFIG"

STATE=$TMP/pool.json
if ! node "$(dirname "$0")/worker_pool.js" create --root-url "$FAKE_URL" \
    --state "$STATE" --queue "$PROV/$WTYPE" --node-libs "$NODE_LIBS" \
    2>"$TMP/create.err"; then
	not_ok "the tasks are created" "$(cat "$TMP/create.err")"
	exit 1
fi

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
echo "# 8 tasks took $took ms"
check "tasks-resolved-count.txt says 8" \
    [ "$(cat "$CFGDIR/work/tasks-resolved-count.txt" 2>/dev/null)" = 8 ]
check "nothing is left in the worker's work directory" \
    [ -z "$(ls -A "$CFGDIR/work/tasks" 2>/dev/null)" ]

node "$(dirname "$0")/worker_pool.js" check --root-url "$FAKE_URL" --state "$STATE" \
    --public-key "$PUB" --worker-group "$GROUP" --worker-id "$WID" \
    --node-libs "$NODE_LIBS" >"$TMP/check.out" 2>"$TMP/check.err"
relay_tap "$TMP/check.out" $? "worker_pool.js" "$TMP/check.err"

# --- exit codes ---

# A second run starts from the count kept: 8 >= 8, nothing to do.
"$SEPWORKER" run --config "$CONFIG" >/dev/null 2>"$TMP/again.err"
check "numberOfTasksToRun counts across restarts: a second run exits 0 at once" \
    [ $? -eq 0 ]

mkconfig "$CFGDIR/idle.json" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
    "ed25519SigningKeyLocation=\"$KEY\"" "idleTimeoutSecs=3" \
    "sepworker.workDir=\"$CFGDIR/idle-work\""
chmod 600 "$CFGDIR/idle.json"
started=$(now_ms)
timeout 60 "$SEPWORKER" run --config "$CFGDIR/idle.json" >/dev/null \
    2>"$TMP/idle.err"
rc=$?
took=$(( $(now_ms) - started ))
check "idleTimeoutSecs: exit 68 after ~3 s without a task (took $took ms)" \
    [ "$rc" -eq 68 ] && [ "$took" -ge 3000 ]

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
check "no workerId: exit 73 naming it" [ "$rc" -eq 73 ] &&
    grep -q 'Config setting "workerId" has not been defined' "$TMP/noid.err"

stop_tc_fake
