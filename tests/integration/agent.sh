#!/bin/bash
# The task proxy as the task's agent (worker mode, --agent): against
# tc-fake's Queue, object service and S3 store, with real task
# credentials from a claim.  Each case claims a fresh task, starts the
# task proxy through tests/helpers/taskproxy and feeds it commands.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
TASK_UID=64504

if ! have_tc_fake; then
	skip "agent suite" "node and tests/tc-fake/node_modules (run scripts/install-deps)"
	exit 0
fi
if ! is_root; then
	skip "agent suite" "root (the task proxy runs as its own uid)"
	exit 0
fi
if [ ! -x "$HELPERS/taskproxy" ] || [ ! -x "$BUILD/proxyd" ]; then
	not_ok "agent suite" "no $HELPERS/taskproxy or $BUILD/proxyd: run make all build-tests"
	exit 1
fi
cat >"$TMP/clients.json" <<'JSON'
{"agent-worker": {"accessToken": "agent-worker-token", "scopes": [
  "queue:claim-work:agent-prov/agent-type", "queue:worker-id:agent-group/*"]}}
JSON
if ! start_tc_fake "$TMP/clients.json" --claim-wait-ms 1000; then
	not_ok "tc-fake starts" "stderr: $(cat "$TMP/tc-fake.err")"
	exit 1
fi
SPOOL=$TMP/spool
mkdir "$SPOOL"
chown "$TASK_UID:$TASK_UID" "$SPOOL"
chmod 700 "$SPOOL"
EXPIRES=$(( ($(date +%s) + 7 * 86400) * 1000 ))
EXPIRES_ISO=$(node -e "console.log(new Date($EXPIRES).toISOString())")

# claim: a fresh task claimed; sets TASK and $TMP/creds.json.
claim() {
	local out
	out=$(node "$HERE/agent_claim.js" "$FAKE_URL" "$TMP/creds.json") || return 1
	TASK=${out% *}
}
# agent NAME [HELPER OPTION...] < COMMANDS: the task proxy of TASK, fed
# COMMANDS; sets RC and OUT ($TMP/NAME.out, its answers).
agent() {
	local name=$1; shift
	OUT=$TMP/$name.out
	TASK_ID=$TASK timeout 300 "$HELPERS/taskproxy" --agent --spool "$SPOOL" "$@" \
	    "$BUILD" "$TASK_UID" "$FAKE_URL" - "$TMP/creds.json" none 20 \
	    >"$OUT" 2>"$TMP/$name.err"
	RC=$?
}
# answer N: the answer to the Nth request (ids from 10) of the last run.
answer() { sed -n "s/^answer $(( $1 + 9 )) //p" "$OUT"; }
fake() { curl -sf "$FAKE_URL/_fake/$1" "${@:2}"; }
# calls API TASK: the recorded calls to one API for TASK, one JSON line
# each (an injected fault has no API: s3.put is any PUT to /s3/).
calls() {
	fake calls | node -e '
	    const [api, task] = process.argv.slice(1);
	    const c = JSON.parse(require("fs").readFileSync(0)).calls;
	    for (const x of c)
	        if ((x.api === api || api === "s3.put" && x.method === "PUT" &&
	            x.target.startsWith("/s3/")) && x.target.includes(task))
	            console.log(JSON.stringify(x));' "$1" "$2"
}
sha() { "${2:-sha256}sum" "$1" | cut -d' ' -f1; }
dump() { sed 's/^/# out: /' "$OUT"; tail -n 15 "$TMP/$1.err" | sed 's/^/# err: /'; }
# same NAME GOT WANTED
same() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:    $2" "wanted: $3"; fi
}

# --- s3, identity and gzip ---

head -c 3000000 /dev/urandom >"$TMP/rand.bin"
seq 1 200000 >"$TMP/count.txt"
claim || { not_ok "claim a task" "$(cat "$TMP"/*.err 2>/dev/null | tail -5)"; exit 1; }
agent s3 <<EOF
agent
upload $TMP/rand.bin public/rand.bin application/octet-stream identity s3 $EXPIRES
upload $TMP/count.txt public/logs/count.txt text/plain gzip s3 $EXPIRES
EOF
same "AGENT is answered OK" "$(answer 1)" "ok"
same "identity upload: bytes and sha256 of the file" "$(answer 2)" \
    "uploaded 3000000 $(sha "$TMP/rand.bin")"
same "gzip upload: bytes and sha256 of the raw file" "$(answer 3)" \
    "uploaded $(stat -c %s "$TMP/count.txt") $(sha "$TMP/count.txt")"
fake "artifact/$TASK/0/public/rand.bin" >"$TMP/got.bin"
check "identity: the store holds the file's bytes" cmp -s "$TMP/got.bin" "$TMP/rand.bin"
fake "artifact/$TASK/0/public/logs/count.txt" >"$TMP/got.gz"
check "gzip: the stored bytes gunzip to the file" \
    bash -c "gunzip -c '$TMP/got.gz' | cmp -s - '$TMP/count.txt'"
same "gzip: header as Go's (FNAME = base name, mtime 0, OS unknown)" \
    "$(node -e 'const b = require("fs").readFileSync(process.argv[1]);
	const end = b.indexOf(0, 10);
	console.log(b[3], b.readUInt32LE(4), b[9], b.subarray(10, end).toString("latin1"))' "$TMP/got.gz")" \
    "8 0 255 count.txt"
same "s3 PUT headers: Content-Type from the Queue, Content-Encoding, Content-Length sent" \
    "$(calls s3.put "$TASK" | node -e '
	for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
	    const h = JSON.parse(l).headers;
	    console.log(h["content-type"], h["content-encoding"], h["content-length"]);
	}')" \
    "application/octet-stream identity 3000000
text/plain gzip $(stat -c %s "$TMP/got.gz")"
same "createArtifact s3 bodies, exactly (uncompressed contentLength)" \
    "$(calls queue.createArtifact "$TASK" | node -e '
	for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n"))
	    console.log(JSON.stringify(JSON.parse(l).body));')" \
    "{\"contentLength\":3000000,\"contentType\":\"application/octet-stream\",\"expires\":\"$EXPIRES_ISO\",\"storageType\":\"s3\"}
{\"contentLength\":$(stat -c %s "$TMP/count.txt"),\"contentType\":\"text/plain\",\"expires\":\"$EXPIRES_ISO\",\"storageType\":\"s3\"}"
check "the spool is left empty" test -z "$(ls -A "$SPOOL")"

# --- object: inline and by PUT ---

head -c 5000 /dev/urandom >"$TMP/small.bin"
head -c 2000000 /dev/urandom >"$TMP/large.bin"
claim
agent object <<EOF
agent
upload $TMP/small.bin public/small.bin application/octet-stream gzip object $EXPIRES
upload $TMP/large.bin public/large.bin application/x-large identity object $EXPIRES
EOF
same "object, small: answered" "$(answer 2)" "uploaded 5000 $(sha "$TMP/small.bin")"
same "object, large: answered" "$(answer 3)" "uploaded 2000000 $(sha "$TMP/large.bin")"
fake "artifact/$TASK/0/public/small.bin" >"$TMP/got.small"
fake "artifact/$TASK/0/public/large.bin" >"$TMP/got.large"
check "object, small: stored raw (contentEncoding does not apply)" cmp -s "$TMP/got.small" "$TMP/small.bin"
check "object, large: stored" cmp -s "$TMP/got.large" "$TMP/large.bin"
same "object uploads: dataInline proposed for the small one only, putUrl for both" \
    "$(calls object.createUpload "$TASK" | node -e '
	for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
	    const b = JSON.parse(l).body, m = b.proposedUploadMethods;
	    console.log(Object.keys(b).join(","), Object.keys(m).join(","),
	        m.putUrl.contentLength, m.putUrl.contentType);
	}' | sort)" \
    "expires,projectId,proposedUploadMethods,uploadId dataInline,putUrl 5000 application/octet-stream
expires,projectId,proposedUploadMethods,uploadId putUrl 2000000 application/x-large"
same "finish-upload carries the sha256 and sha512 of the bytes" \
    "$(calls object.finishUpload "$TASK" | node -e '
	for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
	    const x = JSON.parse(l);
	    console.log(x.status, x.body.hashes.sha256, x.body.hashes.sha512);
	}' | sort)" \
    "$(printf '200 %s %s\n200 %s %s\n' "$(sha "$TMP/small.bin")" "$(sha "$TMP/small.bin" sha512)" \
	"$(sha "$TMP/large.bin")" "$(sha "$TMP/large.bin" sha512)" | sort)"
same "finishArtifact for both, with the task's credentials" \
    "$(calls queue.finishArtifact "$TASK" | node -e '
	for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
	    const x = JSON.parse(l);
	    console.log(x.status, x.clientId.replace(/\/.*/, ""));
	}')" "204 task-client
204 task-client"
same "createArtifact object body, exactly" \
    "$(calls queue.createArtifact "$TASK" | head -n 1 | node -e '
	console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(0)).body))')" \
    "{\"contentLength\":5000,\"contentType\":\"application/octet-stream\",\"expires\":\"$EXPIRES_ISO\",\"storageType\":\"object\"}"

# --- error and link artifacts, a conflict ---

claim
agent errlink <<EOF
agent
error $EXPIRES public/missing.txt file-missing-on-worker Could not read file '/x/missing.txt'
link $EXPIRES public/logs/live.log public/logs/count.txt text/plain; charset=utf-8
upload $TMP/count.txt public/c.txt text/plain identity s3 $EXPIRES
upload $TMP/count.txt public/c.txt application/json identity s3 $EXPIRES
upload $TMP public/dir text/plain identity s3 $EXPIRES
EOF
same "error artifact: OK" "$(answer 2)" "ok"
same "link artifact: OK" "$(answer 3)" "ok"
same "error and link createArtifact bodies, exactly" \
    "$(calls queue.createArtifact "$TASK" | head -n 2 | node -e '
	for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n"))
	    console.log(JSON.stringify(JSON.parse(l).body));')" \
    "{\"expires\":\"$EXPIRES_ISO\",\"message\":\"Could not read file '/x/missing.txt'\",\"reason\":\"file-missing-on-worker\",\"storageType\":\"error\"}
{\"artifact\":\"public/logs/count.txt\",\"contentType\":\"text/plain; charset=utf-8\",\"expires\":\"$EXPIRES_ISO\",\"storageType\":\"link\"}"
case $(answer 6) in
"failed 4 "*"not a regular file") ok "a directory's fd: TPF_LOCAL, not a regular file" ;;
*) not_ok "a directory's fd: TPF_LOCAL, not a regular file" "$(answer 6)" ;;
esac
case $(answer 5) in
"failed 1 "*) ok "createArtifact 409 (a different contentType) is TPF_CONFLICT" ;;
*) not_ok "createArtifact 409 (a different contentType) is TPF_CONFLICT" "$(answer 5)"; dump errlink ;;
esac

# --- S3 failures retried ---

claim
fake faults -X POST -H 'Content-Type: application/json' \
    -d '{"path": "^/s3/", "method": "PUT", "status": 500, "count": 2}' >/dev/null
fake faults -X POST -H 'Content-Type: application/json' \
    -d '{"path": "^/s3/", "method": "PUT", "status": 400, "count": 1}' >/dev/null
agent retry <<EOF
agent
upload $TMP/rand.bin public/retried.bin application/octet-stream identity s3 $EXPIRES
EOF
same "S3 500, 500, 400, then success: uploaded" "$(answer 2)" "uploaded 3000000 $(sha "$TMP/rand.bin")"
same "each attempt sent the whole file again" \
    "$(calls s3.put "$TASK" | node -e '
	for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
	    const x = JSON.parse(l);
	    console.log(x.status, x.headers["content-length"]);
	}')" "500 3000000
500 3000000
400 3000000
200 3000000"
fake "artifact/$TASK/0/public/retried.bin" >"$TMP/got.retried"
check "the retried upload stored the file" cmp -s "$TMP/got.retried" "$TMP/rand.bin"
fake faults -X DELETE >/dev/null

# --- resolution ---

for outcome in completed failed "exception malformed-payload"; do
	claim
	agent resolve <<EOF
agent
resolve $outcome
EOF
	st=$(curl -sf "$FAKE_URL/api/queue/v1/task/$TASK/status" | node -e '
	    const r = JSON.parse(require("fs").readFileSync(0)).status.runs[0];
	    console.log(r.state, r.reasonResolved)')
	want=${outcome%% *}
	[ "$want" = "${outcome#* }" ] && reason=$want || reason=${outcome#* }
	same "resolve $outcome: OK, and the run is $want/$reason" "$(answer 2) $st" "ok $want $reason"
done
agent resolve-again <<EOF
agent
resolve completed
EOF
case $(answer 2) in
"failed 3 "*) ok "reportCompleted on a run resolved otherwise: TPF_REFUSED (409)" ;;
*) not_ok "reportCompleted on a run resolved otherwise: TPF_REFUSED (409)" "$(answer 2)" ;;
esac

# --- a reclaim's credentials, taken after AGENT, sign what follows ---

claim
sleep 0.1
node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue reclaimTask "$TASK" 0 |
    node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(0)).credentials))' \
    >"$TMP/creds2.json"
agent reclaim <<EOF
agent
creds $TMP/creds2.json
resolve completed
EOF
client_of() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).clientId)' "$1"; }
same "after a reclaim, reportCompleted is signed with the new credentials" \
    "$(calls queue.reportCompleted "$TASK" | node -e '
	console.log(JSON.parse(require("fs").readFileSync(0)).clientId)') $(answer 2)" \
    "$(client_of "$TMP/creds2.json") ok"
check "(which differ from the claim's)" test "$(client_of "$TMP/creds.json")" != "$(client_of "$TMP/creds2.json")"

# --- memory: a 100 MiB identity upload streams ---

head -c $((100 << 20)) /dev/urandom >"$TMP/big.bin"
claim
agent big <<EOF
agent
upload $TMP/big.bin public/big.bin application/octet-stream identity s3 $EXPIRES
hwm
EOF
same "100 MiB: uploaded" "$(answer 2)" "uploaded $((100 << 20)) $(sha "$TMP/big.bin")"
hwm=$(sed -n 's/^hwm //p' "$OUT")
if [ -n "$hwm" ] && [ "$hwm" -lt $((40 << 10)) ]; then
	ok "100 MiB: the task proxy's peak RSS stays under 40 MiB ($hwm kB)"
else
	not_ok "100 MiB: the task proxy's peak RSS stays under 40 MiB" "VmHWM: $hwm kB"
fi
rm -f "$TMP/big.bin"

# --- the task's side is closed; protocol violations ---

claim
agent closed <<EOF
connect
hold /api/fake/v1/slow/20000
sleep 500
agent
held
connect
EOF
same "the listener takes connections before AGENT and refuses them after" \
    "$(grep '^connect' "$OUT" | tr '\n' ' ')" "connect ok connect refused "
check "a request in flight upstream reached tc-fake" \
    grep -q '/api/fake/v1/slow/20000' "$FAKE_LOG"
held=$(sed -n 's/^held //p' "$OUT")
case $held in
"closed "*) [ "${held#closed }" -lt 3000 ] && ok "AGENT cuts a request in flight ($held ms after it was sent)" ||
	not_ok "AGENT cuts a request in flight" "$held ms" ;;
*) not_ok "AGENT cuts a request in flight" "held: $held"; dump closed ;;
esac
agent early <<EOF
upload $TMP/count.txt public/early.txt text/plain identity s3 $EXPIRES
EOF
same "UPLOAD before AGENT: protocol violation (exit 3)" "$RC" 3
fake faults -X POST -H 'Content-Type: application/json' \
    -d '{"path": "^/s3/", "method": "PUT", "status": 500, "count": 1000}' >/dev/null
{
	echo agent
	for i in $(seq 11); do
		echo "&upload $TMP/count.txt public/many$i.txt text/plain identity s3 $EXPIRES"
	done
	echo wait
} >"$TMP/many.in"
agent many <"$TMP/many.in"
same "an 11th upload at once: protocol violation (exit 3)" "$RC" 3
check "it says so" grep -q "more uploads at once than allowed" "$TMP/many.err"
fake faults -X DELETE >/dev/null

# --- no listener, no scopes ---

claim
agent nolistener --no-listener <<EOF
agent
resolve completed
EOF
same "--no-listener: serves at once without scopes, and resolves" \
    "$(grep "^port" "$OUT") $(answer 1) $(answer 2)" "port none ok ok"

# (a sanitizer build reports in the task proxy's log)
bad=$(grep -l 'Sanitizer\|runtime error' "$TMP"/*.err)
check "nothing from a sanitizer in any task proxy's log" test -z "$bad"

stop_tc_fake
