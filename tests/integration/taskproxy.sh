# taskcluster-proxy's own test suite, ported (tests/integration/
# taskproxy_suite.js), against sepworker's task proxy: starts tc-fake on a
# free port with the suite's clients and a request log, runs the suite
# (which starts real, sandboxed task proxies through
# build/tests/helpers/taskproxy), relays each of its cases as one test
# here, then stops tc-fake and checks that nothing started here is left.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
SUITE_PID='' ROOT_URL=''

# Processes of this run: whatever holds this run's files in its command
# line (the harnesses, tc-fake) or names this run's tc-fake as its root
# URL (the task proxies).
ours() { run_procs ${ROOT_URL:+"$ROOT_URL"}; }

tp_cleanup() {
	# (the driver stops its harnesses on SIGTERM, and a harness stops its
	# proxy when its stdin closes)
	stop_driver
	stop_tc_fake
	kill_run_procs ${ROOT_URL:+"$ROOT_URL"}
}
trap 'tp_cleanup; cleanup_all' EXIT
# A signal ends the suite through the EXIT trap too.
trap 'exit 130' INT
trap 'exit 143' TERM

if ! have_tc_fake; then
	skip "task proxy suite" "node and tests/tc-fake/node_modules (run scripts/install-deps)"
	exit 0
fi
if ! is_root; then
	skip "task proxy suite" "root (the task proxy runs as its own uid)"
	exit 0
fi
if [ ! -x "$HELPERS/taskproxy" ] || [ ! -x "$BUILD/proxyd" ]; then
	not_ok "task proxy suite" "no $HELPERS/taskproxy or $BUILD/proxyd: run make all build-tests"
	exit 1
fi
# --- tc-fake ---

node "$HERE/taskproxy_suite.js" --print-clients >"$TMP/clients.json"
if ! start_tc_fake "$TMP/clients.json"; then
	not_ok "tc-fake starts" "stderr: $(cat "$TMP/tc-fake.err")"
	exit 1
fi
ROOT_URL=$FAKE_URL
: >"$FAKE_LOG"

# --- the suite, one test here per case ---

# (in the background, so that a signal to this suite is acted on at once)
started=$(now_ms)
# (--foreground: on a signal, timeout passes it to node alone, which then
# quits its harnesses; not to the whole group)
timeout --foreground 120 node "$HERE/taskproxy_suite.js" --build "$BUILD" --root-url "$ROOT_URL" \
    --log "$FAKE_LOG" --tmp "$TMP" >"$TMP/suite.out" 2>"$TMP/suite.err" &
SUITE_PID=$!
wait "$SUITE_PID"
rc=$?
SUITE_PID=
took=$(( $(now_ms) - started ))
relay_tap "$TMP/suite.out" "$rc" "taskproxy_suite.js" "$TMP/suite.err"
echo "# the suite took $took ms"
[ -s "$TMP/tc-fake.err" ] && not_ok "tc-fake reported no internal error" "$(tail -n 20 "$TMP/tc-fake.err")"

# --- stop ---

stop_tc_fake

left=$(ours | tr '\n' ' ')
[ -z "$left" ] && ok "no harness, task proxy or node process of this run is left" ||
	not_ok "no harness, task proxy or node process of this run is left" \
	    "pids: $left" "$(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done 2>/dev/null)"
