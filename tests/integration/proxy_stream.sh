# The task proxy under upstream faults (5xx, refused, hung, cut mid-body,
# an untrusted TLS certificate), with 256 MiB bodies streamed both ways at
# bounded memory, with bodies too large to replay, and with ordinary
# clients (curl, Node's keep-alive Agent, python3's http.client and
# urllib, pipelined raw requests): issue #11.  Runs
# tests/integration/proxy_stream.js (its own http and https upstreams,
# real task proxies through build/tests/helpers/taskproxy) and relays
# each of its cases as one test.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
SUITE_PID=''

# Processes of this run: whatever holds this run's files in its command
# line (the suite, the harnesses) or names one of this run's upstreams as
# its root URL (the task proxies; the suite writes them down).
ours() { run_procs $([ -s "$TMP/roots" ] && cat "$TMP/roots"); }

ps_cleanup() {
	stop_driver
	kill_run_procs $([ -s "$TMP/roots" ] && cat "$TMP/roots")
}
trap 'ps_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! have_tc_fake; then
	skip "proxy streaming and faults suite" "node and tests/tc-fake/node_modules (hawk; run scripts/install-deps)"
	exit 0
fi
for c in curl python3 openssl unshare; do
	if ! command -v "$c" >/dev/null 2>&1; then
		skip "proxy streaming and faults suite" "$c"
		exit 0
	fi
done
if ! is_root; then
	skip "proxy streaming and faults suite" "root (the task proxy runs as its own uid, one in a mount namespace)"
	exit 0
fi
if [ ! -x "$HELPERS/taskproxy" ] || [ ! -x "$BUILD/proxyd" ]; then
	not_ok "proxy streaming and faults suite" "no $HELPERS/taskproxy or $BUILD/proxyd: run make all build-tests"
	exit 1
fi

started=$(now_ms)
timeout --foreground 240 node "$HERE/proxy_stream.js" --build "$BUILD" --tmp "$TMP" \
    >"$TMP/suite.out" 2>"$TMP/suite.err" &
SUITE_PID=$!
wait "$SUITE_PID"
rc=$?
SUITE_PID=
relay_tap "$TMP/suite.out" "$rc" "proxy_stream.js" "$TMP/suite.err"
echo "# the suite took $(( $(now_ms) - started )) ms"

# The harnesses quit their task proxies when the suite closes their stdin.
for i in $(seq 50); do
	[ -z "$(ours)" ] && break
	sleep 0.1
done
left=$(ours | tr '\n' ' ')
[ -z "$left" ] && ok "no harness or task proxy of this run is left" ||
	not_ok "no harness or task proxy of this run is left" "pids: $left"
