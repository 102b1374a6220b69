# Queue faults in worker mode: tc-fake answers 500, or drops the
# connection before the request is processed, or after (the call took
# effect, its answer never came), or holds the request 2 s (a slow
# answer), on each endpoint the worker calls in
# turn: claimWork, createArtifact, the S3 PUT, reportCompleted, and with
# createObjectArtifacts the object service's createUpload, the object's
# PUT, finishUpload, and finishArtifact.  Every task ends as it should,
# every artifact is there once with the task's bytes, nothing is created
# after the resolution, and a retried call that had already taken effect
# (reportCompleted answered, then dropped) is taken as done.
. "$(dirname "$0")/lib.sh"

CFGDIR=$(mktemp -d /var/lib/sepworker-test-qfaults.XXXXXX)
faults_cleanup() {
	stop_tc_fake
	rm -rf "$CFGDIR"
}
trap 'faults_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! is_root; then
	skip "queue faults" "root (the worker maps task uids)"
	exit 0
fi
if ! have_tc_fake; then
	skip "queue faults" "node and tests/tc-fake/node_modules (scripts/install-deps)"
	exit 0
fi

PROV=test-provisioner
WTYPE=qfaults
GROUP=test-worker-group
WID=qfaults-worker
worker_client "worker-pool/$PROV/$WTYPE"
# A short claim: a claim whose answer was dropped expires soon.
CLAIM_S=8
if ! start_tc_fake "$TMP/clients.json" --claim-wait-ms 1000 \
    --claim-timeout-s $CLAIM_S; then
	not_ok "tc-fake starts"
	exit 1
fi
KEY=$CFGDIR/worker.key
"$SEPWORKER" new-ed25519-keypair --file "$KEY" >/dev/null 2>&1

J() { node "$(dirname "$0")/queue_faults.js" "$1" --root-url "$FAKE_URL" \
    --queue "$PROV/$WTYPE" "${@:2}"; }
# fault JSON: one more fault.
fault() {
	curl -sf -X POST -d "$1" "$FAKE_URL/_fake/faults" >/dev/null ||
	    echo "# fault refused: $1"
}
# What a fault of kind $1 on path $2 (method $3) is.
spec() {
	local how
	case $1 in
	500) how='"status": 500';;
	slow) how='"delayMs": 2000';;
	*) how="\"drop\": \"$1\"";;
	esac
	echo "{\"path\": \"$2\", \"method\": \"$3\", $how}"
}
unhit() {
	curl -s "$FAKE_URL/_fake/faults" | node -e '
	    const f = JSON.parse(require("fs").readFileSync(0)).faults;
	    console.log(f.filter(x => x.count > 0).map(x => x.path).join(" "))'
}

# work CASE [CONFIG KEY=JSON...]: a worker of its own (its own workDir,
# so its task count starts at 0) that works one task and exits.
work() {
	local c=$1; shift
	mkconfig "$CFGDIR/$c.json" "rootURL=\"$FAKE_URL\"" \
	    "clientId=\"$CLIENT\"" "accessToken=\"$TOKEN\"" \
	    "provisionerId=\"$PROV\"" "workerType=\"$WTYPE\"" \
	    "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
	    "ed25519SigningKeyLocation=\"$KEY\"" "numberOfTasksToRun=1" \
	    "sepworker.workDir=\"$CFGDIR/work-$c\"" \
	    'sepworker.taskUidFirst=72202' 'sepworker.taskUidCount=2' \
	    'sepworker.proxyRetrySeconds=20' "$@"
	chmod 600 "$CFGDIR/$c.json"
	timeout 90 "$SEPWORKER" run --config "$CFGDIR/$c.json" >/dev/null \
	    2>"$TMP/$c.err"
}

# Each endpoint in turn, each kind of fault: the task is there before
# the worker starts, so its first claimWork takes it.
for kind in 500 before after slow; do
	c=s3-$kind
	id=$(J create --case "$c")
	echo "$id" >"$TMP/$c.id"
	fault "$(spec "$kind" "^/api/queue/v1/task/$id/runs/0/artifacts/public%2F$c%2Fa\\\\.txt\$" POST)"
	fault "$(spec "$kind" "^/s3/artifacts/$id/0/public/$c/b\\\\.txt\$" PUT)"
	fault "$(spec "$kind" "^/api/queue/v1/task/$id/runs/0/completed\$" POST)"
	work "$c"
	rc=$?
	check "$c: createArtifact, S3 PUT and reportCompleted faults ($kind): the worker works its task (exit $rc)" \
	    [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || tail -n 20 "$TMP/$c.err" | sed 's/^/# worker: /'
	problems=$(J check --case "$c" --task "$id")
	check "... completed, every artifact there once with the task's bytes, nothing after the resolution" \
	    [ -z "$problems" ]
	[ -z "$problems" ] || echo "$problems" | sed 's/^/# /'
	check "... every fault was hit ($(unhit))" [ -z "$(unhit)" ]

	c=object-$kind
	id=$(J create --case "$c")
	fault "$(spec "$kind" "^/api/object/v1/upload/t%2F$id%2F0%2Fpublic%2F$c%2Fc\\\\.bin\$" PUT)"
	fault "$(spec "$kind" "^/s3/objects/t/$id/0/public/$c/d\\\\.bin\$" PUT)"
	fault "$(spec "$kind" "^/api/object/v1/finish-upload/t%2F$id%2F0%2Fpublic%2F$c%2Fe\\\\.bin\$" POST)"
	fault "$(spec "$kind" "^/api/queue/v1/task/$id/runs/0/artifacts/public%2F$c%2Ff\\\\.bin\$" PUT)"
	work "$c" createObjectArtifacts=true
	rc=$?
	check "$c: createUpload, object PUT, finishUpload and finishArtifact faults ($kind): the worker works its task (exit $rc)" \
	    [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || tail -n 20 "$TMP/$c.err" | sed 's/^/# worker: /'
	problems=$(J check --case "$c" --task "$id")
	check "... completed, every object there once with the task's bytes, nothing after the resolution" \
	    [ -z "$problems" ]
	[ -z "$problems" ] || echo "$problems" | sed 's/^/# /'
	check "... every fault was hit ($(unhit))" [ -z "$(unhit)" ]
	curl -s -X DELETE "$FAKE_URL/_fake/faults" >/dev/null
done

# reportCompleted answered, then dropped: the retry finds the run
# completed already, which the Queue answers 200 (resolveTask's
# idempotency), and the worker takes it as done.
seen=$(curl -s "$FAKE_URL/_fake/calls" | node -e '
    const c = JSON.parse(require("fs").readFileSync(0)).calls;
    console.log(c.filter(x => x.api === "queue.reportCompleted" &&
	x.target.includes(process.argv[1])).map(x =>
	(x.dropped || "") + x.status).join(" "))' "/task/$(cat "$TMP/s3-after.id")/")
check "reportCompleted dropped after taking effect, retried: 200 (calls: $seen)" \
    [ "$seen" = "after200 200" ]
check "... and the worker logs no failure to report" \
    eval '! grep -q "WAS NOT REPORTED" "$TMP/s3-after.err"'

# The same for reportFailed and reportException, answered then dropped.
c=report-failed
id=$(J create --case "$c" --fail 1)
fault "$(spec after "^/api/queue/v1/task/$id/runs/0/failed\$" POST)"
work "$c"
problems=$(J check --case "$c" --task "$id" --state failed)
check "reportFailed dropped after taking effect: retried, the task failed with every artifact there" \
    [ -z "$problems" ]
check "... the fault was hit" [ -z "$(unhit)" ]
[ -z "$problems" ] || echo "$problems" | sed 's/^/# /'
c=report-exception
id=$(J create --case "$c" --malformed 1)
fault "$(spec after "^/api/queue/v1/task/$id/runs/0/exception\$" POST)"
work "$c"
state=$(node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue status "$id" |
    node -e 'const r = JSON.parse(require("fs").readFileSync(0)).status.runs[0];
	console.log(r.state + "/" + r.reasonResolved)')
seen=$(curl -s "$FAKE_URL/_fake/calls" | node -e '
    const c = JSON.parse(require("fs").readFileSync(0)).calls;
    console.log(c.filter(x => x.api === "queue.reportException" &&
	x.target.includes(process.argv[1])).map(x =>
	(x.dropped || "") + x.status).join(" "))' "/task/$id/")
check "reportException dropped after taking effect: retried, 200 (calls: $seen)" \
    [ "$seen" = "after200 200" ]
check "... the task is exception/malformed-payload (got $state)" \
    [ "$state" = exception/malformed-payload ]
check "... and the worker logs no failure to report" \
    eval '! grep -q "WAS NOT REPORTED" "$TMP/$c.err"'

# claimWork: a 500 or a connection dropped before it is processed is
# retried and claims the task; one dropped after claimed it for a worker
# that never heard of it: that run ends claim-expired, as the Queue
# decides, and the worker works the retry.
for kind in 500 before after slow; do
	c=claim-$kind
	id=$(J create --case "$c" --retries 1)
	fault "$(spec "$kind" "^/api/queue/v1/claim-work/" POST)"
	work "$c"
	rc=$?
	check "$c: a claimWork fault ($kind): the worker works the task (exit $rc)" \
	    [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || tail -n 20 "$TMP/$c.err" | sed 's/^/# worker: /'
	if [ "$kind" = after ]; then
		run=1
		state=$(node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue status "$id" |
		    node -e 'const r = JSON.parse(require("fs").readFileSync(0)).status.runs[0];
			console.log(r.state + "/" + r.reasonResolved)')
		check "... the claim it never saw ends exception/claim-expired (got $state)" \
		    [ "$state" = exception/claim-expired ]
	else
		run=0
	fi
	problems=$(J check --case "$c" --task "$id" --run $run)
	check "... run $run completed, every artifact there once, nothing after the resolution" \
	    [ -z "$problems" ]
	[ -z "$problems" ] || echo "$problems" | sed 's/^/# /'
	check "... the fault was hit" [ -z "$(unhit)" ]
	curl -s -X DELETE "$FAKE_URL/_fake/faults" >/dev/null
done
