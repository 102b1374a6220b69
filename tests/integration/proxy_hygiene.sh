# Header hygiene of the task proxy (issue #8, class 4): malformed request
# heads refused with 400 before anything reaches upstream, and nothing a
# task sends read upstream as Authorization, Host or framing.  Runs
# tests/integration/proxy_hygiene.js (a raw-socket client, a raw TCP
# upstream that keeps every byte, one real task proxy through
# build/tests/helpers/taskproxy) and relays each of its cases as one test.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
SUITE_PID=''

# Processes of this run: whatever holds this run's files in its command
# line (the suite, the harness) or names this run's upstream as its root
# URL (the task proxy; the suite writes the port down).
upstream_root() {
	[ -s "$TMP/upstream.port" ] && echo "http://127.0.0.1:$(cat "$TMP/upstream.port")"
}
ours() { run_procs $(upstream_root); }

ph_cleanup() {
	stop_driver
	kill_run_procs $(upstream_root)
}
trap 'ph_cleanup; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! command -v node >/dev/null 2>&1; then
	skip "proxy hygiene suite" "node"
	exit 0
fi
if ! is_root; then
	skip "proxy hygiene suite" "root (the task proxy runs as its own uid)"
	exit 0
fi
if [ ! -x "$HELPERS/taskproxy" ] || [ ! -x "$BUILD/proxyd" ]; then
	not_ok "proxy hygiene suite" "no $HELPERS/taskproxy or $BUILD/proxyd: run make all build-tests"
	exit 1
fi

timeout --foreground 300 node "$HERE/proxy_hygiene.js" --build "$BUILD" --tmp "$TMP" \
    >"$TMP/suite.out" 2>"$TMP/suite.err" &
SUITE_PID=$!
wait "$SUITE_PID"
rc=$?
SUITE_PID=
relay_tap "$TMP/suite.out" "$rc" "proxy_hygiene.js" "$TMP/suite.err"
# (the task proxy's own log, for a failure's diagnosis)
grep -q '^not ok' "$TMP/suite.out" && sed 's/^/# taskproxy: /' "$TMP/taskproxy.log" | tail -n 40

# The harness quits its task proxy when the suite closes its stdin.
for i in $(seq 50); do
	[ -z "$(ours)" ] && break
	sleep 0.1
done
left=$(ours | tr '\n' ' ')
[ -z "$left" ] && ok "no harness or task proxy of this run is left" ||
	not_ok "no harness or task proxy of this run is left" "pids: $left"
