# Ports of generic-worker's intermittent, artifact and privileged-upload
# tests to worker mode: gw_ports.js creates one task per test in tc-fake,
# one `sepworker run` works them all, gw_ports.js checks them through the
# Queue.  TestIdleWithoutCrash is in worker.sh.
. "$(dirname "$0")/lib.sh"

CFGDIR=$(mktemp -d /var/lib/sepworker-test-gwports.XXXXXX)
SECRET_FILE=/etc/sepworker-gwports-secret.$$
trap 'stop_tc_fake; rm -rf "$CFGDIR" "$SECRET_FILE"; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! is_root; then
	skip "generic-worker ports" "root (the worker maps task uids)"
	exit 0
fi
if ! have_tc_fake; then
	skip "generic-worker ports" "node and tests/tc-fake/node_modules (scripts/install-deps)"
	exit 0
fi

# A root-only file no task may upload (TestPrivileged*).
printf 'sepworker-secret-%s\n' "$RANDOM$RANDOM$RANDOM" >"$SECRET_FILE"
chmod 600 "$SECRET_FILE"

PROV=test-provisioner
WTYPE=gw-ports
CLIENT=worker-pool/$PROV/$WTYPE
TOKEN=$(head -c 33 /dev/urandom | base64 | tr '+/' '-_')
cat >"$TMP/clients.json" <<JSON
{"$CLIENT": {"accessToken": "$TOKEN",
  "scopes": ["queue:claim-work:$PROV/$WTYPE", "queue:worker-id:g/w"]}}
JSON
if ! start_tc_fake "$TMP/clients.json" --claim-wait-ms 2000; then
	not_ok "tc-fake starts"
	exit 1
fi

STATE=$TMP/state.json
JS=$(dirname "$0")/gw_ports.js
if ! node "$JS" create --root-url "$FAKE_URL" --state "$STATE" \
    --queue "$PROV/$WTYPE" --secret "$SECRET_FILE" 2>"$TMP/create.err"; then
	not_ok "the tasks are created" "$(cat "$TMP/create.err")"
	exit 1
fi
NTASKS=$(node -e 'console.log(Object.keys(JSON.parse(require("fs")
    .readFileSync(process.argv[1])).tasks).length)' "$STATE")

KEY=$CFGDIR/worker.key
"$SEPWORKER" new-ed25519-keypair --file "$KEY" >/dev/null 2>&1
mkconfig "$CFGDIR/worker.json" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"g\"" "workerId=\"w\"" \
    "ed25519SigningKeyLocation=\"$KEY\"" "numberOfTasksToRun=$NTASKS" \
    "sepworker.workDir=\"$CFGDIR/work\""
chmod 600 "$CFGDIR/worker.json"

started=$(now_ms)
timeout 300 "$SEPWORKER" run --config "$CFGDIR/worker.json" \
    >"$TMP/worker.out" 2>"$TMP/worker.err"
rc=$?
echo "# $NTASKS tasks took $(( $(now_ms) - started )) ms"
check "sepworker run works the $NTASKS tasks, exit 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/# worker: /' "$TMP/worker.err" | tail -n 40

node "$JS" check --root-url "$FAKE_URL" --state "$STATE" \
    --secret "$SECRET_FILE" >"$TMP/check.out" 2>"$TMP/check.err"
relay_tap "$TMP/check.out" $? "gw_ports.js" "$TMP/check.err"
