# Graceful termination, signals and worker-runner's protocol in worker
# mode (`sepworker run [--with-worker-runner]`) against tc-fake, with a
# fake worker-runner (fake_runner.js) that records every line the worker
# writes on stdout.  Ports of generic-worker's workerrunner_test.go
# (TestGracefulTermination, TestNewCredentials with and without a
# certificate), main_test.go (TestProtocolStdio, TestProtocolNull,
# TestIdleTimeoutChecksWorkerManager) and graceful_test.go; resolutions
# are checked through the Queue's API.
. "$(dirname "$0")/lib.sh"

CFGDIR=$(mktemp -d /var/lib/sepworker-test-wr.XXXXXX)
RUNNER_PID=
wr_cleanup() {
	[ -n "$RUNNER_PID" ] && kill -KILL "$RUNNER_PID" 2>/dev/null
	[ -s "$TMP/worker.pid" ] && kill -KILL "$(cat "$TMP/worker.pid")" 2>/dev/null
	stop_tc_fake
	rm -rf "$CFGDIR"
}
trap 'wr_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! is_root; then
	skip "worker-runner protocol" "root (the worker maps task uids)"
	exit 0
fi
if ! have_tc_fake; then
	skip "worker-runner protocol" "node and tests/tc-fake/node_modules (scripts/install-deps)"
	exit 0
fi

PROV=test-provisioner
WTYPE=test-wr
GROUP=test-worker-group
WID=test-wr-worker
SCOPES="\"queue:claim-work:$PROV/$WTYPE\", \"queue:worker-id:$GROUP/$WID\",
    \"worker-manager:should-worker-terminate:$PROV/$WTYPE/$GROUP/$WID\""
tok() { head -c 33 /dev/urandom | base64 | tr '+/' '-_'; }
TOKEN_A=$(tok)
TOKEN_B=$(tok)
TOKEN_C=$(tok)
CLIENT_A=worker-pool/$PROV/$WTYPE
cat >"$TMP/clients.json" <<JSON
{"$CLIENT_A": {"accessToken": "$TOKEN_A", "scopes": [$SCOPES]},
 "worker-b": {"accessToken": "$TOKEN_B", "scopes": [$SCOPES]},
 "worker-c": {"accessToken": "$TOKEN_C", "scopes": [$SCOPES]}}
JSON
if ! start_tc_fake "$TMP/clients.json" --claim-wait-ms 3000; then
	not_ok "tc-fake starts"
	exit 1
fi
TCLIENT=$FAKE_DIR/node_modules/taskcluster-client
RUNNER=$(dirname "$0")/fake_runner.js

KEY=$CFGDIR/worker.key
"$SEPWORKER" new-ed25519-keypair --file "$KEY" >/dev/null 2>&1
PORT=$(free_port)

# config NAME KEY=JSON...: the worker's config, its own workDir.
config() {
	local name=$1; shift
	mkconfig "$CFGDIR/$name.json" "rootURL=\"$FAKE_URL\"" \
	    "clientId=\"$CLIENT_A\"" "accessToken=\"$TOKEN_A\"" \
	    "provisionerId=\"$PROV\"" "workerType=\"$WTYPE\"" \
	    "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
	    "ed25519SigningKeyLocation=\"$KEY\"" \
	    "taskclusterProxyPort=$PORT" \
	    "sepworker.workDir=\"$CFGDIR/work-$name\"" \
	    'sepworker.taskUidFirst=72100' 'sepworker.taskUidCount=4' \
	    'sepworker.proxyRetrySeconds=1' "$@"
	chmod 600 "$CFGDIR/$name.json"
}

new_id() { node -e 'console.log(require(process.argv[1]).default.slugid())' "$TCLIENT" 2>/dev/null ||
	node --input-type=module -e "import tc from '$TCLIENT/src/index.js'; console.log(tc.slugid())"; }

# create_task ID COMMAND_JSON
create_task() {
	node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue createTask "$1" \
	    "{\"taskQueueId\": \"$PROV/$WTYPE\", \"schedulerId\": \"tests\",
	      \"created\": \"{{now}}\", \"deadline\": \"{{now+3600}}\",
	      \"expires\": \"{{now+86400}}\", \"retries\": 0,
	      \"payload\": {\"command\": $2, \"maxRunTime\": 120},
	      \"metadata\": {\"name\": \"wr\", \"description\": \"d\",
		\"owner\": \"t@example.com\", \"source\": \"https://example.com\"}}" \
	    >"$TMP/create.out" 2>&1 || sed 's/^/# createTask: /' "$TMP/create.out"
}

# run_state ID: "state/reasonResolved" of the task's last run.
run_state() {
	node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue status "$1" |
	    node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
		const r = JSON.parse(s).status.runs.at(-1) || {};
		console.log(`${r.state}/${r.reasonResolved}`); })'
}

none_holds() { ! grep -q -- "$@"; }
none_holds_fixed() { ! grep -qF "$@"; }
matches() { [[ $1 =~ $2 ]]; }

# --- without worker-runner ---

# start_worker NAME [OPTION...]: in the background, stderr to
# $TMP/NAME.err, stdout to $TMP/NAME.out; WPID.
start_worker() {
	local name=$1; shift
	"$SEPWORKER" run --config "$CFGDIR/$name.json" "$@" \
	    >"$TMP/$name.out" 2>"$TMP/$name.err" &
	WPID=$!
	echo "$WPID" >"$TMP/worker.pid"
}
# wait_for FILE TEXT [SECONDS]: until FILE holds TEXT (fixed string).
wait_for() {
	local i
	for i in $(seq $(( ${3:-30} * 10 ))); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# waited in vain for \"$2\" in $1"
	return 1
}
# end_worker: wait for it; RC, TOOK (ms since it was told to stop, from
# STOP_AT).
end_worker() {
	wait "$WPID"
	RC=$?
	TOOK=$(( $(now_ms) - STOP_AT ))
	: >"$TMP/worker.pid"
}
explain() {
	echo "# exit $RC after $TOOK ms"
	sed 's/^/# worker: /' "$TMP/$1.err" | tail -n 25
}

SLEEP60='[["/bin/sh", "-c", "echo started; sleep 60"]]'
SLEEP3='[["/bin/sh", "-c", "echo started; sleep 3; echo done"]]'

# SIGTERM mid-task: the task is aborted, resolved worker-shutdown, 72.
config sigterm
start_worker sigterm
T=$(new_id)
create_task "$T" "$SLEEP60"
wait_for "$TMP/sigterm.err" "task $T started"
STOP_AT=$(now_ms)
kill -TERM "$WPID"
end_worker
check "SIGTERM mid-task: exit 72" [ "$RC" -eq 72 ] || explain sigterm
state=$(run_state "$T")
check "SIGTERM mid-task: the task is resolved exception/worker-shutdown (got $state)" \
    [ "$state" = "exception/worker-shutdown" ]
check "SIGTERM mid-task: its log was uploaded before the resolution" \
    grep -q "task $T resolved: exception/worker-shutdown" "$TMP/sigterm.err"

# SIGINT mid-task: the task finishes and is resolved as it ends, 71.
config sigint
start_worker sigint
T=$(new_id)
create_task "$T" "$SLEEP3"
wait_for "$TMP/sigint.err" "task $T started"
STOP_AT=$(now_ms)
kill -INT "$WPID"
end_worker
check "SIGINT mid-task: exit 71" [ "$RC" -eq 71 ] || explain sigint
state=$(run_state "$T")
check "SIGINT mid-task: the task runs to its end, completed (got $state)" \
    [ "$state" = "completed/completed" ]

# SIGINT, then SIGTERM: the second turns finishing into aborting.
config sigint2
start_worker sigint2
T=$(new_id)
create_task "$T" "$SLEEP60"
wait_for "$TMP/sigint2.err" "task $T started"
STOP_AT=$(now_ms)
kill -INT "$WPID"
wait_for "$TMP/sigint2.err" "runs to its end" 10
kill -TERM "$WPID"
end_worker
state=$(run_state "$T")
[ "$RC" -eq 72 ] && [ "$state" = "exception/worker-shutdown" ]
rc=$?; [ "$rc" -eq 0 ] || explain sigint2
checked "SIGINT then SIGTERM mid-task: exit 72, worker-shutdown (got $state)" "$rc"

# Idle: both exit at once, between claims or as the claim in flight
# returns (tc-fake holds it 3 s, the Queue 20 s at most).
for sig in TERM INT; do
	config "idle$sig"
	start_worker "idle$sig"
	wait_for "$TMP/idle$sig.err" "tasks resolved so far"
	sleep 1
	STOP_AT=$(now_ms)
	kill -$sig "$WPID"
	end_worker
	want=$([ $sig = TERM ] && echo 72 || echo 71)
	[ "$RC" -eq "$want" ] && [ "$TOOK" -lt 5000 ]
	rc=$?; [ "$rc" -eq 0 ] || explain "idle$sig"
	checked "SIG$sig while idle: exit $want within the claim's long poll ($TOOK ms)" "$rc"
done

# A claim in flight when SIGTERM comes that returns a task: the task is
# resolved worker-shutdown at once, not left to expire.
config inflight
start_worker inflight --verbose
wait_for "$TMP/inflight.err" "claimWork as client"
STOP_AT=$(now_ms)
kill -TERM "$WPID"
T=$(new_id)
create_task "$T" "$SLEEP60"
end_worker
state=$(run_state "$T")
[ "$RC" -eq 72 ] && [ "$state" = "exception/worker-shutdown" ]
rc=$?; [ "$rc" -eq 0 ] || explain inflight
checked "a task claimed after SIGTERM is resolved exception/worker-shutdown at once (got $state, exit $RC)" "$rc"
[ ! -s "$TMP/sigterm.out" ] && [ ! -s "$TMP/inflight.out" ]
checked "TestProtocolNull: without worker-runner nothing is written to stdout" $?

# --- with worker-runner ---

# start_runner NAME [RUNNER OPTION...]: the worker under fake_runner.js,
# its stdin from fd 7 (say LINE), record $TMP/NAME.rec.
start_runner() {
	local name=$1; shift
	rm -f "$TMP/$name.fifo"
	mkfifo "$TMP/$name.fifo"
	: >"$TMP/$name.rec"
	node "$RUNNER" --record "$TMP/$name.rec" --pid "$TMP/worker.pid" "$@" -- \
	    "$SEPWORKER" run --config "$CFGDIR/$name.json" --with-worker-runner \
	    ${WORKER_ARGS:-} <"$TMP/$name.fifo" 2>"$TMP/$name.err" &
	RUNNER_PID=$!
	WPID=$RUNNER_PID
	exec 7>"$TMP/$name.fifo"
}
say() { printf '%s\n' "$1" >&7; }
hangup() { exec 7>&-; }
end_runner() {
	hangup
	end_worker
	RUNNER_PID=
}
# records NAME: only valid protocol lines were written.
all_valid() { ! grep -q '"valid":false' "$TMP/$1.rec"; }
# msg_count NAME TYPE
msg_count() { grep -c "\"msg\":{[^}]*\"type\":\"$2\"" "$TMP/$1.rec"; }
explain_rec() {
	echo "# exit $RC after $TOOK ms"
	sed 's/^/# rec: /' "$TMP/$1.rec" | tail -n 25
	sed 's/^/# stderr: /' "$TMP/$1.err" | tail -n 10
}

# TestProtocolStdio: hello with every capability, sorted; everything
# logged comes as log messages; lines that are not messages are ignored
# unlogged; stdin closing means the runner is gone: exit 72.
config stdio
start_runner stdio
wait_for "$TMP/stdio.rec" "tasks resolved so far"
first=$(head -n 1 "$TMP/stdio.rec")
check "TestProtocolStdio: the worker answers welcome with hello, capabilities sorted" \
    [ "$first" = '{"line":"~{\"capabilities\":[\"error-report\",\"graceful-termination\",\"log\",\"new-credentials\",\"shutdown\"],\"type\":\"hello\"}","valid":true,"msg":{"capabilities":["error-report","graceful-termination","log","new-credentials","shutdown"],"type":"hello"}}' ]
say "not a message SECRET-ONE"
say "~{\"type\": \"new-credentials\", \"client-id\": \"x\", \"access-token\": \"SECRET-TWO\""
say '~{"type":"something-new","x":1}'
say "$(head -c 40000 /dev/zero | tr '\0' 'S')SECRET-THREE"
say '~{"type":"graceful-termination","finish-tasks":"no"}'
wait_for "$TMP/stdio.rec" "without a boolean finish-tasks"
[ "$(grep -c 'that is not a protocol message' "$TMP/stdio.rec")" -eq 2 ] &&
    grep -q "longer than" "$TMP/stdio.rec" &&
    grep -q "a something-new message, which sepworker does not take" "$TMP/stdio.rec"
checked "lines that are not protocol messages are logged by their length only" $?
check "no part of a line that is not a message reaches a log" \
    none_holds SECRET "$TMP/stdio.rec" "$TMP/stdio.err"
check "with the log capability, nothing is logged to stderr" \
    [ ! -s "$TMP/stdio.err" ]
# A string from outside (a client-id with a quote and a backslash) in a
# log line: still one valid log message, the text intact.
say '~{"type":"new-credentials","client-id":"we\"ird\\id","access-token":"SECRET-FOUR"}'
wait_for "$TMP/stdio.rec" "holding the worker's new credentials"
node -e '
    const recs = require("fs").readFileSync(process.argv[1], "utf8").trim()
	.split("\n").map(l => JSON.parse(l));
    process.exit(recs.some(r => r.valid && r.msg.type === "log" &&
	r.msg.body.textPayload.includes("client we\"ird\\\\id")) ? 0 : 1);' \
    "$TMP/stdio.rec"
check "a log line holding a quote and a backslash is one valid log message (the backslash escaped by the logger)" \
    [ $? -eq 0 ]
check "the access-token of new credentials reaches no log" \
    none_holds SECRET-FOUR "$TMP/stdio.rec" "$TMP/stdio.err"
STOP_AT=$(now_ms)
end_runner
[ "$RC" -eq 72 ] &&
    grep -q "closed the worker's stdin" "$TMP/stdio.rec"
rc=$?; [ "$rc" -eq 0 ] || explain_rec stdio
checked "worker-runner closing stdin: exit 72 ($TOOK ms)" "$rc"
check "TestProtocolStdio: stdout holds only protocol messages" all_valid stdio

# Without the log capability: log lines go to stderr, stdout has hello.
config nolog
start_runner nolog --caps graceful-termination
wait_for "$TMP/nolog.err" "tasks resolved so far"
say '~{"type":"graceful-termination","finish-tasks":false}'
STOP_AT=$(now_ms)
end_worker
hangup
RUNNER_PID=
[ "$RC" -eq 72 ] && [ "$(wc -l <"$TMP/nolog.rec")" -eq 1 ] &&
    [ "$(msg_count nolog hello)" -eq 1 ]
rc=$?; [ "$rc" -eq 0 ] || explain_rec nolog
checked "without the log capability: logs on stderr, stdout only the hello, exit 72" "$rc"

# TestGracefulTermination (finish-tasks false): the running task is
# aborted, resolved worker-shutdown, exit 72.
config gtfalse
start_runner gtfalse
T=$(new_id)
create_task "$T" "$SLEEP60"
wait_for "$TMP/gtfalse.rec" "task $T started"
STOP_AT=$(now_ms)
say '~{"type":"graceful-termination","finish-tasks":false}'
end_runner
state=$(run_state "$T")
[ "$RC" -eq 72 ] && [ "$state" = "exception/worker-shutdown" ]
rc=$?; [ "$rc" -eq 0 ] || explain_rec gtfalse
checked "TestGracefulTermination: finish-tasks false aborts the task: worker-shutdown, exit 72 (got $state)" "$rc"

# finish-tasks true: the task runs to its end, then exit 72.
config gttrue
start_runner gttrue
T=$(new_id)
create_task "$T" "$SLEEP3"
wait_for "$TMP/gttrue.rec" "task $T started"
STOP_AT=$(now_ms)
say '~{"type":"graceful-termination","finish-tasks":true}'
wait_for "$TMP/gttrue.rec" "task $T resolved" 30
end_runner
state=$(run_state "$T")
[ "$RC" -eq 72 ] && [ "$state" = "completed/completed" ]
rc=$?; [ "$rc" -eq 0 ] || explain_rec gttrue
checked "graceful-termination finish-tasks true: the task completes, then exit 72 (got $state)" "$rc"

# TestNewCredentials, without and with a certificate: the next claimWork
# is made with them, the old ones never after.  The first task prints
# protocol lines on stdout and stderr: nothing changes.
TEMP=$(node --input-type=module -e "
    import tc from '$TCLIENT/src/index.js';
    const c = tc.createTemporaryCredentials({ start: new Date(Date.now() - 60000),
	expiry: new Date(Date.now() + 3600000), scopes: [$SCOPES],
	credentials: { clientId: 'worker-c', accessToken: '$TOKEN_C' } });
    console.log(JSON.stringify({ type: 'new-credentials', 'client-id': c.clientId,
	'access-token': c.accessToken, certificate: c.certificate }));")
config creds 'numberOfTasksToRun=2'
curl -s -X DELETE "$FAKE_URL/_fake/calls" >/dev/null
WORKER_ARGS=--verbose start_runner creds
wait_for "$TMP/creds.rec" "claimWork as client $CLIENT_A"
say "~{\"type\":\"new-credentials\",\"client-id\":\"worker-b\",\"access-token\":\"$TOKEN_B\"}"
wait_for "$TMP/creds.rec" "holding the worker's new credentials: client worker-b"
wait_for "$TMP/creds.rec" "claimWork as client worker-b"
T1=$(new_id)
PRINTS=$(cat <<'EOF'
[["/bin/sh", "-c", "echo '~{\"type\":\"shutdown\"}'; echo '~{\"type\":\"graceful-termination\",\"finish-tasks\":false}' >&2"]]
EOF
)
create_task "$T1" "$PRINTS"
wait_for "$TMP/creds.rec" "task $T1 resolved" 30
say "~$TEMP"
wait_for "$TMP/creds.rec" "holding the worker's new credentials: client worker-c (temporary)"
wait_for "$TMP/creds.rec" "claimWork as client worker-c"
T2=$(new_id)
create_task "$T2" '[["/bin/true"]]'
STOP_AT=$(now_ms)
wait "$RUNNER_PID"
RC=$?
hangup
RUNNER_PID=
check "numberOfTasksToRun reached and worker-manager does not say terminate: exit 0" \
    [ "$RC" -eq 0 ] || explain_rec creds
s1=$(run_state "$T1")
s2=$(run_state "$T2")
[ "$s1" = "completed/completed" ] && [ "$s2" = "completed/completed" ]
checked "a task printing shutdown and graceful-termination lines completes, and so does the next ($s1, $s2)" $?
[ "$(msg_count creds shutdown)" -eq 0 ] && all_valid creds
checked "a task's protocol lines reach no one: no shutdown message, stdout only protocol messages" $?
curl -s "$FAKE_URL/_fake/calls" >"$TMP/creds.calls"
node -e '
    const ids = JSON.parse(require("fs").readFileSync(process.argv[1]))
	.calls.filter(c => c.api === "queue.claimWork").map(c => c.clientId);
    console.log(ids.map(i => i === process.argv[2] ? "A" :
	i === "worker-b" ? "B" : i === "worker-c" ? "C" : "?").join(""));
    ' "$TMP/creds.calls" "$CLIENT_A" >"$TMP/creds.seq"
seq=$(cat "$TMP/creds.seq")
check "TestNewCredentials: claimWork as A, then B (no certificate), then C (certificate), never back ($seq)" \
    matches "$seq" '^A+B+C+$' ||
    node -e 'for (const c of JSON.parse(require("fs").readFileSync(process.argv[1])).calls)
	console.log("# call", c.seq, c.api, c.clientId, c.status)' "$TMP/creds.calls"
check "the new credentials' secrets reach no log" \
    none_holds_fixed -e "$TOKEN_B" -e "$(node -e 'console.log(JSON.parse(process.argv[1])["access-token"])' "$TEMP")" \
    "$TMP/creds.rec" "$TMP/creds.err"

# should-terminate says terminate: exit 70, shutdown sent.
curl -s -X PUT -H 'Content-Type: application/json' \
    -d '{"terminateAfterCalls": 1}' "$FAKE_URL/_fake/worker-manager" >/dev/null
config wmterm
start_runner wmterm
STOP_AT=$(now_ms)
wait "$RUNNER_PID"
RC=$?
hangup
RUNNER_PID=
[ "$RC" -eq 70 ] && [ "$(msg_count wmterm shutdown)" -eq 1 ]
rc=$?; [ "$rc" -eq 0 ] || explain_rec wmterm
checked "worker-manager says terminate: exit 70 and a shutdown message" "$rc"

# TestIdleTimeoutChecksWorkerManager: idle past idleTimeoutSecs, the
# worker asks worker-manager; "no" restarts the idle clock, "yes" is 68.
# Calls: 1 and 2 before the claims of the first 4 s, 3 at the top of the
# loop and 4 for the first idle timeout (no), 5 and 6 likewise (yes).
curl -s -X PUT -H 'Content-Type: application/json' \
    -d '{"terminateAfterCalls": 6}' "$FAKE_URL/_fake/worker-manager" >/dev/null
config idlewm 'idleTimeoutSecs=4'
start_runner idlewm
STOP_AT=$(now_ms)
wait "$RUNNER_PID"
RC=$?
hangup
RUNNER_PID=
calls=$(curl -s "$FAKE_URL/_fake/worker-manager" | node -e 'let s = "";
    process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).calls))')
[ "$RC" -eq 68 ] && [ "$calls" -eq 6 ] &&
    grep -q "does not say terminate: carrying on" "$TMP/idlewm.rec"
rc=$?; [ "$rc" -eq 0 ] || explain_rec idlewm
checked "TestIdleTimeoutChecksWorkerManager: idle timeout with worker-manager saying no carries on, then 68 ($calls calls)" "$rc"
check "exit 68 without shutdownMachineOnIdle sends no shutdown" \
    [ "$(msg_count idlewm shutdown)" -eq 0 ]
curl -s -X PUT -H 'Content-Type: application/json' \
    -d '{"terminateAfterCalls": 0}' "$FAKE_URL/_fake/worker-manager" >/dev/null

# error-report before an error exit: an invalid config (73).
config badcfg 'workerId=null'
start_runner badcfg
wait "$RUNNER_PID"
RC=$?
hangup
RUNNER_PID=
node -e '
    const fs = require("fs");
    const m = fs.readFileSync(process.argv[1], "utf8").trim().split("\n")
	.map(l => JSON.parse(l)).filter(r => r.valid && r.msg.type === "error-report");
    const e = m.length === 1 ? m[0].msg : {};
    const ok = typeof e.description === "string" && /workerId/.test(e.description) &&
	/exit code: 73/.test(e.description) && typeof e.extra === "object" &&
	Object.values(e.extra).every(v => typeof v === "string") &&
	e.kind === "worker-error" && typeof e.title === "string";
    process.exit(ok ? 0 : 1);' "$TMP/badcfg.rec"
[ $? -eq 0 ] && [ "$RC" -eq 73 ]
rc=$?; [ "$rc" -eq 0 ] || explain_rec badcfg
checked "an invalid config: exit 73 and one error-report with description, extra, kind, title" "$rc"
