# chain-of-trust-additional-data.json (generic-worker's
# TestChainOfTrustAdditionalData, chain_of_trust_feature.go): merged into
# the signed document with the worker's values winning, read as the task
# user through no link, and never allowed to add artifact hashes.  Every
# document is parsed by Node and its signature checked by Node's crypto.
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	skip "chain-of-trust additional data" "root (each task gets a fresh uid)"
	exit 0
fi

KEYS=$(mktemp -d /var/lib/sepworker-test-keys.XXXXXX)
SECRET=$KEYS/root-only.json
trap 'rm -rf "$KEYS"; cleanup_all' EXIT
KEY=$KEYS/worker.key
PUB=$("$SEPWORKER" new-ed25519-keypair --file "$KEY")
printf '{"stolen": "root-only"}' >"$SECRET"
chmod 600 "$SECRET"
CONFIG=$KEYS/cot.json
mkconfig "$CONFIG" "ed25519SigningKeyLocation=\"$KEY\"" 'workerGroup="cot-group"' \
    'workerId="cot-worker"' 'privateIP="10.1.2.3"' 'instanceId="i-1"' \
    'instanceType="n2"' 'region="us-east1"'

why=()
t() {
	why=()
	if "$2"; then ok "$1"; else not_ok "$1" "${why[@]}"; fi
}

# cot_task NAME SCRIPT: run a chain-of-trust task whose one command is
# SCRIPT (sh -c), in the task directory.
cot_task() {
	run_task "$1" --config "$CONFIG" <<<"$(node -e '
	    console.log(JSON.stringify({payload: {command: [["/bin/sh", "-c",
		process.argv[1]]], maxRunTime: 30,
		features: {chainOfTrust: true}}}))' "$2")"
}

# doc_check OUT JS: the signature verifies by Node's crypto over exactly
# the document's bytes, the document parses, and JS (an expression over
# doc, prints what is wrong) says nothing.
doc_check() {
	local out
	out=$(node -e '
	    const c = require("crypto"), fs = require("fs");
	    const [dir, pub, js] = process.argv.slice(1);
	    const bytes = fs.readFileSync(dir + "/public/chain-of-trust.json");
	    const key = c.createPublicKey({key: Buffer.concat([
		Buffer.from("302a300506032b6570032100", "hex"),
		Buffer.from(pub, "base64")]), format: "der", type: "spki"});
	    if (!c.verify(null, bytes, key,
		fs.readFileSync(dir + "/public/chain-of-trust.json.sig")))
		{ console.log("signature does not verify"); process.exit(1); }
	    const doc = JSON.parse(bytes);
	    const bad = eval(js);
	    if (bad) { console.log(bad); process.exit(1); }' "$1" "$PUB" "$2" 2>&1) ||
	    { why+=("document: $out" "$(head -c 3000 "$1/public/chain-of-trust.json")"); return 1; }
}

show() {
	why+=("exit $RC; result: $(jget "$OUT/result.json" .state 2>&1)/$(jget "$OUT/result.json" .reasonResolved 2>&1)")
	[ -f "$LOG" ] && why+=("log:" "$(tail -n 15 "$LOG")")
	why+=("stderr: $(grep -v ' info: ' "$TMP/$1.stderr" | tail -n 8)")
}

# verify-cot accepts the document with its additions.
verify_cot() {
	local out
	out=$("$SEPWORKER" verify-cot "$OUT" --public-key "$PUB" 2>&1) ||
	    { why+=("verify-cot: exit $?: $out"); return 1; }
}

# The document without additional data: what the worker alone writes.
WORKER_KEYS='["chainOfTrustVersion","artifacts","task","taskId","runId","workerGroup","workerId","environment"]'
WORKER_ENV='{"privateIpAddress":"10.1.2.3","instanceId":"i-1","instanceType":"n2","region":"us-east1"}'
PLAIN="JSON.stringify(Object.keys(doc)) !== '$WORKER_KEYS' ? 'keys ' + Object.keys(doc) :
    JSON.stringify(doc.environment) !== '$WORKER_ENV' ? 'environment ' + JSON.stringify(doc.environment) :
    JSON.stringify(Object.keys(doc.artifacts)) !== '[\"public/logs/certified.log\"]' ? 'artifacts ' + Object.keys(doc.artifacts) : ''"

cot_task gw 'printf %s '\''{"foo": "bar1", "task": {"foo": "bar2", "schedulerId": "fake", "provisionerId": "fake", "payload": {"maxRunTime": 1, "extra": {"deep": true}}}}'\'' > chain-of-trust-additional-data.json'
test_gw() {
	show gw
	expect_task gw completed completed 0 >/dev/null &&
	    doc_check "$OUT" "doc.foo !== 'bar1' ? 'foo ' + doc.foo :
		doc.task.foo !== 'bar2' ? 'task.foo ' + doc.task.foo :
		doc.task.schedulerId !== '-' ? 'schedulerId ' + doc.task.schedulerId :
		doc.task.provisionerId === 'fake' ? 'provisionerId overridden' :
		doc.task.payload.maxRunTime !== 30 ? 'maxRunTime ' + doc.task.payload.maxRunTime :
		!doc.task.payload.extra || doc.task.payload.extra.deep !== true ? 'payload.extra not added' :
		JSON.stringify(doc.environment) !== '$WORKER_ENV' ? 'environment ' + JSON.stringify(doc.environment) :
		doc.taskId !== require('$OUT/result.json').taskId ? 'taskId' : ''" &&
	    grep -qF "chain-of-trust-additional-data.json merged into the document" "$LOG" &&
	    verify_cot
}
t "TestChainOfTrustAdditionalData: foo and task.foo added (and task.payload.extra, at depth), the worker's schedulerId, provisionerId and maxRunTime win; signature verifies (Node, verify-cot)" test_gw

# failed_with NAME TEXT: the task failed for its file, said so in its log
# (TEXT), and the document went out without the additional data.
failed_with() {
	show "$1"
	expect_task "$1" failed failed 1 >/dev/null &&
	    grep -qF "Chain of trust: $2" "$LOG" && doc_check "$OUT" "$PLAIN"
}

cot_task link "ln -s $SECRET chain-of-trust-additional-data.json"
test_link() {
	failed_with link "chain-of-trust-additional-data.json is a symbolic link, which is never followed" &&
	    ! grep -rqF stolen "$OUT"
}
t "TestChainOfTrustAdditionalData: a link to a root-only file is not followed: task failed, the log says why, the document has none of it" test_link

cot_task badjson "printf '{\"a\": 1,}' > chain-of-trust-additional-data.json"
test_badjson() {
	failed_with badjson "chain-of-trust-additional-data.json is not used: byte 8: unexpected '}', expected a string key"
}
t "TestChainOfTrustAdditionalData: invalid JSON: task failed, the log names the byte offset" test_badjson

cot_task array "echo '[{\"foo\": 1}]' > chain-of-trust-additional-data.json"
test_array() {
	failed_with array "chain-of-trust-additional-data.json is not used: it is array, not a JSON object"
}
t "TestChainOfTrustAdditionalData: an array: task failed, the log says it is not an object" test_array

cot_task dup "echo '{\"foo\": 1, \"foo\": 2}' > chain-of-trust-additional-data.json"
test_dup() {
	failed_with dup "chain-of-trust-additional-data.json is not used: byte 11: duplicate key \"foo\""
}
t "TestChainOfTrustAdditionalData: a duplicate key: task failed, named with its offset" test_dup

cot_task big "head -c 1048577 /dev/zero | tr -c a ' ' > chain-of-trust-additional-data.json"
test_big() {
	failed_with big "chain-of-trust-additional-data.json is not used: it is larger than 1048576 bytes"
}
t "TestChainOfTrustAdditionalData: more than 1 MiB: task failed, the log says so" test_big

cot_task edge "{ printf '{\"pad\": \"'; head -c 1048565 /dev/zero | tr -c a x; printf '\"}'; } > chain-of-trust-additional-data.json; wc -c < chain-of-trust-additional-data.json"
test_edge() {
	show edge
	expect_task edge completed completed 0 >/dev/null && grep -q '^1048576$' "$LOG" &&
	    doc_check "$OUT" "doc.pad.length !== 1048565 ? 'pad ' + doc.pad.length : ''"
}
t "TestChainOfTrustAdditionalData: exactly 1 MiB is merged" test_edge

# Under 1 MiB, but 500,000 numbers 60 arrays deep: indented once merged,
# more than the document may hold.  The task fails; the worker is fine.
cot_task deep "{ printf '{\\042a\\042: '; printf '[%.0s' \$(seq 60); yes 1, | head -n 500000 | tr -d '\\n'; printf 1; printf ']%.0s' \$(seq 60); printf '}'; } > chain-of-trust-additional-data.json; wc -c < chain-of-trust-additional-data.json"
test_deep() {
	failed_with deep "chain-of-trust-additional-data.json is not used: merged into the document it would take"
}
t "TestChainOfTrustAdditionalData: small but deep, too big once indented: task failed, the log says so" test_deep

cot_task fifo "mkfifo chain-of-trust-additional-data.json"
test_fifo() {
	failed_with fifo "chain-of-trust-additional-data.json is a FIFO, not a regular file"
}
t "TestChainOfTrustAdditionalData: a FIFO is not read (no hang): task failed" test_fifo

cot_task inject 'echo X > x.txt; printf %s '\''{"artifacts": {"public/evil.bin": {"sha256": "00"}}, "environment": {"region": "evil", "publicIpAddress": "6.6.6.6", "imageHash": "sha256:abc"}, "workerId": "evil", "chainOfTrustVersion": 2, "extra": [1, {"a": null}]}'\'' > chain-of-trust-additional-data.json'
test_inject() {
	show inject
	expect_task inject completed completed 0 >/dev/null &&
	    doc_check "$OUT" "JSON.stringify(Object.keys(doc.artifacts)) !== '[\"public/logs/certified.log\"]' ? 'artifacts ' + Object.keys(doc.artifacts) :
		JSON.stringify(doc.environment) !== JSON.stringify(Object.assign($WORKER_ENV, {imageHash: 'sha256:abc'})) ? 'environment ' + JSON.stringify(doc.environment) :
		doc.workerId !== 'cot-worker' || doc.chainOfTrustVersion !== 1 ? 'worker fields overridden' :
		JSON.stringify(doc.extra) !== '[1,{\"a\":null}]' ? 'extra ' + JSON.stringify(doc.extra) : ''" &&
	    grep -qF 'its "artifacts" is ignored' "$LOG" && verify_cot
}
t "TestChainOfTrustAdditionalData: artifacts injection dropped (log says so); environment.region and publicIpAddress not overridden, environment.imageHash added; workerId, version the worker's" test_inject

cot_task none 'echo no additional data'
test_none() {
	show none
	expect_task none completed completed 0 >/dev/null && doc_check "$OUT" "$PLAIN" &&
	    ! grep -qF "Chain of trust:" "$LOG"
}
t "TestChainOfTrustAdditionalData: no file: the worker's document alone, nothing in the log" test_none
