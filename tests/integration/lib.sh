# Shared by the shell suites: TAP output, skips that fail under CI, and
# starting/stopping a supervisor in the background.
# Each suite is run as: bash tests/integration/NAME.sh BUILD_DIR
set -u
BUILD=${1:-build}
SEPWORKER=$BUILD/sepworker
HELPERS=$BUILD/tests/helpers
TMP=$(mktemp -d /tmp/sepworker-test.XXXXXX)
# Task directories cannot live below /tmp (each task gets its own /tmp).
TASKS=$(mktemp -d /var/tmp/sepworker-tasks.XXXXXX)
trap 'cleanup_all' EXIT
_n=0
_pids=()

cleanup_all() {
	for p in "${_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$TMP" "$TASKS"
	echo "1..$_n"
}

ok() { _n=$((_n + 1)); echo "ok $_n - $1"; }
not_ok() {
	_n=$((_n + 1)); echo "not ok $_n - $1"; shift
	local l; for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
# check NAME COMMAND...: ok if the command succeeds
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi; }
# checked NAME RC [DETAIL...]: ok if RC (the status of the conditions just
# evaluated, "A && B; checked NAME $?") is 0.  check runs one command:
# "check NAME [ A ] && [ B ]" would assert A alone.
checked() {
	local name=$1 rc=$2; shift 2
	if [ "$rc" -eq 0 ]; then ok "$name"; else not_ok "$name" "$@"; fi
}
# skip NAME REASON: skipped, or a failure when CI is set
skip() {
	_n=$((_n + 1))
	if [ -n "${CI:-}" ]; then
		echo "not ok $_n - $1"; echo "# needs $2, and CI is set"
	else
		echo "# skip: needs $2"; echo "ok $_n # SKIP $1"
	fi
}
is_root() { [ "$(id -u)" = 0 ]; }

# Start "sepworker selfcheck --hold" in the background; sets SUP (pid) and
# SUP_ERR (its stderr file); waits until it is holding.
start_supervisor() {
	SUP_ERR=$TMP/supervisor.$RANDOM.err
	"$SEPWORKER" selfcheck --hold "$@" >"$TMP/supervisor.out" 2>"$SUP_ERR" &
	SUP=$!
	_pids+=("$SUP")
	local i
	for i in $(seq 100); do
		grep -q 'holding until' "$SUP_ERR" 2>/dev/null && return 0
		kill -0 "$SUP" 2>/dev/null || break
		sleep 0.05
	done
	echo "# supervisor did not come up:" ; sed 's/^/# /' "$SUP_ERR"
	return 1
}

# Children of a pid, from /proc (no ps needed).
children_of() {
	local parent=$1 f
	for f in /proc/[0-9]*/status; do
		awk -v p="$parent" '$1 == "PPid:" && $2 == p { found = 1 }
		    END { exit !found }' "$f" 2>/dev/null &&
		    basename "$(dirname "$f")"
	done
}

# The pid of the supervisor's child named NAME.
child_pid() {
	local c
	for c in $(children_of "$SUP"); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = "$1" ] && echo "$c"
	done
}

status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Is pid $1 a live process?  A zombie is dead: it waits only for whoever
# inherited it to reap it (here pid 1, which may not).
alive() {
	local state
	state=$(awk '$1 == "State:" { print $2 }' "/proc/$1/status" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ]
}

# Wait up to $2 seconds (decimal) for pid $1 to be dead.
wait_gone() {
	local pid=$1 limit=${2:-1} i
	for i in $(seq $(awk -v l="$limit" 'BEGIN { print int(l * 50) }')); do
		alive "$pid" || return 0
		sleep 0.02
	done
	! alive "$pid"
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# --- run-task ---

# Task users must reach their directory: search, not list.
chmod 711 "$TASKS"
# A worker config for the tests: short limits, tasks under $TMP, the test
# helpers readable and runnable by tasks.
# Tasks run the test helpers from a copy they can reach: the checkout may
# lie below a directory only root may enter (/root).
HELPERS_ABS=$TASKS/helpers
mkdir -p "$HELPERS_ABS"
chmod 755 "$HELPERS_ABS"
cp "$HELPERS"/* "$HELPERS_ABS/" 2>/dev/null
TASK_CONFIG=$TMP/worker.json
cat >"$TASK_CONFIG" <<JSON
{
  "workerType": "test-linux",
  "workerId": "test-worker",
  "rootURL": "https://tc.example.com",
  "tasksDir": "$TASKS/tasks",
  "maxTaskRunTime": 300,
  "sepworker": {
    "taskMaxProcesses": 256,
    "taskReadOnlyPaths": ["$HELPERS_ABS"]
  }
}
JSON

# run_task NAME [sepworker options...]: TASK.json comes from stdin; the
# output goes to $TMP/NAME.out.  Sets RC, OUT, LOG (the task log).
run_task() {
	local name=$1; shift
	cat >"$TMP/$name.json"
	OUT=$TMP/$name.out
	LOG=$OUT/public/logs/live_backing.log
	"$SEPWORKER" run-task "$TMP/$name.json" --out "$OUT" \
	    --config "$TASK_CONFIG" "$@" >"$TMP/$name.stdout" 2>"$TMP/$name.stderr"
	RC=$?
}

# jget FILE EXPR: a field of a JSON file (EXPR like .state or .exitCodes).
jget() {
	node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1]));
	    const v = eval("o" + process.argv[2]);
	    console.log(typeof v === "object" ? JSON.stringify(v) : v)' "$1" "$2"
}

# expect_task NAME STATE REASON EXIT: result.json and exit status agree.
expect_task() {
	local name=$1 state=$2 reason=$3 code=$4 got
	got="$(jget "$OUT/result.json" .state 2>&1)/$(jget "$OUT/result.json" .reasonResolved 2>&1)"
	if [ "$got" = "$state/$reason" ] && [ "$RC" -eq "$code" ]; then
		return 0
	fi
	echo "# $name: got $got, exit $RC; wanted $state/$reason, exit $code"
	sed 's/^/# stderr: /' "$TMP/$name.stderr" | tail -n 15
	[ -f "$LOG" ] && sed 's/^/# log: /' "$LOG" | tail -n 25
	return 1
}

# The uid a task ran as, from its log.
task_uid() { sed -n 's/.*Task user: task_[0-9]* (uid \([0-9]*\)).*/\1/p' "$LOG" | head -n 1; }

# mkconfig FILE KEY=JSON...: $TASK_CONFIG with keys set (null deletes);
# "sepworker.KEY" sets one of sepworker's own.
mkconfig() {
	local file=$1; shift
	node -e '
	    const fs = require("fs");
	    const [from, to, ...pairs] = process.argv.slice(1);
	    const c = JSON.parse(fs.readFileSync(from));
	    for (const p of pairs) {
		const i = p.indexOf("="), k = p.slice(0, i);
		const v = JSON.parse(p.slice(i + 1));
		const [o, key] = k.startsWith("sepworker.") ?
		    [c.sepworker, k.slice(10)] : [c, k];
		if (v === null) delete o[key]; else o[key] = v;
	    }
	    fs.writeFileSync(to, JSON.stringify(c, null, 2));' \
	    "$TASK_CONFIG" "$file" "$@"
}

# --- task proxy suites: a node driver and the processes it starts ---

# run_procs [ROOT_URL...]: the processes of this run but this shell:
# those whose command line holds this run's files ($TMP/: drivers,
# harnesses) or names one of the root URLs as --root-url (task proxies,
# which hold no file of the run).
run_procs() {
	local f pid cmd r
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}; pid=${pid%/cmdline}
		[ "$pid" = $$ ] && continue
		cmd=$({ tr '\0' ' ' <"$f"; } 2>/dev/null) || continue
		case $cmd in *"$TMP/"*) echo "$pid"; continue;; esac
		for r in "$@"; do
			case $cmd in *"--root-url $r "*) echo "$pid"; break;; esac
		done
	done
}

# stop_driver: the node driver in $SUITE_PID stopped (SIGTERM, which
# makes it quit its harnesses, then SIGKILL after 4 s).
stop_driver() {
	if [ -n "${SUITE_PID:-}" ]; then
		kill -TERM "$SUITE_PID" 2>/dev/null
		wait_gone "$SUITE_PID" 4 || kill -KILL "$SUITE_PID" 2>/dev/null
		wait "$SUITE_PID" 2>/dev/null
		SUITE_PID=
	fi
}

# kill_run_procs [ROOT_URL...]: SIGKILL to whatever run_procs finds.
kill_run_procs() {
	local p
	for p in $(run_procs "$@"); do
		kill -KILL "$p" 2>/dev/null
	done
}

# --- tc-fake, the test Taskcluster (tests/tc-fake) ---

FAKE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tc-fake" && pwd)
FAKE_PID=
# have_tc_fake: node and tc-fake's packages are there.
have_tc_fake() {
	command -v node >/dev/null 2>&1 &&
	    [ -f "$FAKE_DIR/node_modules/.tc-fake-installed" ]
}
# start_tc_fake [CLIENTS_FILE [OPTION...]]: sets FAKE_URL (its rootUrl) and
# FAKE_LOG (one JSON line per request); stop_tc_fake ends it.  OPTIONs go
# to tc-fake (--cert-skew-ms, --claim-wait-ms, --claim-timeout-s,
# --terminate-after-calls: see tests/tc-fake/server.js).
start_tc_fake() {
	local clients=${1:-}
	shift $(( $# > 0 ))
	FAKE_LOG=$TMP/tc-fake.requests
	node "$FAKE_DIR/server.js" --port 0 ${clients:+--clients "$clients"} \
	    --log "$FAKE_LOG" "$@" >"$TMP/tc-fake.out" 2>"$TMP/tc-fake.err" &
	FAKE_PID=$!
	_pids+=("$FAKE_PID")
	local i
	for i in $(seq 200); do
		[ -s "$TMP/tc-fake.out" ] && break
		alive "$FAKE_PID" || break
		sleep 0.05
	done
	FAKE_URL=$(sed -n 's/^tc-fake listening on //p' "$TMP/tc-fake.out")
	[ -n "$FAKE_URL" ] || { sed 's/^/# tc-fake: /' "$TMP/tc-fake.err"; return 1; }
}
stop_tc_fake() {
	[ -n "$FAKE_PID" ] || return 0
	kill -TERM "$FAKE_PID" 2>/dev/null
	wait_gone "$FAKE_PID" 2 || kill -KILL "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=
}

# worker_client NAME: a worker's own static client in tc-fake, named
# NAME, with the scopes a worker pool gives it (PROV, WTYPE, GROUP and WID
# set by the suite): sets CLIENT and TOKEN, writes $TMP/clients.json for
# start_tc_fake.
worker_client() {
	CLIENT=$1
	TOKEN=$(head -c 33 /dev/urandom | base64 | tr '+/' '-_')
	cat >"$TMP/clients.json" <<JSON
{"$CLIENT": {"accessToken": "$TOKEN",
  "scopes": ["queue:claim-work:$PROV/$WTYPE",
    "queue:worker-id:$GROUP/$WID"]}}
JSON
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1",
	    () => { console.log(s.address().port); s.close(); });'
}

# relay_tap FILE RC NAME ERRFILE: each case of a TAP file (a Node suite's
# output) as one test here, its "# " lines as the failure's detail; and a
# failure of its own if NAME (which exited RC) did not run to its end.
relay_tap() {
	local file=$1 rc=$2 name=$3 errfile=$4 l cases=0 failed=0 pending=""
	local detail=()
	while IFS= read -r l; do
		case $l in
		"ok "*|"not ok "*)
			[ -n "$pending" ] && not_ok "$pending" "${detail[@]}"
			pending=""
			cases=$((cases + 1))
			case $l in
			"ok "*) ok "${l#ok * - }";;
			*) failed=$((failed + 1)); pending="${l#not ok * - }" detail=();;
			esac;;
		"# "*)
			[ -n "$pending" ] && detail+=("${l#\# }");;
		esac
	done <"$file"
	[ -n "$pending" ] && not_ok "$pending" "${detail[@]}"
	if [ "$cases" -eq 0 ] || { [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; } ||
	    ! grep -qxE "1\.\.$cases" "$file"; then
		not_ok "$name ran to its end" "exit $rc after $cases cases" \
		    "stderr: $(tail -n 20 "$errfile")"
	fi
}
