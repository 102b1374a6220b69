# The README's "Deploying" section, every command as printed, with only
# its paths moved under a scratch root ($ROOT stands for /, so
# /usr/local is $ROOT/usr/local and /etc/sepworker $ROOT/etc/sepworker)
# and systemctl given --root.  No systemd runs here: "systemctl start" is
# the installed unit's ExecStart, run as systemd would run it, and
# "systemctl kill --signal=SIGINT" that signal sent to it.  The units are
# checked with systemd-analyze verify; the worker-runner example with the
# config worker-runner would write from it.
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_ABS=$(cd "$BUILD" && pwd)
WORKER_PID=
deploy_cleanup() {
	[ -n "$WORKER_PID" ] && kill -KILL "$WORKER_PID" 2>/dev/null
	stop_tc_fake
	[ -n "${ROOT:-}" ] && rm -rf "$ROOT"
}
trap 'deploy_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! is_root; then
	skip "the README's deployment section" "root (make install, a worker)"
	exit 0
fi
if ! have_tc_fake; then
	skip "the README's deployment section" "node and tests/tc-fake/node_modules (scripts/install-deps)"
	exit 0
fi
if ! command -v systemctl >/dev/null || ! command -v systemd-analyze >/dev/null; then
	skip "the README's deployment section" "systemctl and systemd-analyze (scripts/install-deps)"
	exit 0
fi

# Root's, not below /tmp: the supervisor refuses child binaries anyone
# but root could have replaced, and keys below a world-writable path.
ROOT=$(mktemp -d /var/lib/sepworker-test-deploy.XXXXXX)
chmod 711 "$ROOT"	# as / is: task users reach tasksDir below it
UNITS=$ROOT/usr/local/lib/systemd/system
SW=$ROOT/usr/local/bin/sepworker

# The section's commands, block by block: one JSON line per block.
node -e '
    const text = require("fs").readFileSync(process.argv[1], "utf8");
    const sec = text.split("\n## Deploying\n")[1].split("\n## ")[0];
    const blocks = sec.split("```").filter((_, i) => i % 2 === 1);
    for (const b of blocks)
	console.log(JSON.stringify(b.replace(/^sh\n/, "").trim().split("\n")));
    ' "$REPO/README.md" >"$TMP/blocks"
check "the deployment section has its four command blocks" \
    [ "$(wc -l <"$TMP/blocks")" -eq 4 ]
block() { node -e 'for (const c of JSON.parse(process.argv[1])) console.log(c)' \
    "$(sed -n "${1}p" "$TMP/blocks")"; }

# One command as an operator types it, moved under $ROOT.
run_cmd() {
	local cmd=$1
	cmd=${cmd//\/usr\/local\//$ROOT/usr/local/}
	cmd=${cmd//\/etc\/sepworker/$ROOT/etc/sepworker}
	case $cmd in
	"make install")
		cmd="make -s -C $REPO install DESTDIR=$ROOT BUILD=$BUILD_ABS";;
	"sepworker "*)
		cmd="$SW ${cmd#sepworker }";;
	"systemctl enable "*)
		cmd="systemctl --root=$ROOT ${cmd#systemctl }";;
	"systemctl start sepworker.service")
		start_unit; return;;
	"systemctl kill --signal=SIGINT sepworker.service")
		kill -INT "$WORKER_PID"; return;;
	esac
	bash -c "$cmd"
}

# The unit's ExecStart, moved under $ROOT, in the background.
start_unit() {
	local exec
	exec=$(sed -n 's/^ExecStart=//p' "$UNITS/sepworker.service")
	exec=${exec//\/usr\/local\//$ROOT/usr/local/}
	exec=${exec//\/etc\/sepworker/$ROOT/etc/sepworker}
	bash -c "exec $exec" >"$TMP/unit.out" 2>"$TMP/unit.err" &
	WORKER_PID=$!
}

# --- make install: the first command is the section's first sentence ---

run_cmd "make install" >"$TMP/install.out" 2>&1
[ -x "$ROOT/usr/local/lib/sepworker/keyholder" ] && \
    [ -x "$ROOT/usr/local/lib/sepworker/proxyd" ] && \
    [ -x "$ROOT/usr/local/lib/sepworker/taskrunner" ] && \
    [ "$(readlink "$SW")" = ../lib/sepworker/sepworker ] && \
    [ -f "$UNITS/sepworker.service" ] && [ -f "$UNITS/sepworker-runner.service" ] && \
    [ -f "$ROOT/usr/local/share/doc/sepworker/examples/worker.json" ] && \
    [ -f "$ROOT/usr/local/share/doc/sepworker/examples/runner.yml" ]
checked "make install puts the binaries, the units and the examples in place" $?
grep -qx 'ExecStart=/usr/local/bin/sepworker run --config /etc/sepworker/worker.json' \
    "$UNITS/sepworker.service" && \
    grep -qx 'ExecStart=/usr/local/bin/start-worker /etc/sepworker/runner.yml' \
    "$UNITS/sepworker-runner.service" && \
    ! grep -q '@PREFIX@' "$UNITS"/*.service
checked "the installed units name the installed paths, no @PREFIX@ left" $?

# systemd-analyze verify: every key known, every value valid, the command
# executable.  Checked on copies whose paths point into $ROOT; worker-
# runner's start-worker (not packaged for Debian) stands in as a script.
mkdir -p "$TMP/verify"
printf '#!/bin/sh\nexit 0\n' >"$TMP/verify/start-worker"
chmod 755 "$TMP/verify/start-worker"
sed "s|/usr/local/|$ROOT/usr/local/|g" "$UNITS/sepworker.service" \
    >"$TMP/verify/sepworker.service"
sed -e "s|/usr/local/bin/start-worker|$TMP/verify/start-worker|" \
    -e "s|/usr/local/|$ROOT/usr/local/|g" "$UNITS/sepworker-runner.service" \
    >"$TMP/verify/sepworker-runner.service"
for u in sepworker.service sepworker-runner.service; do
	out=$(systemd-analyze verify "$TMP/verify/$u" 2>&1); rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ]; then
		ok "systemd-analyze verify $u: no error, no warning"
	else
		not_ok "systemd-analyze verify $u: no error, no warning" "exit $rc" "$out"
	fi
done
# Restart policy: 69 and 71 (SIGINT, the upgrade) are restarted; what
# would fail again, or means "done", is not.
restart_prevented() {
	sed -n 's/^RestartPreventExitStatus=//p' "$UNITS/sepworker.service" |
	    tr ' ' '\n' | grep -qx "$1"
}
grep -qx 'Restart=on-failure' "$UNITS/sepworker.service" && \
    ! restart_prevented 69 && ! restart_prevented 71 && \
    restart_prevented 64 && restart_prevented 73 && restart_prevented 77 && \
    restart_prevented 82
checked "the unit restarts on failure, 69 and 71 included, not 64/73/77/82" $?

# --- the signing key ---

mapfile -t CMDS < <(block 1)
check "the key block has its three commands" [ "${#CMDS[@]}" -eq 3 ]
run_cmd "${CMDS[0]}" && run_cmd "${CMDS[1]}" >"$TMP/key.out" 2>&1 &&
    run_cmd "${CMDS[2]}" >"$TMP/pub.out" 2>&1
KEY=$ROOT/etc/sepworker/ed25519.key
[ "$(stat -c %a "$ROOT/etc/sepworker")" = 700 ] && [ -s "$KEY" ] && \
    [ "$(stat -c %a "$KEY")" = 600 ]
checked "README: the key is made, root's alone, in a directory of mode 0700" $?
PUB=$(cat "$TMP/pub.out")
[ ${#PUB} -eq 44 ] && grep -qF "$PUB" "$TMP/key.out"
checked "README: show-public-key prints the key new-ed25519-keypair printed" $?

# --- the static worker ---

PROV=deploy-prov
WTYPE=deploy-type
GROUP=deploy-group
WID=deploy-worker
worker_client "static/$PROV/$WID"
if ! start_tc_fake "$TMP/clients.json" --claim-wait-ms 1000; then
	not_ok "tc-fake starts"
	exit 1
fi

check "the example worker.json is the README's static worker config" \
    node -e '
	const fs = require("fs");
	const [readme, example] = process.argv.slice(1);
	const sec = fs.readFileSync(readme, "utf8").split("\n## Worker mode\n")[1]
	    .split("\n## ")[0];
	const block = sec.split("```").filter((_, i) => i % 2 === 1)
	    .find(b => b.startsWith("json\n")).slice(5);
	const a = JSON.stringify(JSON.parse(block));
	const b = JSON.stringify(JSON.parse(fs.readFileSync(example, "utf8")));
	process.exit(a === b ? 0 : 1);' "$REPO/README.md" \
    "$ROOT/usr/local/share/doc/sepworker/examples/worker.json"

mapfile -t CMDS < <(block 2)
check "the static worker block has its four commands" [ "${#CMDS[@]}" -eq 4 ]
run_cmd "${CMDS[0]}"
CONFIG=$ROOT/etc/sepworker/worker.json
check "README: the config is installed with mode 0600" \
    [ "$(stat -c %a "$CONFIG")" = 600 ]
# What the operator fills in: the deployment's, and the paths under $ROOT.
node -e '
    const fs = require("fs");
    const [file, url, client, token, pool, group, id, key, tasks, work,
	] = process.argv.slice(1);
    const c = JSON.parse(fs.readFileSync(file));
    Object.assign(c, { rootURL: url, clientId: client, accessToken: token,
	workerPoolId: pool, workerGroup: group, workerId: id,
	ed25519SigningKeyLocation: key, tasksDir: tasks });
    c.sepworker = { workDir: work,
	taskUidFirst: 72300, taskUidCount: 2, proxyRetrySeconds: 1 };
    fs.writeFileSync(file, JSON.stringify(c, null, 2));' \
    "$CONFIG" "$FAKE_URL" "$CLIENT" "$TOKEN" "$PROV/$WTYPE" "$GROUP" "$WID" \
    "$KEY" "$ROOT/var/lib/sepworker-tasks" "$ROOT/var/lib/sepworker"
run_cmd "${CMDS[1]}" >"$TMP/check.out" 2>&1
check "README: check-config --worker accepts the filled-in example" [ $? -eq 0 ]
run_cmd "${CMDS[2]}" >/dev/null 2>&1
check "README: systemctl enable wants the unit from multi-user.target" \
    [ "$(readlink "$ROOT/etc/systemd/system/multi-user.target.wants/sepworker.service")" = \
    /usr/local/lib/systemd/system/sepworker.service ]

# A task for the worker: sleeps long enough for the upgrade's SIGINT to
# fall while it runs.
create_task() {
	local id
	id=$(node -e 'console.log(require(process.argv[1]).default.slugid())' \
	    "$FAKE_DIR/node_modules/taskcluster-client")
	node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue createTask "$id" \
	    "{\"taskQueueId\": \"$PROV/$WTYPE\", \"schedulerId\": \"tests\",
	      \"created\": \"{{now}}\", \"deadline\": \"{{now+3600}}\",
	      \"expires\": \"{{now+86400}}\", \"retries\": 0,
	      \"payload\": {\"command\": [[\"/bin/sh\", \"-c\",
		\"echo started; sleep $1; echo $2\"]], \"maxRunTime\": 60},
	      \"metadata\": {\"name\": \"deploy\", \"description\": \"d\",
		\"owner\": \"t@example.com\", \"source\": \"https://example.com\"}}" \
	    >>"$TMP/create.out" 2>&1 || sed 's/^/# call.js: /' "$TMP/create.out"
	echo "$id"
}
task_state() {
	node "$FAKE_DIR/call.js" --root-url "$FAKE_URL" Queue status "$1" 2>/dev/null |
	    node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
		const r = JSON.parse(s).status.runs.at(-1) || {};
		console.log(`${r.state}/${r.reasonResolved || r.reasonCreated}`); });'
}
# wait_for PATTERN FILE SECONDS
wait_for() {
	local i
	for i in $(seq $(( $3 * 10 ))); do
		grep -q "$1" "$2" 2>/dev/null && return 0
		alive "$WORKER_PID" || return 1
		sleep 0.1
	done
	return 1
}

T1=$(create_task 0 first)
run_cmd "${CMDS[3]}"
if wait_for "task $T1 resolved: completed/completed" "$TMP/unit.err" 60; then
	ok "README: systemctl start (the unit's ExecStart) works a task"
else
	not_ok "README: systemctl start (the unit's ExecStart) works a task" \
	    "$(tail -n 20 "$TMP/unit.err")"
fi

# --- stopping and upgrading: make install under the running worker, then
# SIGINT while a task runs: the task finishes, the worker exits 71 ---

mapfile -t CMDS < <(block 4)
check "the upgrade block has its two commands" [ "${#CMDS[@]}" -eq 2 ]
T2=$(create_task 8 second)
wait_for "task $T2: run 0 claimed" "$TMP/unit.err" 30
run_cmd "${CMDS[0]}" >"$TMP/reinstall.out" 2>&1
check "README: make install over a running worker" [ $? -eq 0 ]
state=$(task_state "$T2")
run_cmd "${CMDS[1]}"
check "the task was running when SIGINT came (it was $state)" \
    [ "$state" = running/scheduled ]
wait "$WORKER_PID"
rc=$?
WORKER_PID=
state=$(task_state "$T2")
[ "$rc" -eq 71 ] && [ "$state" = completed/completed ]
checked "README: SIGINT lets the running task finish, then exit 71" $? \
    "exit $rc, the task $state" "$(tail -n 30 "$TMP/unit.err")"
# systemctl stop: SIGTERM; the unit's new binaries are those started.
start_unit
wait_for "No task claimed\|claimWork" "$TMP/unit.err" 10
sleep 1
kill -TERM "$WORKER_PID"
wait "$WORKER_PID"
rc=$?
WORKER_PID=
check "systemctl stop (SIGTERM) of the upgraded unit while idle: exit 72 (got $rc)" \
    [ "$rc" -eq 72 ]

# --- the unit's file-system hardening, applied as systemd applies it ---

# ProtectSystem=strict (everything read-only but /dev, /proc, /sys and
# ReadWritePaths), PrivateTmp, ProtectHome, in a mount namespace of the
# worker's own: the worker and its task sandbox must work inside it.  (The
# unit's seccomp-based options are systemd's to apply; verify checked
# them.)
# RuntimeDirectory= is /run/<name>, as systemd makes it: the test's
# config keeps the default runDir, /run/sepworker, so that one is the
# host's, not $ROOT's.
rw_paths=$(sed -n 's/^ReadWritePaths=//p' "$UNITS/sepworker.service")
run_dir=/run/$(sed -n 's/^RuntimeDirectory=//p' "$UNITS/sepworker.service")
mkdir -p -m 0700 "$run_dir"
hardened=
for p in $rw_paths; do
	mkdir -p "$ROOT$p"
	# A bind mount keeps its source's read-only flag: remount it rw.
	hardened+="mount --bind $ROOT$p $ROOT$p && "
	hardened+="mount -o remount,bind,rw $ROOT$p && "
done
hardened+="mount --bind $run_dir $run_dir && "
hardened+="mount -o remount,bind,rw $run_dir && "
exec_line=$(sed -n 's/^ExecStart=//p' "$UNITS/sepworker.service")
exec_line=${exec_line//\/usr\/local\//$ROOT/usr/local/}
exec_line=${exec_line//\/etc\/sepworker/$ROOT/etc/sepworker}
unshare -m --propagation private bash -c "
    mount -o remount,bind,ro / &&
    $hardened
    mount -t tmpfs -o mode=1777 tmpfs /tmp &&
    mount -t tmpfs -o mode=1777 tmpfs /var/tmp &&
    mount -t tmpfs -o mode=0755 tmpfs /home &&
    mount -t tmpfs -o mode=0700 tmpfs /root &&
    touch /usr/.sepworker-rw-probe 2>/dev/null && exit 99
    exec $exec_line" >"$TMP/hardened.out" 2>"$TMP/hardened.err" &
WORKER_PID=$!
T3=$(create_task 0 hardened)
wait_for "task $T3 resolved: completed/completed" "$TMP/hardened.err" 60
checked "under ProtectSystem=strict, PrivateTmp, ProtectHome, ReadWritePaths ($rw_paths) and RuntimeDirectory ($run_dir) a task completes" \
    $? "$(tail -n 40 "$TMP/hardened.err")"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID"
rc=$?
WORKER_PID=
check "and SIGTERM stops it: exit 72 (got $rc)" [ "$rc" -eq 72 ]

# --- worker-runner ---

mapfile -t CMDS < <(block 3)
check "the worker-runner block has its two commands" [ "${#CMDS[@]}" -eq 2 ]
run_cmd "${CMDS[0]}" && run_cmd "${CMDS[1]}" >/dev/null 2>&1
[ "$(stat -c %a "$ROOT/etc/sepworker/runner.yml")" = 600 ] && \
    [ -L "$ROOT/etc/systemd/system/multi-user.target.wants/sepworker-runner.service" ]
checked "README: runner.yml installed 0600, sepworker-runner.service enabled" $?
# The config worker-runner writes from runner.yml (its generic-worker
# implementation: reference/worker-mode.md §1.4), with the identity and
# the credentials a provider hands out, must be one sepworker accepts.
node -e '
    const fs = require("fs");
    const yaml = require(process.argv[1] + "/node_modules/js-yaml");
    const [, runner, out, url, client, token, key, tasks, work] = process.argv.slice(1);
    const r = yaml.load(fs.readFileSync(runner, "utf8"));
    if (r.worker.implementation !== "generic-worker" ||
	r.worker.path !== "/usr/local/bin/sepworker" ||
	r.worker.configPath !== "/etc/sepworker/worker.json") {
	console.error("runner.yml: worker section", JSON.stringify(r.worker));
	process.exit(1);
    }
    const [prov, type] = r.provider.workerPoolID.split("/");
    const c = { ...r.workerConfig, rootURL: url, clientId: client,
	accessToken: token, certificate: "", provisionerId: prov,
	workerType: type, workerGroup: r.provider.workerGroup,
	workerId: r.provider.workerID,
	workerLocation: JSON.stringify({ cloud: "static" }),
	publicIP: "203.0.113.7", privateIP: "10.0.0.7",
	instanceType: "m5.large", instanceID: "i-0123", region: "us-east-1",
	availabilityZone: "us-east-1a",
	workerTypeMetadata: { "instance-type": "m5.large" } };
    if (c.certificate === "") delete c.certificate;
    c.ed25519SigningKeyLocation = key;
    c.tasksDir = tasks;
    c.sepworker.workDir = work;
    fs.writeFileSync(out, JSON.stringify(c, null, 2), { mode: 0o600 });' \
    "$FAKE_DIR" "$ROOT/etc/sepworker/runner.yml" "$CONFIG" \
    "$FAKE_URL" "$CLIENT" "$TOKEN" "$KEY" "$ROOT/var/lib/sepworker-tasks" "$ROOT/var/lib/sepworker" \
    2>"$TMP/runner.err"
"$SW" check-config --config "$CONFIG" --worker >"$TMP/runner-check.out" 2>&1
check "the config worker-runner writes from runner.yml passes check-config --worker" \
    [ $? -eq 0 ]
[ -s "$TMP/runner.err" ] && sed 's/^/# /' "$TMP/runner.err" "$TMP/runner-check.out"

# --- what to monitor: the log lines the section names are the worker's ---

node -e '
    const text = require("fs").readFileSync(process.argv[1], "utf8");
    const para = text.split("\n## Deploying\n")[1].split("**What to monitor.**")[1]
	.split("\n\n")[0];
    for (const m of para.matchAll(/`([^`]+)`/g)) console.log(m[1]);' \
    "$REPO/README.md" | grep -v '^<' | grep -v '^systemctl' | grep ' ' >"$TMP/monitor"
missing=()
while IFS= read -r line; do
	grep -rqF -- "$line" "$REPO/supervisor" "$REPO/proxyd" || missing+=("$line")
done <"$TMP/monitor"
[ "${#missing[@]}" -eq 0 ] && [ -s "$TMP/monitor" ]
checked "every log line the monitoring paragraph names is one the worker writes ($(wc -l <"$TMP/monitor") lines)" $?
[ "${#missing[@]}" -eq 0 ] || printf '# not in the sources: %s\n' "${missing[@]}"
