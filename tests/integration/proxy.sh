# The taskcluster proxy from inside real tasks under run-task, against
# tc-fake (tests/tc-fake, whose checking is done by the real hawk and
# taskcluster-lib-scopes packages): curl and taskcluster-client through
# $TASKCLUSTER_PROXY_URL, scopes restricted to task.scopes, who may
# connect, where the accessToken is (and is not), the proxy's lifetime,
# isolated networking, and how a task fails when its proxy cannot serve.
# (tests/integration/taskproxy.sh ports taskcluster-proxy's own suite.)
. "$(dirname "$0")/lib.sh"

CFGDIR=$(mktemp -d /var/lib/sepworker-test-proxy.XXXXXX)
BG=
proxy_cleanup() {
	[ -n "$BG" ] && kill -TERM "$BG" 2>/dev/null && wait "$BG" 2>/dev/null
	stop_tc_fake
	rm -rf "$CFGDIR"
}
trap 'proxy_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! is_root; then
	skip "the proxy suite" "root (run-task maps task uids)"
	exit 0
fi
if ! have_tc_fake; then
	skip "the proxy suite" "node and tests/tc-fake/node_modules (scripts/install-deps)"
	exit 0
fi

# --- the test Taskcluster, its client, the worker's config ---

# A token no other test uses, so a memory scan finds only this one.
TOKEN=$(head -c 33 /dev/urandom | base64 | tr '+/' '-_')
CLIENT=proxytest/worker
cat >"$TMP/clients.json" <<JSON
{"$CLIENT": {"accessToken": "$TOKEN",
  "scopes": ["secrets:get:proxytest/*", "secrets:set:proxytest/*"]}}
JSON
# (a certificate is refused as soon as it expires, not 5 minutes later as
# the auth service does: the bewit test below waits for that)
if ! start_tc_fake "$TMP/clients.json" --cert-skew-ms 0; then
	not_ok "tc-fake starts"
	exit 1
fi
# Two secrets the client may read; the tasks may read only one.
node -e '
    const tc = require(process.argv[1] + "/node_modules/taskcluster-client").default;
    const s = new tc.Secrets({rootUrl: process.argv[2], credentials: {
	clientId: "static/taskcluster/root",
	accessToken: "tc-fake-root-access-token"}});
    const expires = new Date(Date.now() + 3600e3);
    Promise.all([
	s.set("proxytest/allowed", {secret: {v: "allowed-value"}, expires}),
	s.set("proxytest/other", {secret: {v: "other-value"}, expires}),
    ]).catch(e => { console.error(e.message); process.exit(1); });' \
    "$FAKE_DIR" "$FAKE_URL" || { not_ok "tc-fake holds the secrets"; exit 1; }

# taskcluster-client, where tasks can read it.
NODE_LIBS=$TASKS/node_modules
cp -r "$FAKE_DIR/node_modules" "$NODE_LIBS"
chmod -R a+rX "$NODE_LIBS"

PORT=$(free_port)
CONFIG=$CFGDIR/worker.json
mkconfig "$CONFIG" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" \
    "accessToken=\"$TOKEN\"" "taskclusterProxyPort=$PORT" \
    "sepworker.taskReadOnlyPaths=[\"$HELPERS_ABS\", \"$NODE_LIBS\"]" \
    'sepworker.proxyRetrySeconds=1'
chmod 600 "$CONFIG"

# proxy_task NAME SCOPES_JSON SHELL_SCRIPT [CONFIG] [FEATURES_JSON]: a
# task that asks for the proxy (or for FEATURES) and runs the script.
proxy_task() {
	local name=$1 scopes=$2 script=$3 cfg=${4:-$CONFIG}
	local features=${5:-'{"taskclusterProxy": true}'}
	run_task "$name" --config "$cfg" < <(node -e '
	    console.log(JSON.stringify({scopes: JSON.parse(process.argv[1]),
	    payload: {maxRunTime: 60, command: [["/bin/sh", "-c", process.argv[2]]],
	    features: JSON.parse(process.argv[3])}}))' "$scopes" "$script" "$features")
}
# Say what a task did, for a failing test.
show() { why=("log:" "$(cat "$LOG" 2>/dev/null)" "stderr:" "$(tail -n 20 "$TMP/$1.stderr")"); }
t() {
	local name=$1; shift
	why=()
	if "$@"; then ok "$name"; else not_ok "$name" "${why[@]}"; fi
}

ALLOWED='["secrets:get:proxytest/allowed"]'

# --- curl from a task ---

test_curl() {
	proxy_task curl "$ALLOWED" '
	    echo "url=$TASKCLUSTER_PROXY_URL"
	    curl -s -o allowed.json -w "allowed:%{http_code}\n" "$TASKCLUSTER_PROXY_URL/api/secrets/v1/secret/proxytest%2Fallowed"
	    curl -s -o other.json -w "other:%{http_code}\n" "$TASKCLUSTER_PROXY_URL/secrets/v1/secret/proxytest%2Fother"
	    cat allowed.json; echo; cat other.json; echo'
	show curl
	expect_task curl completed completed 0 >/dev/null &&
	    grep -qx "url=http://127.0.0.1:$PORT" "$LOG" &&
	    grep -q "Taskcluster proxy: TASKCLUSTER_PROXY_URL=http://127.0.0.1:$PORT" "$LOG" &&
	    grep -qx 'allowed:200' "$LOG" && grep -q '"v":"allowed-value"' "$LOG" &&
	    grep -qx 'other:403' "$LOG" && grep -q '"code":"InsufficientScopes"' "$LOG" &&
	    ! grep -q 'other-value' "$LOG"
}
t "curl in a task: a call within task.scopes succeeds, one outside them is 403 though the credentials allow it" test_curl

# What tc-fake saw: the config's client, authorizedScopes = task.scopes,
# and the certificate of temporary credentials proxyd issued from the
# config's permanent ones: unnamed, scopes = task.scopes, valid from the
# task's start for maxRunTime (60 s) plus the default margin (300 s).
test_upstream_view() {
	local line
	line=$(grep '"target":"/api/secrets/v1/secret/proxytest%2Fother"' "$FAKE_LOG" | tail -n 1)
	why=("request log line: $line")
	node -e '
	    const l = JSON.parse(process.argv[1]);
	    const c = l.authorization && l.authorization.ext.certificate;
	    const ok = l.authorization && l.authorization.id === process.argv[2] &&
		JSON.stringify(l.authorization.ext.authorizedScopes) === process.argv[3] &&
		l.status === 403 && c && c.version === 1 && !("issuer" in c) &&
		JSON.stringify(c.scopes) === process.argv[3] && c.seed.length === 44 &&
		Math.abs(c.expiry - c.start - 360e3) < 5e3 &&
		Math.abs(c.start - Date.parse(l.time)) < 60e3 &&
		JSON.stringify(Object.keys(c)) ===
		    JSON.stringify(["version", "scopes", "start", "expiry", "seed", "signature"]);
	    process.exit(ok ? 0 : 1);' "$line" "$CLIENT" "$ALLOWED"
}
t "upstream saw the config's clientId with a certificate proxyd issued (scopes task.scopes, maxRunTime + 300 s, unnamed), authorizedScopes task.scopes, the raw %2F" test_upstream_view

test_temp_identity() {
	proxy_task ident "$ALLOWED" '
	    curl -s -D headers -o body -w "status:%{http_code}\n" "$TASKCLUSTER_PROXY_URL/secrets/v1/secret/proxytest%2Fallowed"
	    tr -d "\r" <headers | grep -i "^x-taskcluster-proxy-"'
	show ident
	expect_task ident completed completed 0 >/dev/null && grep -qx 'status:200' "$LOG" &&
	    grep -qix "x-taskcluster-proxy-temp-clientid: $CLIENT" "$LOG" &&
	    grep -qiF "x-taskcluster-proxy-temp-scopes: $ALLOWED" "$LOG" &&
	    ! grep -qi 'x-taskcluster-proxy-perm-clientid' "$LOG" &&
	    grep -q 'proxyd.*issued temporary credentials of client proxytest/worker for the task: 1 scopes, valid until' "$TMP/ident.stderr" &&
	    grep -q 'taskproxy.*credentials of client proxytest/worker in use (temporary)' "$TMP/ident.stderr"
}
t "with the config's permanent credentials, the task's proxy says it holds temporary ones (Temp-ClientId, Temp-Scopes = task.scopes), and tc-fake accepts them" test_temp_identity

# --- taskcluster-client from a task ---

test_client() {
	proxy_task client "$ALLOWED" "NODE_PATH=$NODE_LIBS node -e '
	    const tc = require(\"taskcluster-client\").default;
	    const s = new tc.Secrets({rootUrl: process.env.TASKCLUSTER_PROXY_URL});
	    (async () => {
		const a = await s.get(\"proxytest/allowed\");
		console.log(\"allowed \" + a.secret.v);
		try { await s.get(\"proxytest/other\"); console.log(\"other: no error\"); }
		catch (e) { console.log(\"other \" + e.statusCode + \" \" + e.code); }
	    })().catch(e => { console.log(\"failed \" + e.message); process.exit(1); });'"
	show client
	expect_task client completed completed 0 >/dev/null &&
	    grep -qx 'allowed allowed-value' "$LOG" &&
	    grep -qx 'other 403 InsufficientScopes' "$LOG"
}
t "taskcluster-client in a task, rootUrl \$TASKCLUSTER_PROXY_URL: allowed call returns the secret, another is 403 InsufficientScopes" test_client

# --- what the task can see ---

test_no_token_in_task() {
	proxy_task peek "$ALLOWED" "
	    env >seen; cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n' >>seen
	    cat $CONFIG >>seen 2>&1 && echo config-readable
	    curl -s \"\$TASKCLUSTER_PROXY_URL/api/fake/v1/echo/x\" >>seen
	    wc -c <seen; cat seen"
	show peek
	expect_task peek completed completed 0 >/dev/null &&
	    ! grep -qx config-readable "$LOG" && grep -q '^TASKCLUSTER_PROXY_URL=' "$LOG" &&
	    grep -q '"clientId":"proxytest/worker"' "$LOG" &&
	    ! grep -rqF -- "$TOKEN" "$OUT" "$TMP/peek.stderr" "$TMP/peek.stdout" &&
	    [ "$(awk '/^[0-9]+$/' "$LOG" | tail -n 1)" -gt 100 ]
}
t "the task's environment, /proc, what the proxy echoes back, its log and result hold no accessToken; the config is unreadable to it" test_no_token_in_task

# --- while a task runs: admission, memory, lifetime ---

# Start a task that waits for $GO (touched from here), in the background;
# sets BG, and waits until it runs.  The supervisor's log is $TMP/NAME.stderr.
# Where the task can see it: a listed path (taskReadOnlyPaths).
GO=$HELPERS_ABS/go
background_task() {
	local name=$1 i
	rm -f "$GO"
	{ proxy_task "$name" "$ALLOWED" "${3:-:}; while [ ! -e $GO ]; do sleep 0.05; done; echo released" \
	    "$CONFIG" "${2:-}"
	  echo "$RC" >"$TMP/$name.rc"; } &
	BG=$!
	for i in $(seq 200); do
		grep -q 'Task Starting' "$TMP/$name.out/public/logs/live_backing.log" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# Let it finish; sets RC, OUT and LOG as run_task does.
release() {
	touch "$GO"
	wait "$BG"
	BG=
	RC=$(cat "$TMP/$1.rc")
	OUT=$TMP/$1.out
	LOG=$OUT/public/logs/live_backing.log
}
taskproxy_pid() { sed -n 's/.*its proxy (pid \([0-9]*\)) serves.*/\1/p' "$TMP/$1.stderr" | head -n 1; }

# All processes below pid $1, itself included.
tree() {
	local p=$1 c
	echo "$p"
	for c in $(children_of "$p"); do tree "$c"; done
}

# scan_tree ROOT HOLDER [SECRET]: memscan every process below ROOT for
# SECRET (default: the config's token); true if HOLDER has it and nobody
# else does, or with HOLDER "none", if nobody has it.  Sets SCANNED.
scan_tree() {
	local root=$1 holder=$2 secret=${3:-$TOKEN} p comm hits found="" bad=""
	SCANNED=
	[ "$holder" = none ] && found=yes
	for p in $(tree "$root"); do
		comm=$(cat /proc/"$p"/comm 2>/dev/null) || continue
		hits=$("$HELPERS/memscan" "$p" "$(printf %s "$secret" | od -An -v -tx1 | tr -d ' \n')" 2>/dev/null)
		SCANNED="$SCANNED $comm($p):$hits"
		if [ "$p" = "$holder" ]; then
			[ "${hits:-0}" -ge 1 ] && found=yes
		elif [ "$hits" != 0 ]; then
			bad="$bad $comm($p)"
		fi
	done
	[ -n "$found" ] && [ -z "$bad" ]
}

# A task without the proxy: the config's credentials were handed over,
# and proxyd alone holds them (the supervisor wiped its copy).
test_holder() {
	local sup pd rc
	background_task holder '{}' || { why=("the task did not start"); release holder; return 1; }
	sup=$(pgrep -f "run-task $TMP/holder.json" | head -n 1)
	pd=$(for c in $(children_of "$sup"); do [ "$(cat /proc/"$c"/comm)" = proxyd ] && echo "$c"; done)
	scan_tree "$sup" "$pd"
	rc=$?
	release holder
	why=("proxyd pid $pd; scanned:$SCANNED")
	[ -n "$pd" ] && [ $rc -eq 0 ] && expect_task holder completed completed 0 >/dev/null
}
t "a task without the proxy: a memory scan of every process finds the config's accessToken in proxyd only" test_holder

# The temporary accessToken of the last request to TARGET tc-fake saw:
# base64url(HMAC-SHA256(config token, its certificate's seed)).
temp_token() {
	node -e '
	    const l = require("fs").readFileSync(process.argv[1], "utf-8").split("\n")
		.filter(Boolean).map(JSON.parse).filter(l => l.target === process.argv[2]).pop();
	    const seed = l.authorization.ext.certificate.seed;
	    console.log(require("crypto").createHmac("sha256", process.argv[3]).update(seed)
		.digest("base64url"));' "$FAKE_LOG" "$1" "$TOKEN"
}

test_running() {
	local tp sup found="" temp perm_nowhere="" scanned_perm i
	background_task live '' 'curl -s -o /dev/null "$TASKCLUSTER_PROXY_URL/api/fake/v1/echo/memscan"' ||
	    { why=("the task did not start" "$(cat "$TMP/live.stderr")"); release live; return 1; }
	tp=$(taskproxy_pid live)
	sup=$(pgrep -f "run-task $TMP/live.json" | head -n 1)
	# The config's permanent token: wiped everywhere once proxyd issued
	# the task's; the temporary one: in the task proxy alone.
	for i in $(seq 100); do grep -q '"target":"/api/fake/v1/echo/memscan"' "$FAKE_LOG" && break; sleep 0.05; done
	temp=$(temp_token /api/fake/v1/echo/memscan)
	scan_tree "$sup" none && perm_nowhere=yes
	scanned_perm=$SCANNED
	# Another uid on the host, and root too: no answer.
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/fake/v1/echo/x" \
	    >"$TMP/nobody.code" 2>&1
	curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/fake/v1/echo/x" \
	    >"$TMP/root.code" 2>&1
	# Every process of the tree: the temporary token only in the task proxy.
	[ -n "$temp" ] && scan_tree "$sup" "$tp" "$temp" && found=yes
	release live
	why=("taskproxy pid $tp; temporary token scanned:$SCANNED" "only in the task proxy: ${found:-no}"
	    "permanent token scanned:$scanned_perm" "in no process: ${perm_nowhere:-no}"
	    "other uid got: $(cat "$TMP/nobody.code"); root got: $(cat "$TMP/root.code")"
	    "supervisor log:" "$(grep -E 'refused|taskproxy' "$TMP/live.stderr")")
	[ -n "$tp" ] && [ "$found" = yes ] && [ "$perm_nowhere" = yes ] &&
	    [ "$(cat "$TMP/nobody.code")" = 000 ] && [ "$(cat "$TMP/root.code")" = 000 ] &&
	    grep -q 'refused a connection from 127.0.0.1:[0-9]*: uid 65534 is not the task' "$TMP/live.stderr" &&
	    grep -q 'refused a connection from 127.0.0.1:[0-9]*: uid 0 is not the task' "$TMP/live.stderr" &&
	    expect_task live completed completed 0 >/dev/null && grep -qx released "$LOG" &&
	    ! alive "$tp" && ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}
t "while a task runs: other uids (root too) get no answer; a memory scan of every process finds the config's accessToken in none and the temporary one in the task proxy only; after it, the proxy is gone and the port closed" test_running

# --- refusals and failures ---

test_no_credentials() {
	local cfg=$CFGDIR/nocreds.json
	mkconfig "$cfg" "rootURL=\"$FAKE_URL\"" 'clientId=""' "taskclusterProxyPort=$PORT"
	proxy_task nocreds "$ALLOWED" 'echo ran' "$cfg"
	show nocreds
	expect_task nocreds exception malformed-payload 2 >/dev/null &&
	    grep -q 'payload.features.taskclusterProxy: this worker has no credentials to sign the task.s requests with: the --config file lacks clientId, accessToken' "$LOG" &&
	    ! grep -qx ran "$LOG"
}
t "a config without credentials: a task asking for the proxy is malformed-payload naming what is missing" test_no_credentials

test_disabled() {
	local cfg=$CFGDIR/disabled.json
	mkconfig "$cfg" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" "accessToken=\"$TOKEN\"" \
	    'enableTaskclusterProxy=false'
	chmod 600 "$cfg"
	proxy_task disabled "$ALLOWED" 'echo ran' "$cfg"
	show disabled
	expect_task disabled exception malformed-payload 2 >/dev/null &&
	    grep -q "payload.features.taskclusterProxy: this worker's configuration disables the taskcluster proxy (enableTaskclusterProxy)" "$LOG"
}
t "enableTaskclusterProxy false: malformed-payload" test_disabled

test_port_taken() {
	local holder
	node -e 'require("net").createServer().listen(Number(process.argv[1]), "127.0.0.1");
	    setTimeout(() => process.exit(0), 20000)' "$PORT" &
	holder=$!
	sleep 0.3
	proxy_task taken "$ALLOWED" 'echo ran'
	kill "$holder"; wait "$holder" 2>/dev/null
	show taken
	expect_task taken exception internal-error 2 >/dev/null &&
	    grep -q "Task aborted before it started: the taskcluster proxy could not be started: listening on 127.0.0.1:$PORT: Address already in use" "$LOG" &&
	    ! grep -qx ran "$LOG"
}
t "the proxy's port is taken: exception/internal-error before the task runs, the reason in its log" test_port_taken

test_proxy_killed() {
	local tp
	background_task killed || { why=("the task did not start"); release killed; return 1; }
	tp=$(taskproxy_pid killed)
	kill -KILL "$tp"
	sleep 0.5
	release killed
	show killed
	expect_task killed exception internal-error 2 >/dev/null &&
	    grep -q 'Task aborted: the task.s taskcluster proxy died: was killed by signal 9' "$LOG"
}
t "the task proxy killed mid-task: the task is exception/internal-error, its log says the proxy died" test_proxy_killed

# --- isolated networking ---

test_isolated() {
	local cfg=$CFGDIR/isolated.json
	mkconfig "$cfg" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" "accessToken=\"$TOKEN\"" \
	    "taskclusterProxyPort=$PORT" 'sepworker.taskNetwork="isolated"'
	chmod 600 "$cfg"
	proxy_task isolated "$ALLOWED" "
	    curl -s -m 3 -o /dev/null -w 'direct:%{http_code}\n' $FAKE_URL/api/auth/v1/scopes/current
	    curl -s -o /dev/null -w 'proxied:%{http_code}\n' \$TASKCLUSTER_PROXY_URL/secrets/v1/secret/proxytest%2Fallowed" "$cfg"
	show isolated
	expect_task isolated completed completed 0 >/dev/null &&
	    grep -qx 'direct:000' "$LOG" && grep -qx 'proxied:200' "$LOG" &&
	    grep -q "the task.s only way out of its network namespace" "$LOG"
}
t "isolated networking: tc-fake is out of the task's reach, except through its proxy" test_isolated

# --- how long a bewit outlives its task ---

# A bewit the task mints is signed with its temporary credentials: tc-fake
# refuses it once their certificate has expired (here at the task's
# deadline, 6 s away), though the bewit's own hour is far from over.
test_bewit_dies() {
	local now url exp expiry code body
	now=$(now_ms)
	run_task bewit --config "$CONFIG" < <(node -e '
	    const now = Number(process.argv[1]);
	    console.log(JSON.stringify({created: new Date(now).toISOString(),
		deadline: new Date(now + 6000).toISOString(),
		expires: new Date(now + 86400e3).toISOString(),
		scopes: JSON.parse(process.argv[2]),
		payload: {maxRunTime: 60, features: {taskclusterProxy: true},
		command: [["/bin/sh", "-c", process.argv[3]]]}}))' "$now" "$ALLOWED" "
	    url=\$(curl -s -X POST --data '$FAKE_URL/api/secrets/v1/secret/proxytest%2Fallowed' \$TASKCLUSTER_PROXY_URL/bewit)
	    echo \"bewit-url=\$url\"
	    curl -s -o /dev/null -w 'in-task:%{http_code}\\n' \"\$url\"")
	show bewit
	url=$(sed -n 's/^bewit-url=//p' "$LOG")
	# The bewit's own expiry (s) and its certificate's (ms).
	read -r exp expiry < <(node -e '
	    const b = Buffer.from(new URL(process.argv[1]).searchParams.get("bewit"), "base64url")
		.toString().split("\\");
	    const ext = JSON.parse(Buffer.from(b[3] || "e30=", "base64").toString());
	    console.log(b[1], ext.certificate ? ext.certificate.expiry : 0);' "$url" 2>/dev/null)
	while [ "$(now_ms)" -le "${expiry:-0}" ]; do sleep 0.2; done
	code=$(curl -s -o "$TMP/bewit.body" -w '%{http_code}' "$url")
	body=$(cat "$TMP/bewit.body")
	why+=("bewit $url: exp $exp, certificate expiry $expiry; fetched after it: $code $body")
	expect_task bewit completed completed 0 >/dev/null && grep -qx 'in-task:200' "$LOG" &&
	    [ "${expiry:-0}" -gt "$now" ] && [ "$expiry" -le $((now + 6000)) ] &&
	    [ "$exp" -gt $(( $(date +%s) + 3000 )) ] &&
	    [ "$code" = 401 ] && [[ $body == *'ext.certificate.expiry < now'* ]]
}
t "a bewit the task mints carries its temporary credentials: tc-fake refuses it once they expire at the task's deadline, within the bewit's hour" test_bewit_dies

# --- where the /<host>/ route may go ---

test_hosts_default() {
	proxy_task hosts "$ALLOWED" '
	    for h in blocked.example.com 127.0.0.1; do
		curl -s -o body -w "$h:%{http_code}\n" "$TASKCLUSTER_PROXY_URL/$h/x"; cat body; echo
	    done'
	show hosts
	expect_task hosts completed completed 0 >/dev/null &&
	    grep -qx 'blocked.example.com:403' "$LOG" &&
	    grep -q "does not forward to blocked.example.com: the worker's sepworker.proxyAllowedHosts does not list it" "$LOG" &&
	    grep -q '^127.0.0.1:' "$LOG" && ! grep -qx '127.0.0.1:403' "$LOG" &&
	    grep -q 'refused GET https://blocked.example.com/x: blocked.example.com is not an allowed host' "$TMP/hosts.stderr" &&
	    ! grep -qE 'taskproxy\[[0-9]+\] [a-z]+: GET https://blocked\.example\.com/x(:| ->)' "$TMP/hosts.stderr" &&
	    grep -qE 'taskproxy\[[0-9]+\] [a-z]+: GET https://127\.0\.0\.1/x(:| ->)' "$TMP/hosts.stderr"
}
t "host networking, no allow-list: /<host>/ to another host is 403 naming sepworker.proxyAllowedHosts and never tried; the rootURL's host is tried" test_hosts_default

test_hosts_isolated() {
	local cfg=$CFGDIR/hosts.json
	mkconfig "$cfg" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" "accessToken=\"$TOKEN\"" \
	    "taskclusterProxyPort=$PORT" 'sepworker.taskNetwork="isolated"' 'sepworker.proxyRetrySeconds=1' \
	    'sepworker.proxyAllowedHosts=["allowed.invalid", "*.wild.invalid"]'
	chmod 600 "$cfg"
	proxy_task hostsiso "$ALLOWED" '
	    for h in allowed.invalid a.wild.invalid 127.0.0.1 wild.invalid blocked.example.com; do
		curl -s -o body -w "$h:%{http_code}\n" "$TASKCLUSTER_PROXY_URL/$h/x"; head -c 120 body; echo
	    done
	    curl -s -o /dev/null -w "api:%{http_code}\n" "$TASKCLUSTER_PROXY_URL/secrets/v1/secret/proxytest%2Fallowed"' "$cfg"
	show hostsiso
	expect_task hostsiso completed completed 0 >/dev/null &&
	    grep -qx 'allowed.invalid:500' "$LOG" && grep -qx 'a.wild.invalid:500' "$LOG" &&
	    grep -q 'Failed during proxy request' "$LOG" &&
	    grep -qx '127.0.0.1:403' "$LOG" && grep -qx 'wild.invalid:403' "$LOG" &&
	    grep -qx 'blocked.example.com:403' "$LOG" && grep -qx 'api:200' "$LOG" &&
	    ! grep -qE 'taskproxy\[[0-9]+\] [a-z]+: GET https://(127\.0\.0\.1|wild\.invalid|blocked\.example\.com)/x(:| ->)' "$TMP/hostsiso.stderr"
}
t "isolated networking, sepworker.proxyAllowedHosts [allowed.invalid, *.wild.invalid]: those are tried, the rootURL's host and others 403, the rootURL routes unaffected" test_hosts_isolated

test_proxy_limits() {
	local cfg=$CFGDIR/limits.json bad=$CFGDIR/badlimits.json out
	mkconfig "$cfg" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" "accessToken=\"$TOKEN\"" \
	    "taskclusterProxyPort=$PORT" 'sepworker.proxyLimits="headers=8,head-timeout=5"'
	chmod 600 "$cfg"
	mkconfig "$bad" "rootURL=\"$FAKE_URL\"" 'sepworker.proxyLimits="headers=5,header-bytes=9"'
	out=$("$BUILD/sepworker" check-config --config "$bad" 2>&1)
	[ $? -ne 0 ] && printf '%s' "$out" | grep -q 'sepworker.proxyLimits.*"header-bytes" is not name=value' ||
	    { echo "check-config of a bad proxyLimits: $out"; return 1; }
	proxy_task limits "$ALLOWED" '
	    h="-H X-A:1 -H X-B:1 -H X-C:1"
	    curl -s -o /dev/null -w "six:%{http_code}\n" $h "$TASKCLUSTER_PROXY_URL/secrets/v1/secret/proxytest%2Fallowed"
	    curl -s -o /dev/null -w "eleven:%{http_code}\n" $h -H X-D:1 -H X-E:1 -H X-F:1 -H X-G:1 -H X-H:1 \
		"$TASKCLUSTER_PROXY_URL/secrets/v1/secret/proxytest%2Fallowed"' "$cfg"
	show limits
	# (curl adds Host, User-Agent and Accept: 3 + 3 and 3 + 8 fields)
	expect_task limits completed completed 0 >/dev/null &&
	    grep -qx "six:200" "$LOG" && grep -qx "eleven:431" "$LOG"
}
t "sepworker.proxyLimits reaches the task's proxy (headers=8: 6 fields pass, 11 get 431); a bad one fails check-config naming it" test_proxy_limits

# --- the expiry rule ---

# cert_lifetime TARGET: expiry - start (ms) of the certificate on the last
# request to TARGET tc-fake saw.
cert_lifetime() {
	node -e '
	    const l = require("fs").readFileSync(process.argv[1], "utf-8").split("\n")
		.filter(Boolean).map(JSON.parse).filter(l => l.target === process.argv[2]).pop();
	    const c = l && l.status === 200 && l.authorization.ext.certificate;
	    console.log(c ? c.expiry - c.start : -1);' "$FAKE_LOG" "$1"
}

test_expiry_rule() {
	local cfg=$CFGDIR/margin0.json big=$CFGDIR/long.json short long now
	mkconfig "$cfg" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" "accessToken=\"$TOKEN\"" \
	    "taskclusterProxyPort=$PORT" 'sepworker.proxyCredentialsMarginSeconds=0'
	mkconfig "$big" "rootURL=\"$FAKE_URL\"" "clientId=\"$CLIENT\"" "accessToken=\"$TOKEN\"" \
	    "taskclusterProxyPort=$PORT" 'maxTaskRunTime=4000000'
	chmod 600 "$cfg" "$big"
	proxy_task margin0 "$ALLOWED" 'curl -s -o /dev/null "$TASKCLUSTER_PROXY_URL/api/fake/v1/echo/margin0"' "$cfg"
	expect_task margin0 completed completed 0 >/dev/null || { show margin0; return 1; }
	short=$(cert_lifetime /api/fake/v1/echo/margin0)
	# maxRunTime 40 days, deadline 40 days away: Taskcluster's 31 days.
	now=$(now_ms)
	run_task long --config "$big" < <(node -e '
	    const now = Number(process.argv[1]);
	    console.log(JSON.stringify({created: new Date(now).toISOString(),
		deadline: new Date(now + 40 * 86400e3).toISOString(),
		expires: new Date(now + 400 * 86400e3).toISOString(),
		scopes: JSON.parse(process.argv[2]),
		payload: {maxRunTime: 40 * 86400, features: {taskclusterProxy: true},
		command: [["/bin/sh", "-c", "curl -s -o /dev/null \"$TASKCLUSTER_PROXY_URL/api/fake/v1/echo/long\""]]}}))' \
	    "$now" "$ALLOWED")
	show long
	long=$(cert_lifetime /api/fake/v1/echo/long)
	why+=("lifetime with margin 0 and maxRunTime 60: $short ms; with maxRunTime 40 days: $long ms")
	expect_task long completed completed 0 >/dev/null &&
	    [ "$short" -gt 58000 ] && [ "$short" -le 60000 ] &&
	    [ "$long" -gt $((31 * 86400000 - 5000)) ] && [ "$long" -le $((31 * 86400000)) ]
}
t "the certificate's lifetime: maxRunTime plus sepworker.proxyCredentialsMarginSeconds (0 here), and never beyond Taskcluster's 31 days" test_expiry_rule

# --- credentials that cannot be issued ---

# past_task NAME SCOPES_JSON CREATED_OFFSET_MS DEADLINE_OFFSET_MS: a proxy
# task with those times (from now).
timed_task() {
	local now
	now=$(now_ms)
	run_task "$1" --config "$CONFIG" < <(node -e '
	    const [now, c, d] = process.argv.slice(1, 4).map(Number);
	    console.log(JSON.stringify({created: new Date(now + c).toISOString(),
		deadline: new Date(now + d).toISOString(),
		expires: new Date(now + 86400e3).toISOString(),
		scopes: JSON.parse(process.argv[4]),
		payload: {maxRunTime: 60, features: {taskclusterProxy: true},
		command: [["/bin/sh", "-c", "echo ran"]]}}))' "$now" "$3" "$4" "$2")
}

test_deadline_past() {
	timed_task pastdl "$ALLOWED" -7200000 -3600000
	show pastdl
	expect_task pastdl exception internal-error 2 >/dev/null && ! grep -qx ran "$LOG" &&
	    grep -q "the taskcluster proxy could not be started: it did not get the task's credentials: the task's credentials would expire at .*, which is past (its deadline has passed)" "$LOG"
}
t "a task whose deadline has passed gets no credentials: exception/internal-error, saying so" test_deadline_past

test_scopes_too_large() {
	local many
	many=$(node -e 'console.log(JSON.stringify(Array.from({length: 400},
	    (_, i) => "secrets:get:proxytest/" + String(i).padStart(80, "x"))))')
	timed_task bigscopes "$many" 0 3600000
	show bigscopes
	expect_task bigscopes exception internal-error 2 >/dev/null && ! grep -qx ran "$LOG" &&
	    grep -q "it did not get the task's credentials: the task's credentials take [0-9]* bytes (its scopes are in their certificate), more than the 32752 a task proxy takes" "$LOG"
}
t "scopes too many for the credentials channel: exception/internal-error naming the limit, the task not run" test_scopes_too_large

# Temporary credentials in the config: passed on as they are (they cannot
# issue others), their certificate's scopes and expiry unchanged.
test_config_temporary() {
	local cfg=$CFGDIR/temp.json creds id tok cert
	creds=$(node "$FAKE_DIR/mkcreds.js" --client-id "$CLIENT" --access-token "$TOKEN" \
	    --scopes 'secrets:get:proxytest/*')
	id=$(node -e 'console.log(JSON.parse(process.argv[1]).clientId)' "$creds")
	tok=$(node -e 'console.log(JSON.parse(process.argv[1]).accessToken)' "$creds")
	cert=$(node -e 'console.log(JSON.stringify(JSON.parse(process.argv[1]).certificate))' "$creds")
	mkconfig "$cfg" "rootURL=\"$FAKE_URL\"" "clientId=\"$id\"" "accessToken=\"$tok\"" \
	    "certificate=$cert" "taskclusterProxyPort=$PORT" "sepworker.taskReadOnlyPaths=[\"$HELPERS_ABS\"]"
	chmod 600 "$cfg"
	proxy_task configtemp "$ALLOWED" '
	    curl -s -D headers -o /dev/null -w "status:%{http_code}\n" "$TASKCLUSTER_PROXY_URL/secrets/v1/secret/proxytest%2Fallowed"
	    tr -d "\r" <headers | grep -i "^x-taskcluster-proxy-temp-scopes"' "$cfg"
	show configtemp
	expect_task configtemp completed completed 0 >/dev/null && grep -qx 'status:200' "$LOG" &&
	    grep -qiF 'x-taskcluster-proxy-temp-scopes: ["secrets:get:proxytest/*"]' "$LOG" &&
	    ! grep -q 'issued temporary credentials' "$TMP/configtemp.stderr"
}
t "temporary credentials in the config reach the task's proxy as they are (their own scopes and expiry), and work" test_config_temporary
