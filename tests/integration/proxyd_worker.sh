# proxyd in worker mode, sandboxed as the supervisor starts it
# (tests/helpers/proxyd_worker), against tc-fake's Queue: the worker's
# credentials, claimWork's answers (no task after the long poll, a claim,
# a 403, retried 5xx), the claim's task definition and typed summary,
# the claim's credentials fed to a real task proxy and working there,
# and gone from proxyd's memory once fed.
. "$(dirname "$0")/lib.sh"

HELPER=''
pw_cleanup() {
	if [ -n "$HELPER" ]; then
		echo quit >&"${PW[1]}" 2>/dev/null
		wait_gone "$HELPER" 5 || kill -KILL "$HELPER" 2>/dev/null
		wait "$HELPER" 2>/dev/null
		HELPER=''
	fi
	stop_tc_fake
}
trap 'pw_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! have_tc_fake; then
	skip "proxyd in worker mode" "node and tests/tc-fake/node_modules (run scripts/install-deps)"
	exit 0
fi
if ! is_root; then
	skip "proxyd in worker mode" "root (proxyd and the task proxy run as their own uids)"
	exit 0
fi
for h in proxyd_worker qcall memscan; do
	if [ ! -x "$HELPERS/$h" ]; then
		not_ok "proxyd in worker mode" "no $HELPERS/$h: run make all build-tests"
		exit 1
	fi
done

PROXYD_UID=64502 TASKPROXY_UID=64504
ROOT_TOKEN=tc-fake-root-access-token
WORKER_TOKEN=pw-worker-token-$$-$RANDOM
# The Queue holds claimWork this long when there is no task.
CLAIM_WAIT_MS=1500
cat >"$TMP/clients.json" <<JSON
{"pw-worker": {"accessToken": "$WORKER_TOKEN",
  "scopes": ["queue:claim-work:pw-prov/pw-type", "queue:worker-id:pw-group/pw-worker"]},
 "pw-noclaim": {"accessToken": "pw-noclaim-token",
  "scopes": ["queue:worker-id:pw-group/pw-worker"]}}
JSON
echo "{\"clientId\":\"pw-worker\",\"accessToken\":\"$WORKER_TOKEN\"}" >"$TMP/worker.json"
echo '{"clientId":"pw-noclaim","accessToken":"pw-noclaim-token"}' >"$TMP/noclaim.json"
echo "{\"clientId\":\"static/taskcluster/root\",\"accessToken\":\"$ROOT_TOKEN\"}" >"$TMP/root.json"
start_tc_fake "$TMP/clients.json" --claim-wait-ms "$CLAIM_WAIT_MS" ||
    { not_ok "tc-fake starts"; exit 1; }

# start_pw ROOT_URL: proxyd_worker as a coprocess (PW; its pid HELPER).
start_pw() {
	coproc PW { exec "$HELPERS/proxyd_worker" "$BUILD" "$PROXYD_UID" \
	    "$TASKPROXY_UID" "$1" pw-prov pw-type pw-group pw-worker \
	    2>>"$TMP/pw.log"; }
	HELPER=$!
}
# stop_pw: quit it, wait for it; rc is its exit status.
stop_pw() {
	local fd=${PW[0]}
	echo quit >&"${PW[1]}"
	# Its output ends when it exits.
	while IFS= read -r -t 20 ANSWER <&"$fd"; do :; done
	wait "$HELPER"
	rc=$?
	HELPER=''
}
# pw COMMAND: send it, set ANSWER to the first line of the answer.
pw() {
	ANSWER=''
	echo "$1" >&"${PW[1]}" && IFS= read -r -t 200 ANSWER <&"${PW[0]}"
}
pw_pids() {
	pw pid; PROXYD=${ANSWER#pid }
	IFS= read -r -t 5 ANSWER <&"${PW[0]}"; TASKPROXY=${ANSWER#tppid }
}
# hits PID SECRET: how often SECRET is in PID's memory.
hits() { "$HELPERS/memscan" "$1" "$(printf %s "$2" | od -An -v -tx1 | tr -d ' \n')" 2>/dev/null; }
log_tail() { tail -n 15 "$TMP/pw.log" | sed 's/^/log: /'; }

# create_task TASKID [SCOPES_JSON [PAD_BYTES]]: createTask for
# pw-prov/pw-type, with PAD_BYTES more in task.extra.pad.
create_task() {
	node -e '
	    const [scopes, pad] = process.argv.slice(1);
	    const t = (m) => new Date(Date.now() + m * 60000).toISOString();
	    console.log(JSON.stringify({provisionerId: "pw-prov", workerType: "pw-type",
		created: t(0), deadline: t(60), scopes: JSON.parse(scopes),
		payload: {command: [["true"]], maxRunTime: 30},
		extra: {url: "https://example.com/a/b", x: 1.5e3, pad: "x".repeat(Number(pad))},
		metadata: {name: "pw", description: "d", owner: "o@example.com",
		    source: "https://example.com/"}}));' "${2:-[]}" "${3:-0}" >"$TMP/create.json"
	"$HELPERS/qcall" --root-url "$FAKE_URL" --service queue --method PUT \
	    --path "task/$1" --creds "$TMP/root.json" --body-file "$TMP/create.json" \
	    >"$TMP/create.out" 2>&1
}

# --- start, credentials ---

"$HELPERS/proxyd_worker" "$BUILD" "$PROXYD_UID" "$TASKPROXY_UID" "http://user@127.0.0.1:1" \
    pw-prov pw-type pw-group pw-worker </dev/null >/dev/null 2>"$TMP/bad.log"
rc=$?
if [ "$rc" = 2 ] && grep -q "proxyd --worker: --root-url: userinfo is not allowed" "$TMP/bad.log"; then
	ok "a root URL a signer must not guess at: proxyd --worker exits 2, naming it"
else
	not_ok "a bad root URL" "exit $rc" "$(cat "$TMP/bad.log")"
fi

start_pw "$FAKE_URL"
pw_pids
if [ "$(status_field "$PROXYD" Seccomp)/$(status_field "$PROXYD" NoNewPrivs)/$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' "/proc/$PROXYD/status")" = \
    "2/1/$PROXYD_UID$PROXYD_UID$PROXYD_UID$PROXYD_UID" ] &&
    grep -q "sandbox entered: uid dropped, Landlock ABI" "$TMP/pw.log"; then
	ok "worker-mode proxyd runs sandboxed: seccomp filter, no_new_privs, uid $PROXYD_UID, Landlock"
else
	not_ok "worker-mode proxyd runs sandboxed" "pid $PROXYD: $(grep -E 'Seccomp|NoNewPrivs|Uid' "/proc/$PROXYD/status" 2>&1 | tr '\n' ' ')" "$(log_tail)"
fi

pw "claim $TMP/none.json"
check "CLAIM_WORK before WORKER_CREDS: FAILED, no call" \
    [ "$ANSWER" = "failed: proxyd holds no worker credentials" ]

pw "creds $TMP/worker.json"
check "WORKER_CREDS: DONE" [ "$ANSWER" = done ]

# --- no task ---

started=$(now_ms)
pw "claim $TMP/none.json"
took=$(( $(now_ms) - started ))
if [ "$ANSWER" = "no-task: " ] && [ "$took" -ge "$CLAIM_WAIT_MS" ]; then
	ok "no task: NO_TASK \"\" after the Queue's long poll ($took ms)"
else
	not_ok "no task: NO_TASK \"\" after the long poll" "answer \"$ANSWER\" after $took ms" "$(log_tail)"
fi
curl -s "$FAKE_URL/_fake/calls" >"$TMP/calls.json"
if node -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1])).calls
	.filter(c => c.api === "queue.claimWork").pop();
    const ok = c && c.method === "POST" &&
	c.target === "/api/queue/v1/claim-work/pw-prov%2Fpw-type" &&
	c.clientId === "pw-worker" && c.status === 200 &&
	JSON.stringify(c.body) === "{\"tasks\":1,\"workerGroup\":\"pw-group\",\"workerId\":\"pw-worker\"}" &&
	c.headers["content-type"] === "application/json";
    if (!ok) { console.log(JSON.stringify(c)); process.exit(1); }' "$TMP/calls.json" >"$TMP/call.why"; then
	ok "the call: POST claim-work/pw-prov%2Fpw-type as the worker, body {\"tasks\":1,\"workerGroup\",\"workerId\"} in Go's order"
else
	not_ok "the claimWork call as the Queue saw it" "$(cat "$TMP/call.why")"
fi

# --- a claim ---

TASK_ID=fN1SbArXTPSVFNUvaOlinQ
create_task "$TASK_ID" '["auth:current-scopes"]' ||
    not_ok "createTask" "$(cat "$TMP/create.out")"
before=$(now_ms)
pw "claim $TMP/task.json"
read -r word got_id got_run got_until got_group <<<"$ANSWER"
if [ "$word $got_id $got_run $got_group" = "claimed $TASK_ID 0 $TASK_ID" ] &&
    [ "$got_until" -ge $((before + 1190000)) ] && [ "$got_until" -le $(( $(now_ms) + 1200000)) ]; then
	ok "a pending task: CLAIMED with its taskId, runId 0, taskGroupId and takenUntil (now + 1200 s)"
else
	not_ok "a pending task: CLAIMED" "answer \"$ANSWER\"" "$(log_tail)"
fi
"$HELPERS/qcall" --root-url "$FAKE_URL" --service queue --method GET \
    --path "task/$TASK_ID" | sed -n 's/^body //p' >"$TMP/definition.json"
check "the memfd holds the task definition, as the Queue's task endpoint gives it" \
    node -e '
	const fs = require("fs"), assert = require("assert");
	assert.deepStrictEqual(JSON.parse(fs.readFileSync(process.argv[1])),
	    JSON.parse(fs.readFileSync(process.argv[2])));' "$TMP/task.json" "$TMP/definition.json"
check "... and nothing of the claim's credentials" \
    bash -c "! grep -qE 'accessToken|certificate|task-client' '$TMP/task.json'"

pw "claim $TMP/none.json"
check "CLAIM_WORK while the claim's credentials are unfed: FAILED" \
    [ "$ANSWER" = "failed: proxyd still holds the last claim's task credentials: forget them first" ]

# --- the claim's credentials: fed, used, gone ---

pw "feed auth:current-scopes"
fed=$ANSWER PORT=${ANSWER#port }
pw_pids
scopes=$(curl -s -m 10 "http://127.0.0.1:$PORT/api/auth/v1/scopes/current")
caller=$(node -e '
    const l = require("fs").readFileSync(process.argv[1], "utf-8").split("\n")
	.filter(Boolean).map(JSON.parse).filter(l => l.target === "/api/auth/v1/scopes/current").pop();
    console.log(l.clientId, l.status)' "$FAKE_LOG")
case ${caller% *} in "task-client/$TASK_ID/0/on/pw-group/pw-worker/until/"*) ;; *) caller="not $caller";; esac
if [ "${caller#* }" = 200 ] &&
    [ "${caller#* }" = 200 ] && grep -q '"auth:current-scopes"' <<<"$scopes"; then
	ok "FEED_TASKPROXY: the task proxy calls scopes/current as the claim's client ($caller)"
else
	not_ok "the claim's credentials through the task proxy" "feed answered \"$fed\"; tc-fake saw $caller; scopes/current: $scopes" "$(log_tail)"
fi
# The claim's accessToken: HMAC-SHA256(issuer's token, the seed of the
# certificate the task proxy sent).
claim_token=$(node -e '
    const l = require("fs").readFileSync(process.argv[1], "utf-8").split("\n")
	.filter(Boolean).map(JSON.parse).filter(l => l.target === "/api/auth/v1/scopes/current").pop();
    console.log(require("crypto").createHmac("sha256", process.argv[2])
	.update(l.authorization.ext.certificate.seed).digest("base64url"));' "$FAKE_LOG" "$ROOT_TOKEN")
in_tp=$(hits "$TASKPROXY" "$claim_token") in_pd=$(hits "$PROXYD" "$claim_token")
worker_in_pd=$(hits "$PROXYD" "$WORKER_TOKEN")
# proxyd keeps the task's credentials until FORGET_TASK (a task proxy that
# dies is replaced and fed again), then wipes them.
if [ -n "$claim_token" ] && [ "${in_tp:-0}" -ge 1 ] && [ "${in_pd:-0}" -ge 1 ] && [ "${worker_in_pd:-0}" -ge 1 ]; then
	ok "after the feed: the claim's accessToken is in the task proxy and, until FORGET_TASK, in proxyd (which holds the worker's)"
else
	not_ok "the claim's accessToken after the feed" "task proxy $TASKPROXY: ${in_tp:-?}, proxyd $PROXYD: ${in_pd:-?}; the worker's in proxyd: ${worker_in_pd:-?}"
fi
pw forget
f=$ANSWER
in_pd=$(hits "$PROXYD" "$claim_token") in_tp=$(hits "$TASKPROXY" "$claim_token")
[ "$f" = done ] && [ "$in_pd" = 0 ] && [ "${in_tp:-0}" -ge 1 ]
checked "FORGET_TASK after the feed: DONE, the claim's accessToken wiped from proxyd, still in the task proxy ($f, proxyd ${in_pd:-?}, task proxy ${in_tp:-?})" $?

# --- forgetting an unfed claim ---

create_task Vvr2oZ1TTkuSLsERk7eHbQ
pw "claim $TMP/task2.json"
case $ANSWER in "claimed Vvr2oZ1TTkuSLsERk7eHbQ "*) c2=yes;; *) c2="$ANSWER";; esac
pw forget
f=$ANSWER
pw "claim $TMP/none.json"
check "FORGET_TASK: DONE, and the next CLAIM_WORK is made" \
    [ "$c2/$f/$ANSWER" = "yes/done/no-task: " ]

# --- refusals and retries ---

# The Queue takes definitions up to its 10 MiB body limit; the taskrunner
# takes 4 MiB (PAYLOAD_MAX_BYTES), and so does proxyd's check.
create_task aB3dEfGhSaCdefghijklmQ '[]' $((4 * 1024 * 1024)) ||
    not_ok "createTask of a 4 MiB definition" "$(head -c 300 "$TMP/create.out")"
pw "claim $TMP/none.json"
check "a claim whose definition exceeds 4 MiB: NO_TASK naming tasks[0].task" \
    [ "$ANSWER" = "no-task: tasks[0].task takes more than 4194304 bytes" ]
pw "claim $TMP/none.json"
check "... and proxyd holds nothing of it: the next CLAIM_WORK is made" \
    [ "$ANSWER" = "no-task: " ]

curl -s -X POST -d '{"path": "^/api/queue/v1/claim-work/", "status": 503, "count": 2}' \
    "$FAKE_URL/_fake/faults" >/dev/null
create_task KTBKfEgxR5GdfIIRCQIvFQ
pw "claim $TMP/task3.json"
curl -s "$FAKE_URL/_fake/calls" >"$TMP/calls.json"
n503=$(node -e '
    console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).calls
	.filter(c => c.target.startsWith("/api/queue/v1/claim-work/") && c.status === 503).length)' "$TMP/calls.json")
check "two 503s, then the claim: retried (the Go client's rule)" \
    [ "${ANSWER%% *} $n503" = "claimed 2" ]
pw forget

pw "creds $TMP/noclaim.json"
pw "claim $TMP/none.json"
case $ANSWER in
"no-task: HTTP 403: "*"queue:claim-work:pw-prov/pw-type"*) ok "a worker client without the claim scope: NO_TASK naming the 403 and the scope";;
*) not_ok "a worker client without the claim scope" "answer \"$ANSWER\"";;
esac
pw "creds $TMP/worker.json"

# --- name resolution inside the sandbox, and shutting down ---

stop_pw
check "SHUTDOWN: proxyd and the task proxy exit 0" [ "$rc" = 0 ]

start_pw "http://localhost:${FAKE_URL##*:}"
pw "creds $TMP/worker.json"
pw "claim $TMP/none.json"
check "a root URL by name (localhost): resolved and called from inside the sandbox" \
    [ "$ANSWER" = "no-task: " ]
stop_pw
check "... and it exits 0" [ "$rc" = 0 ]
