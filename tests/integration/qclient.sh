# proxyd/qclient.c against tc-fake, through build/tests/helpers/qcall:
# Hawk-signed calls with permanent and temporary credentials, the Go
# client's retry rules (5xx and network errors retried within the budget,
# 4xx final, 3xx a success and never followed), the headers sent, and the
# response size cap.
. "$(dirname "$0")/lib.sh"

trap 'stop_tc_fake; cleanup_all' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! have_tc_fake; then
	skip "qclient against tc-fake" "node and tests/tc-fake/node_modules (run scripts/install-deps)"
	exit 0
fi
QCALL=$HELPERS/qcall
if [ ! -x "$QCALL" ]; then
	not_ok "qclient against tc-fake" "no $QCALL: run make build-tests"
	exit 1
fi

cat >"$TMP/clients.json" <<'JSON'
{"qc-worker": {"accessToken": "qc-worker-token",
  "scopes": ["auth:current-scopes", "queue:claim-work:qc/*"]}}
JSON
start_tc_fake "$TMP/clients.json" || { not_ok "tc-fake starts"; exit 1; }
echo '{"clientId":"qc-worker","accessToken":"qc-worker-token"}' >"$TMP/perm.json"
echo '{"clientId":"qc-worker","accessToken":"not-the-token"}' >"$TMP/wrong.json"
node "$FAKE_DIR/mkcreds.js" --client-id qc-worker --access-token qc-worker-token \
    --scopes auth:current-scopes >"$TMP/temp.json"

# call NAME ARGS...: sets RC and OUT (qcall's output file).
call() {
	local name=$1; shift
	OUT=$TMP/$name.out
	"$QCALL" --root-url "$FAKE_URL" "$@" >"$OUT" 2>"$TMP/$name.err"
	RC=$?
}
field() { sed -n "s/^$1 //p" "$OUT"; }
body() { field body >"$TMP/body.json"; jget "$TMP/body.json" "$1"; }
explain() { sed 's/^/# /' "$OUT" "$TMP/$1.err" | head -n 20; }

# expect NAME RC STATUS ATTEMPTS: qcall's exit, last status and attempts.
expect() {
	local got="$RC $(field status) $(field attempts)"
	if [ "$got" = "$2 $3 $4" ]; then ok "$1"; else
		not_ok "$1" "got exit/status/attempts $got, wanted $2 $3 $4"
		explain "$5"
	fi
}

# --- signed calls ---

call perm --service auth --method GET --path scopes/current --creds "$TMP/perm.json"
expect "permanent credentials: a signed GET of scopes/current answers 200" 0 200 1 perm
check "... with the worker client's own scopes" \
    grep -q '"queue:claim-work:qc/\*"' "$OUT"

call temp --service auth --method GET --path /scopes/current --creds "$TMP/temp.json"
expect "temporary credentials: scopes/current answers 200" 0 200 1 temp
check "... with the certificate's scopes, not the issuer's" \
    [ "$(body '.scopes.includes("auth:current-scopes")')/$(body '.scopes.some(s => s.startsWith("queue:claim-work"))')" = true/false ]

call echo_temp --service fake --method POST --path 'echo/a%2Fb' \
    --creds "$TMP/temp.json" --body '{"x":1}'
expect "a POST with a body through echo" 0 200 1 echo_temp
check "the escaped path goes out as given (%2F kept)" \
    [ "$(body .url)" = /api/fake/v1/echo/a%2Fb ]
check "ext carries the certificate and no authorizedScopes" \
    [ "$(body .ext.certificate.scopes)/$(body .authorizedScopes)" = '["auth:current-scopes"]/null' ]
check "the body goes as application/json, Accept application/json" \
    [ "$(body '.headers.filter(h => /^(content-type|accept)$/i.test(h[0])).map(h => h.join("=")).join(",")')" = \
      "Accept=application/json,Content-Type=application/json" ]

call echo_perm --service fake --method POST --path echo/x --creds "$TMP/perm.json"
expect "a POST without a body" 0 200 1 echo_perm
check "... sends no Content-Type and an empty body" \
    [ "$(body '.headers.some(h => /^content-type$/i.test(h[0]))')/$(body .body)" = "false/" ]
check "... and permanent credentials send no ext" [ "$(body .ext)" = null ]

# --- retries ---

call wrong --service auth --method GET --path scopes/current \
    --creds "$TMP/wrong.json" --budget 30
expect "a wrong accessToken: 401, not retried" 1 401 1 wrong
check "... the error names the status and the service's message" \
    grep -qx 'err HTTP 401: Unauthorized: Bad mac' "$OUT"

call flaky --service fake --method POST --path flaky/qc/2 --budget 30
expect "two 500s, then 200: three attempts, success" 0 200 3 flaky

started=$(now_ms)
call gone --service fake --method GET --path status/503 --budget 2
took=$(( $(now_ms) - started ))
if [ "$RC $(field status)" = "1 503" ] && [ "$(field attempts)" -ge 2 ] &&
    [ "$took" -lt 6000 ]; then
	ok "a lasting 503: retried until the 2 s budget is spent ($(field attempts) attempts, $took ms)"
else
	not_ok "a lasting 503 within its budget" "exit $RC, $(field status), $(field attempts) attempts, $took ms"
fi

call notfound --service fake --method GET --path status/404 --budget 30
expect "a 404 is final" 1 404 1 notfound

port=$(free_port)
"$QCALL" --root-url "http://127.0.0.1:$port" --service auth --method GET \
    --path scopes/current --budget 2 >"$TMP/refused.out" 2>"$TMP/refused.err"
RC=$? OUT=$TMP/refused.out
if [ "$RC $(field status)" = "1 0" ] && [ "$(field attempts)" -ge 2 ] &&
    grep -q "^err .*onnect" "$OUT"; then
	ok "a refused connection is retried, and curl's error reported"
else
	not_ok "a refused connection" "$(tr '\n' ' ' <"$OUT")"
fi

call redirect --service fake --method GET --path status/303 --budget 30
expect "a 303 is a success" 0 303 1 redirect
check "... and is not followed" \
    bash -c "! grep -q redirected-from-303 '$FAKE_LOG'"

call big --service fake --method GET --path big/100000 --max-response 65536
if [ "$RC $(field status)" = "1 200" ] &&
    grep -qx "err the response body is larger than 65536 bytes" "$OUT" &&
    ! grep -q "^body" "$OUT"; then
	ok "a body over the cap fails the call and is not kept"
else
	not_ok "a body over the cap" "$(tr '\n' ' ' <"$OUT")"
fi

# --- threads: the task agent calls from several at once ---

call par --service fake --method POST --path 'flaky/par-{i}/2' --budget 30 \
    --creds "$TMP/perm.json" --parallel 16
good=$(grep -cE '^[0-9]+ status 200 attempts 3 body \{"attempts":3\}$' "$OUT")
signed=$(node -e '
    const l = require("fs").readFileSync(process.argv[1], "utf-8").split("\n")
	.filter(Boolean).map(JSON.parse).filter(l => /\/flaky\/par-/.test(l.target));
    console.log(l.length, l.filter(l => l.clientId === "qc-worker").length)' "$FAKE_LOG")
if [ "$RC" = 0 ] && [ "$good" = 16 ] && [ "$signed" = "48 48" ]; then
	ok "16 threads at once: each call retried to success (3 attempts), all 48 attempts signed"
else
	not_ok "16 threads at once" "exit $RC; $good of 16 as expected; requests/signed: $signed" "$(head -n 20 "$OUT")"
fi

call echo_par --service fake --method GET --path 'echo/par-{i}' \
    --creds "$TMP/perm.json" --parallel 16
mixed=$(for i in $(seq 0 15); do
	grep -q "^$i status 200 attempts 1 body .*\"url\":\"/api/fake/v1/echo/par-$i\"" "$OUT" || echo "$i"
done)
if [ "$RC" = 0 ] && [ -z "$mixed" ]; then
	ok "16 threads at once: each gets its own answer"
else
	not_ok "16 threads at once: each its own answer" "exit $RC; wrong for threads: $mixed" "$(cut -c 1-150 "$OUT" | head -n 20)"
fi
