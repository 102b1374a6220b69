# Recovery from faults in worker mode (`sepworker run`): each standing
# child (keyholder, proxyd, taskrunner) killed with SIGKILL mid-task, and
# proxyd and the taskrunner made to break protocol (tests/helpers/inject
# sends a message from the child's own socket): the task is ended
# exception/internal-error with the reason in its log (a keyholder-death
# task with no chain of trust), nothing of it is left running, the child
# is restarted and the next task completes with a chain of trust that
# verifies.  Then the supervisor itself killed with SIGKILL mid-task and
# started again: everything of the abandoned task is gone, its run ends
# claim-expired as the Queue decides, never resolved by the new worker,
# and the next task completes.  Everything is checked through the
# Queue's API.
. "$(dirname "$0")/lib.sh"

UID_FIRST=72200
UID_COUNT=2
CFGDIR=$(mktemp -d /var/lib/sepworker-test-recovery.XXXXXX)
WORKER_PID=
recovery_cleanup() {
	[ -n "$WORKER_PID" ] && kill -KILL "$WORKER_PID" 2>/dev/null
	stop_tc_fake
	rm -rf "$CFGDIR"
}
trap 'recovery_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! is_root; then
	skip "recovery" "root (the worker maps task uids)"
	exit 0
fi
if ! have_tc_fake; then
	skip "recovery" "node and tests/tc-fake/node_modules (scripts/install-deps)"
	exit 0
fi

PROV=test-provisioner
WTYPE=recovery
GROUP=test-worker-group
WID=recovery-worker
worker_client "worker-pool/$PROV/$WTYPE"
# A short claim: the run a SIGKILLed supervisor abandons expires soon.
CLAIM_S=10
if ! start_tc_fake "$TMP/clients.json" --claim-wait-ms 1000 \
    --claim-timeout-s $CLAIM_S; then
	not_ok "tc-fake starts"
	exit 1
fi

KEY=$CFGDIR/worker.key
"$SEPWORKER" new-ed25519-keypair --file "$KEY" >/dev/null 2>&1
PUB=$("$SEPWORKER" show-public-key --file "$KEY")
CONFIG=$CFGDIR/worker.json
PORT=$(free_port)
mkconfig "$CONFIG" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "provisionerId=\"$PROV\"" \
    "workerType=\"$WTYPE\"" "workerGroup=\"$GROUP\"" "workerId=\"$WID\"" \
    "ed25519SigningKeyLocation=\"$KEY\"" "taskclusterProxyPort=$PORT" \
    "sepworker.workDir=\"$CFGDIR/work\"" \
    "sepworker.taskUidFirst=$UID_FIRST" "sepworker.taskUidCount=$UID_COUNT" \
    'sepworker.proxyRetrySeconds=1'
chmod 600 "$CONFIG"

Q() { node "$(dirname "$0")/recovery.js" "$1" --root-url "$FAKE_URL" "${@:2}"; }
newtask() { Q create --queue "$PROV/$WTYPE" --name "$1" --script "$2"; }
# The live processes running as a uid of this suite's task range (a
# zombie is dead: it waits for whoever inherited it, pid 1 here, which
# may never reap it).
task_procs() {
	ps -e -o uid=,pid=,stat=,comm= | awk -v f=$UID_FIRST -v n=$UID_COUNT \
	    '$1 >= f && $1 < f + n && $3 !~ /^Z/'
}
# Until the task's sleep runs (the task is under way), up to 30 s.
wait_task_running() {
	local i
	for i in $(seq 300); do
		task_procs | grep -q ' sleep$' && return 0
		sleep 0.1
	done
	return 1
}
# The worker's child named $1.
worker_child() {
	local c
	for c in $(children_of "$WORKER_PID"); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = "$1" ] && echo "$c"
	done
}
start_worker() {
	"$SEPWORKER" run --config "$CONFIG" >/dev/null 2>>"$TMP/worker.err" &
	WORKER_PID=$!
}

start_worker

# fault VICTIM HOW: a task runs; VICTIM is killed (HOW kill) or made to
# break protocol (HOW inject); then the checks.
fault() {
	local victim=$1 how=$2 id id2 pid state names log
	id=$(newtask "$victim-$how" 'echo under way; sleep 60')
	if ! wait_task_running; then
		not_ok "$victim ($how): the task runs" \
		    "$(tail -n 20 "$TMP/worker.err")"
		return
	fi
	pid=$(worker_child "$victim")
	if [ "$how" = kill ]; then
		kill -KILL "$pid"
		log="The worker's $victim (pid $pid) was killed by signal 9"
	else
		"$HELPERS/inject" "$pid"
		log="The worker's $victim (pid $pid) broke protocol"
	fi
	state=$(Q wait --task "$id" --timeout 40)
	check "$victim ($how) mid-task: the task is exception/internal-error (got $state)" \
	    [ "$state" = exception/internal-error ]
	[ "$state" = exception/internal-error ] ||
	    tail -n 30 "$TMP/worker.err" | sed 's/^/# worker: /'
	Q log --task "$id" >"$TMP/$victim-$how.log" 2>&1
	check "... its log says which child and how it ended" \
	    grep -qF "$log" "$TMP/$victim-$how.log"
	grep -qF "$log" "$TMP/$victim-$how.log" ||
	    sed 's/^/# log: /' "$TMP/$victim-$how.log"
	names=$(Q names --task "$id")
	if [ "$victim" = keyholder ]; then
		check "... no chain of trust for a task the keyholder died in ($names)" \
		    eval '! echo "$names" | grep -q "chain-of-trust\|certified"'
	fi
	check "... no process of the task's uid range is left" \
	    [ -z "$(task_procs)" ]
	check "... the worker keeps running" alive "$WORKER_PID"
	id2=$(newtask "after-$victim-$how" 'echo fine')
	state=$(Q wait --task "$id2" --timeout 60)
	check "after the $victim ($how) the next task completes (got $state)" \
	    [ "$state" = completed/completed ]
	check "... with a chain of trust that verifies" \
	    Q cot --task "$id2" --public-key "$PUB"
}

fault keyholder kill
fault proxyd kill
fault taskrunner kill
fault proxyd inject
fault taskrunner inject
check "lost children are restarted after 1 s" \
    grep -q 'restarting the keyholder in 1000 ms' "$TMP/worker.err"
check "... the wait doubling when the same child is lost again soon (proxyd twice)" \
    grep -q 'restarting the proxyd in 2000 ms' "$TMP/worker.err"
check "... and restarted: keyholder" grep -q 'keyholder restarted' "$TMP/worker.err"
check "... and restarted: proxyd" grep -q 'proxyd restarted' "$TMP/worker.err"

# The credentials read again for the restarted proxyd are wiped from the
# supervisor as they were at start: proxyd alone holds the token.
hex() { printf %s "$1" | od -An -v -tx1 | tr -d ' \n'; }
holders=
for p in "$WORKER_PID" $(children_of "$WORKER_PID"); do
	[ "$("$HELPERS/memscan" "$p" "$(hex "$TOKEN")" 2>/dev/null)" -gt 0 ] &&
	    holders="$holders$(cat /proc/"$p"/comm) "
done
check "after proxyd's restarts, the worker's accessToken is in proxyd's memory alone ($holders)" \
    [ "$holders" = "proxyd " ]

# proxyd lost between tasks, in the middle of its claimWork long poll.
restarts=$(grep -c 'proxyd restarted' "$TMP/worker.err")
kill -KILL "$(worker_child proxyd)"
id=$(newtask idle-proxyd 'echo fine')
state=$(Q wait --task "$id" --timeout 60)
check "proxyd killed while the worker waits for work: the next task completes (got $state)" \
    [ "$state" = completed/completed ]
check "... after proxyd was restarted" \
    [ "$(grep -c 'proxyd restarted' "$TMP/worker.err")" -gt "$restarts" ]

# The keyholder lost between tasks: back before the next task runs, which
# gets its chain of trust.
kill -KILL "$(worker_child keyholder)"
id=$(newtask idle-keyholder 'echo fine')
state=$(Q wait --task "$id" --timeout 60)
check "keyholder killed while the worker waits for work: the next task completes (got $state)" \
    [ "$state" = completed/completed ]
check "... with a chain of trust that verifies" \
    Q cot --task "$id" --public-key "$PUB"

# --- the supervisor killed with SIGKILL mid-task, then started again ---

# Its task has the proxy (host networking: a port on the host's loopback).
id=$(Q create --queue "$PROV/$WTYPE" --name sigkill --proxy 1 \
    --script 'echo under way; sleep 60')
if ! wait_task_running; then
	not_ok "SIGKILL: the task runs" "$(tail -n 20 "$TMP/worker.err")"
	exit 1
fi
old=("$WORKER_PID" $(children_of "$WORKER_PID") $(task_procs | awk '{ print $2 }'))
check "SIGKILL: the task's proxy listens on taskclusterProxyPort" \
    bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null
kill -KILL "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null
WORKER_PID=
left=
for p in "${old[@]}"; do
	wait_gone "$p" 5 || left="$left $p($(cat /proc/"$p"/comm 2>/dev/null))"
done
check "... its children, the task's proxy and the task's processes die with it ($left)" \
    [ -z "$left" ]
check "... the proxy's port is free" \
    eval '! bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null'
taskdir=$TASKS/tasks/task_${id}_0
check "... it leaves its task directory behind" [ -d "$taskdir" ]
check "... and its work directory" [ -d "$CFGDIR/work/runs/$id-0" ]
# The task cgroups of this suite's uids (task-<uid>, sepworker-task-<uid>).
cgroups() {
	local u
	for u in $(seq $UID_FIRST $((UID_FIRST + UID_COUNT - 1))); do
		find /sys/fs/cgroup -maxdepth 4 -type d -name "*task-$u" 2>/dev/null
	done
}
before=$(cgroups)

: >"$TMP/worker.err"
start_worker
id2=$(Q create --queue "$PROV/$WTYPE" --name after-sigkill --proxy 1 \
    --script 'echo fine')
state=$(Q wait --task "$id2" --timeout 60)
check "started again: the next task (with the proxy, on the same port) completes (got $state)" \
    [ "$state" = completed/completed ]
[ "$state" = completed/completed ] ||
    tail -n 30 "$TMP/worker.err" | sed 's/^/# worker: /'
check "... with a chain of trust that verifies" \
    Q cot --task "$id2" --public-key "$PUB"
cleanup_line=$(grep -n 'start-up cleanup: killed' "$TMP/worker.err" | cut -d: -f1)
claim_line=$(grep -n 'claimed task' "$TMP/worker.err" | head -n 1 | cut -d: -f1)
check "... the start-up cleanup killed what was left" [ -n "$cleanup_line" ]
check "... before the first claim (log lines $cleanup_line and $claim_line)" \
    [ "${cleanup_line:-999999}" -lt "${claim_line:-0}" ]
check "... the abandoned task's directory is removed" [ ! -e "$taskdir" ]
check "... and the abandoned run's work directory" [ ! -e "$CFGDIR/work/runs/$id-0" ]
if [ -n "$before" ]; then
	check "... and its cgroups (there were: $(echo $before))" [ -z "$(cgroups)" ]
else
	skip "... and its cgroups" "task cgroups on this host"
fi
state=$(Q wait --task "$id" --timeout $((CLAIM_S + 20)))
check "the abandoned run ends as the Queue decides: exception/claim-expired (got $state)" \
    [ "$state" = exception/claim-expired ]
reports=$(curl -s "$FAKE_URL/_fake/calls" | node -e '
    const id = process.argv[1];
    const c = JSON.parse(require("fs").readFileSync(0)).calls;
    console.log(c.filter(x => x.target.includes(`/task/${id}/runs/0/`) &&
	/\/(completed|failed|exception)$/.test(x.target)).length)' "$id")
check "... never resolved by a worker (no report call: $reports)" [ "$reports" = 0 ]
check "... and the worker keeps running" alive "$WORKER_PID"
check "nothing of the task uid range is left running" [ -z "$(task_procs)" ]

# A keyholder restarted that cannot load its key: exit 82, as at start.
mv "$KEY" "$KEY.away"
kill -KILL "$(worker_child keyholder)"
for i in $(seq 300); do
	alive "$WORKER_PID" || break
	sleep 0.1
done
wait "$WORKER_PID"
rc=$?
WORKER_PID=
check "a restarted keyholder that cannot load its key: the worker exits 82 (got $rc)" \
    [ "$rc" -eq 82 ]
[ "$rc" -eq 82 ] || tail -n 10 "$TMP/worker.err" | sed 's/^/# worker: /'
