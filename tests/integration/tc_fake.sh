# tc-fake, the test Taskcluster (tests/tc-fake), checked by the real
# taskcluster-client and hawk packages: starts it on a free port with the
# self-test's clients and a request log, relays each case of
# tests/tc-fake/selftest.js as one test here, then stops it (SIGTERM,
# exit 0) and checks that nothing of it is left running.
. "$(dirname "$0")/lib.sh"

FAKE=$(cd "$(dirname "$0")/../tc-fake" && pwd)
FAKE_PID= SELF_PID=
fake_cleanup() {
	if [ -n "$SELF_PID" ]; then
		kill -TERM "$SELF_PID" 2>/dev/null
		wait "$SELF_PID" 2>/dev/null
	fi
	if [ -n "$FAKE_PID" ]; then
		kill -TERM "$FAKE_PID" 2>/dev/null
		wait_gone "$FAKE_PID" 2 || kill -KILL "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
}
trap 'fake_cleanup; cleanup_all' EXIT
# A signal ends the suite through the EXIT trap too.
trap 'exit 130' INT
trap 'exit 143' TERM

if ! command -v node >/dev/null 2>&1; then
	skip "tc-fake self-test" "node"
	exit 0
fi
if [ ! -f "$FAKE/node_modules/.tc-fake-installed" ]; then
	skip "tc-fake self-test" "tests/tc-fake/node_modules (run scripts/install-deps)"
	exit 0
fi

# --- start ---

node "$FAKE/selftest.js" --print-clients >"$TMP/clients.json"
node "$FAKE/server.js" --port 0 --clients "$TMP/clients.json" --log "$TMP/requests.log" --claim-wait-ms 3000 \
    >"$TMP/fake.out" 2>"$TMP/fake.err" &
FAKE_PID=$!
for _ in $(seq 200); do
	[ -s "$TMP/fake.out" ] && break
	alive "$FAKE_PID" || break
	sleep 0.05
done
line=$(cat "$TMP/fake.out")
if printf '%s\n' "$line" | grep -qxE 'tc-fake listening on http://127\.0\.0\.1:[0-9]+'; then
	ok "server prints exactly \"tc-fake listening on http://127.0.0.1:<port>\""
else
	not_ok "server prints exactly \"tc-fake listening on http://127.0.0.1:<port>\"" \
	    "stdout: $line" "stderr: $(cat "$TMP/fake.err")"
	exit 1
fi
ROOT_URL=${line#tc-fake listening on }
PORT=${ROOT_URL##*:}

# Listening sockets on PORT, from /proc/net/tcp{,6}: "local-address" words.
listeners() {
	local hex
	hex=$(printf '%04X' "$PORT")
	awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $2 }' \
	    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
got=$(listeners | tr '\n' ' ')
[ "$got" = "0100007F:$(printf '%04X' "$PORT") " ] &&
	ok "listens on 127.0.0.1 only" ||
	not_ok "listens on 127.0.0.1 only" "listening sockets on port $PORT: $got"

# --- the self-test, one test here per case ---

# (in the background, so that a signal to this suite is acted on at once)
timeout 300 node "$FAKE/selftest.js" --root-url "$ROOT_URL" --log "$TMP/requests.log" --clients "$TMP/clients.json" \
    >"$TMP/selftest.out" 2>"$TMP/selftest.err" &
SELF_PID=$!
wait "$SELF_PID"
rc=$?
SELF_PID=
relay_tap "$TMP/selftest.out" "$rc" "selftest.js" "$TMP/selftest.err"

# --- stop ---

kill -TERM "$FAKE_PID"
wait "$FAKE_PID"
rc=$?
pid=$FAKE_PID
FAKE_PID=
[ "$rc" -eq 0 ] && ok "SIGTERM: the server exits 0" ||
	not_ok "SIGTERM: the server exits 0" "exit $rc" "stderr: $(cat "$TMP/fake.err")"

# Nothing started here is left: no process holds this run's files in its
# command line, and nothing listens on the port.
stray=""
for f in /proc/[0-9]*/cmdline; do
	{ tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF "$TMP/" &&
		stray="$stray $(basename "$(dirname "$f")")"
done
[ -z "$stray" ] && ! alive "$pid" && [ -z "$(listeners)" ] &&
	ok "no process of tc-fake or the self-test is left" ||
	not_ok "no process of tc-fake or the self-test is left" \
	    "pids:$stray; server alive: $(alive "$pid" && echo yes || echo no); listening: $(listeners)"
