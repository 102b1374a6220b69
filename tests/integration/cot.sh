# Chain of trust (reference/taskcluster-protocol.md §1, generic-worker's
# chain_of_trust_test.go §6.1), end to end: the key file and its
# commands, the key checks at start, the signed document run-task writes
# (checked here with sha256sum and Node's crypto, not only with
# verify-cot), protected artifact names, the tasks a worker must not vouch
# for, where the key lives in memory, and the keyholder's signing policy
# (tests/helpers/drive_child).
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	skip "chain of trust" "root (each task gets a fresh uid; keys are root's)"
	exit 0
fi

# Keys live below directories only root can write (the worker checks).
KEYS=$(mktemp -d /var/lib/sepworker-test-keys.XXXXXX)
ETC_KEY=/etc/sepworker-test-key.$$
HOLD=
cot_cleanup() {
	[ -n "$HOLD" ] && kill -TERM "$HOLD" 2>/dev/null
	rm -rf "$KEYS" "$ETC_KEY"
}
trap 'cot_cleanup; cleanup_all' EXIT

# The seed bytes 00..1f and their public key (vectors.json).
VEC_B64=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
VEC_PUB=A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=
VEC_HEX=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
# SHA-256 of "test artifact\n" (generic-worker's SampleArtifacts/_/X.txt).
X_SHA=8308d593eb56527137532595a60255a3fcfbe4b6b068e29b22d99742bad80f6f

# Diagnostics for the test being run: set by the test, shown on failure.
why=()
# t TITLE FUNCTION: one test; FUNCTION succeeds when it passes.
t() {
	why=()
	if "$2"; then ok "$1"; else not_ok "$1" "${why[@]}"; fi
}
show_task() {
	why+=("exit $RC; result: $(jget "$OUT/result.json" .state 2>&1)/$(jget "$OUT/result.json" .reasonResolved 2>&1)")
	[ -f "$LOG" ] && why+=("log:" "$(tail -n 30 "$LOG")")
	why+=("stderr: $(grep -v ' info: ' "$TMP/$1.stderr" | tail -n 8)")
}

# --- helpers ---

# seed_hex FILE: the 32-byte seed a key file holds, in hex.
seed_hex() { base64 -d <"$1" | od -An -v -tx1 | tr -d ' \n'; }

# node_pub SEEDHEX: the base64 public key of an ed25519 seed, computed by
# Node's crypto (PKCS#8 DER around the seed), not by sepworker.
node_pub() {
	node -e '
	    const c = require("crypto");
	    const der = Buffer.concat([
		Buffer.from("302e020100300506032b657004220420", "hex"),
		Buffer.from(process.argv[1], "hex")]);
	    const pub = c.createPublicKey(c.createPrivateKey(
		{key: der, format: "der", type: "pkcs8"}));
	    process.stdout.write(pub.export({format: "der", type: "spki"})
		.subarray(-32).toString("base64"));' "$1"
}

# node_verify DOC SIG PUB: does SIG (raw 64 bytes) verify DOC under the
# base64 public key PUB, by Node's crypto?
node_verify() {
	node -e '
	    const c = require("crypto"), fs = require("fs");
	    const [doc, sig, pub] = process.argv.slice(1);
	    const key = c.createPublicKey({key: Buffer.concat([
		Buffer.from("302a300506032b6570032100", "hex"),
		Buffer.from(pub, "base64")]), format: "der", type: "spki"});
	    process.exit(c.verify(null, fs.readFileSync(doc), key,
		fs.readFileSync(sig)) ? 0 : 1);' "$@"
}

# flip FILE OFFSET: invert the low bit of one byte.
flip() {
	node -e '
	    const fs = require("fs"), [f, at] = process.argv.slice(1);
	    const b = fs.readFileSync(f); b[Number(at)] ^= 1; fs.writeFileSync(f, b);' "$1" "$2"
}

# The files a run-task output holds that are the task's artifacts (or
# certified.log): everything but result.json, the backing/live logs and
# the chain-of-trust files.
artifact_files() {
	(cd "$1" && find . -type f | sed 's|^\./||' | grep -vxE \
	    'result\.json|public/logs/live(_backing)?\.log|public/chain-of-trust\.json(\.sig)?' |
	    sort)
}

# doc_names OUT: the artifact names the document lists, sorted.
doc_names() {
	node -e '
	    const d = JSON.parse(require("fs").readFileSync(process.argv[1]));
	    console.log(Object.keys(d.artifacts).sort().join("\n"))' \
	    "$1/public/chain-of-trust.json"
}

# hashes_match OUT: every artifact the document lists has the sha256 that
# sha256sum gives for the file in OUT.
hashes_match() {
	local name want got n=0
	while read -r name want; do
		got=$(sha256sum <"$1/$name" | cut -d' ' -f1)
		if [ "$got" != "$want" ]; then
			why+=("$name: document $want, sha256sum $got")
			return 1
		fi
		n=$((n + 1))
	done < <(node -e '
	    const d = JSON.parse(require("fs").readFileSync(process.argv[1]));
	    for (const [k, v] of Object.entries(d.artifacts))
		console.log(k + " " + v.sha256)' "$1/public/chain-of-trust.json")
	[ "$n" -gt 0 ]
}

# doc_fields OUT CONFIG TASKFILE: the document's fields against
# result.json, the config and the task; prints each difference.
doc_fields() {
	node -e '
	    const fs = require("fs"), util = require("util");
	    const [out, cfgf, taskf] = process.argv.slice(1);
	    const rd = f => JSON.parse(fs.readFileSync(f));
	    const doc = rd(out + "/public/chain-of-trust.json");
	    const res = rd(out + "/result.json"), cfg = rd(cfgf), task = rd(taskf);
	    let bad = 0;
	    const eq = (what, got, want) => {
		if (util.isDeepStrictEqual(got, want)) return;
		console.log(what + ": " + JSON.stringify(got) + ", expected " +
		    JSON.stringify(want));
		bad++;
	    };
	    eq("top-level keys", Object.keys(doc), ["chainOfTrustVersion",
		"artifacts", "task", "taskId", "runId", "workerGroup",
		"workerId", "environment"]);
	    eq("chainOfTrustVersion", doc.chainOfTrustVersion, 1);
	    eq("taskId", doc.taskId, res.taskId);
	    eq("runId", doc.runId, res.runId);
	    eq("workerGroup", doc.workerGroup, cfg.workerGroup);
	    eq("workerId", doc.workerId, cfg.workerId);
	    const env = {};
	    if ("publicIP" in cfg) env.publicIpAddress = cfg.publicIP;
	    env.privateIpAddress = cfg.privateIP;
	    env.instanceId = cfg.instanceId;
	    env.instanceType = cfg.instanceType;
	    env.region = cfg.region;
	    eq("environment", doc.environment, env);
	    eq("task.payload", doc.task && doc.task.payload, task.payload);
	    process.exit(bad ? 1 : 0);' "$@"
}

# --- keys ---

KEY=$KEYS/worker.key
test_new_keypair() {
	local pub show
	"$SEPWORKER" new-ed25519-keypair --file "$KEY" >"$TMP/newkey.out" 2>"$TMP/newkey.err" ||
	    { why=("exit $?: $(cat "$TMP/newkey.err")"); return 1; }
	"$SEPWORKER" new-ed25519-keypair --file "$KEYS/second.key" >"$TMP/newkey2.out"
	pub=$(cat "$TMP/newkey.out")
	show=$("$SEPWORKER" show-public-key --file "$KEY")
	why=("printed \"$pub\" ($(stat -c %s "$TMP/newkey.out") bytes); show-public-key \"$show\"; Node: $(node_pub "$(seed_hex "$KEY")")"
	    "key file mode $(stat -c %a "$KEY"), $(stat -c %s "$KEY") bytes: $(cat "$KEY")")
	# 44 characters of standard padded base64, no newline, 32 bytes.
	[ "$(stat -c %s "$KEY")" = 44 ] && grep -qxE '[A-Za-z0-9+/]{43}=' "$KEY" &&
	    [ "$(base64 -d <"$KEY" | wc -c)" = 32 ] &&
	    [ "$(stat -c '%a %u' "$KEY")" = "600 0" ] &&
	    # stdout: the public key, no newline, and it belongs to the seed.
	    [ "$(stat -c %s "$TMP/newkey.out")" = 44 ] &&
	    [ "$pub" = "$(node_pub "$(seed_hex "$KEY")")" ] &&
	    [ "$show" = "$pub" ] &&
	    # A fresh seed each time.
	    ! cmp -s "$TMP/newkey.out" "$TMP/newkey2.out" && ! cmp -s "$KEY" "$KEYS/second.key"
}
t "new-ed25519-keypair: 44 characters of base64 of a 32-byte seed, no newline, mode 0600; prints its public key (Node agrees), as show-public-key does" test_new_keypair

test_no_overwrite() {
	local before out rc
	before=$(sha256sum <"$KEY")
	out=$("$SEPWORKER" new-ed25519-keypair --file "$KEY" 2>"$TMP/over.err"); rc=$?
	ln -s "$KEYS/link-target" "$KEYS/dangling"
	"$SEPWORKER" new-ed25519-keypair --file "$KEYS/dangling" >/dev/null 2>&1
	local rc2=$?
	why=("exit $rc, stdout \"$out\", stderr: $(cat "$TMP/over.err"); through a dangling link: exit $rc2")
	[ $rc -eq 75 ] && [ -z "$out" ] && [ "$(sha256sum <"$KEY")" = "$before" ] &&
	    [ "$(stat -c %a "$KEY")" = 600 ] && grep -qF "$KEY" "$TMP/over.err" &&
	    [ $rc2 -eq 75 ] && [ ! -e "$KEYS/link-target" ]
}
t "new-ed25519-keypair refuses an existing file (exit 75, key untouched) and a link" test_no_overwrite

test_vector() {
	local got got_nl
	printf %s "$VEC_B64" >"$KEYS/vector.key"
	printf '%s\n' "$VEC_B64" >"$KEYS/vector-nl.key"
	chmod 600 "$KEYS/vector.key" "$KEYS/vector-nl.key"
	got=$("$SEPWORKER" show-public-key --file "$KEYS/vector.key")
	got_nl=$("$SEPWORKER" show-public-key --file "$KEYS/vector-nl.key")
	why=("show-public-key: \"$got\", with a trailing newline \"$got_nl\"; Node: $(node_pub "$VEC_HEX")")
	[ "$(seed_hex "$KEYS/vector.key")" = "$VEC_HEX" ] &&
	    [ "$got" = "$VEC_PUB" ] && [ "$got_nl" = "$VEC_PUB" ] &&
	    [ "$(node_pub "$VEC_HEX")" = "$VEC_PUB" ]
}
t "show-public-key: seed 00..1f gives A6EHv/...Mbg= (vectors.json, and Node agrees), with or without a newline" test_vector
PUB=$("$SEPWORKER" show-public-key --file "$KEY")

# --- the key checks at start (exit 82), and credentials (77) ---

TRIVIAL=$TMP/trivial.json
_cfg=0
echo '{"command": [["/bin/sh", "-c", "echo trivial-ran"]], "maxRunTime": 30}' >"$TRIVIAL"
# key_refused TITLE PATH PATTERN: run-task and selfcheck, with a config
# whose key is PATH, both exit 82 saying PATTERN (fixed string) and naming
# PATH.  PATTERN is how to fix it, or what is wrong.
key_refused() {
	local title=$1 path=$2 pattern=$3 cfg=$TMP/cfg.$((++_cfg)).json rc1 rc2
	mkconfig "$cfg" "ed25519SigningKeyLocation=\"$path\""
	"$SEPWORKER" run-task "$TRIVIAL" --out "$TMP/refused.$_cfg" \
	    --config "$cfg" >/dev/null 2>"$TMP/refused.err"; rc1=$?
	"$SEPWORKER" selfcheck --config "$cfg" >/dev/null 2>"$TMP/refused2.err"; rc2=$?
	if [ $rc1 -eq 82 ] && [ $rc2 -eq 82 ] &&
	    grep -v ' info: ' "$TMP/refused.err" | grep -qF "$path" &&
	    grep -v ' info: ' "$TMP/refused.err" | grep -qF -- "$pattern" &&
	    grep -v ' info: ' "$TMP/refused2.err" | grep -qF -- "$pattern"; then
		ok "$title"
	else
		not_ok "$title" "run-task exit $rc1, selfcheck exit $rc2; wanted 82 and \"$pattern\"" \
		    "run-task: $(grep -v ' info: ' "$TMP/refused.err")" \
		    "selfcheck: $(grep -v ' info: ' "$TMP/refused2.err")"
	fi
}
# key_works TITLE PATH: the same commands start and run (the control).
key_works() {
	local title=$1 path=$2 cfg=$TMP/cfg.$((++_cfg)).json rc1 rc2
	mkconfig "$cfg" "ed25519SigningKeyLocation=\"$path\""
	"$SEPWORKER" run-task "$TRIVIAL" --out "$TMP/works.$_cfg" \
	    --config "$cfg" >/dev/null 2>"$TMP/works.err"; rc1=$?
	"$SEPWORKER" selfcheck --config "$cfg" >"$TMP/works2.out" 2>&1; rc2=$?
	if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] &&
	    grep -qF "keyholder signed a test chain-of-trust document; it verifies with public key $(node_pub "$(seed_hex "$path")")" "$TMP/works2.out"; then
		ok "$title"
	else
		not_ok "$title" "run-task exit $rc1, selfcheck exit $rc2" \
		    "$(grep -v ' info: ' "$TMP/works.err")" "$(grep -E 'FAIL|error' "$TMP/works2.out")"
	fi
}

key_works "control: a 0600 root key below root-only directories is accepted; selfcheck signs with it" "$KEY"
key_refused "a missing key: exit 82, naming the path" "$KEYS/no-such.key" "No such file or directory"
mkdir "$KEYS/a-directory.key"
key_refused "a key path that is a directory: exit 82" "$KEYS/a-directory.key" "must be a regular file"
key_refused "a key path through a file: exit 82, naming the path" "$KEY/x" "Not a directory"
ln -s "$KEY" "$KEYS/link.key"
key_refused "a key path that is a symbolic link (to a good key): exit 82" "$KEYS/link.key" "not a symbolic link"
printf 'hello, world' >"$KEYS/text.key"
printf %s "$(head -c 31 /dev/urandom | base64)" >"$KEYS/short.key"
printf %s "$(head -c 33 /dev/urandom | base64)" >"$KEYS/long.key"
printf %s "$(head -c 64 /dev/urandom | base64 -w0)" >"$KEYS/expanded.key"
: >"$KEYS/empty.key"
chmod 600 "$KEYS"/*.key
for k in text short long empty; do
	key_refused "a malformed key ($k, mode 0600): exit 82, a clear error" "$KEYS/$k.key" \
	    "is not standard base64 of a 32-byte ed25519 seed"
done
key_refused "a 64-byte expanded key (mode 0600): exit 82, a clear error" "$KEYS/expanded.key" \
    "88 bytes, more than the 64 allowed"
for m in 640 604 660 644; do
	cp "$KEY" "$KEYS/mode$m.key" && chmod $m "$KEYS/mode$m.key"
	key_refused "a key of mode 0$m: exit 82, saying chmod 600" "$KEYS/mode$m.key" \
	    "chmod 600 $KEYS/mode$m.key"
done
cp "$KEY" "$KEYS/other-owner.key" && chown 64502:64502 "$KEYS/other-owner.key"
key_refused "a key owned by uid 64502: exit 82, saying chown root" "$KEYS/other-owner.key" \
    "chown root $KEYS/other-owner.key"
cp "$KEY" "$KEYS/keyholder-owner.key" && chown 64501:64501 "$KEYS/keyholder-owner.key"
key_works "a key owned by the keyholder's uid (64501) is accepted" "$KEYS/keyholder-owner.key"
cp "$KEY" "$ETC_KEY" && chmod 600 "$ETC_KEY"
key_refused "a 0600 root key under /etc (tasks read /etc): exit 82, saying move it" "$ETC_KEY" \
    "which tasks may read: only its file mode would stand between a task and it; move it"
for d in 775:0 757:0 755:64501; do
	sub=$KEYS/dir-${d%%:*}-${d##*:}
	mkdir "$sub" && cp "$KEY" "$sub/k" && chmod "${d%%:*}" "$sub" && chown "${d##*:}" "$sub"
	key_refused "a key below a directory of mode ${d%%:*}, owner ${d##*:}: exit 82, saying chown root, chmod go-w" \
	    "$sub/k" "directory $sub above $sub/k must be owned by root and writable by root alone (chown root $sub; chmod go-w $sub)"
done

test_credentials() {
	local rc1 rc2 rc3 rc4
	mkconfig "$KEYS/creds-open.json" 'accessToken="not-a-real-token"' 'clientId="test"'
	cp "$KEYS/creds-open.json" "$KEYS/creds-group.json"
	cp "$KEYS/creds-open.json" "$KEYS/creds-ok.json"
	chmod 644 "$KEYS/creds-open.json"
	chmod 640 "$KEYS/creds-group.json"
	chmod 600 "$KEYS/creds-ok.json"
	"$SEPWORKER" run-task "$TRIVIAL" --out "$TMP/creds1" --config "$KEYS/creds-open.json" \
	    >/dev/null 2>"$TMP/creds1.err"; rc1=$?
	"$SEPWORKER" selfcheck --config "$KEYS/creds-group.json" >/dev/null 2>"$TMP/creds2.err"; rc2=$?
	"$SEPWORKER" run-task "$TRIVIAL" --out "$TMP/creds3" --config "$KEYS/creds-group.json" \
	    >/dev/null 2>&1; rc3=$?
	"$SEPWORKER" run-task "$TRIVIAL" --out "$TMP/creds4" --config "$KEYS/creds-ok.json" \
	    >/dev/null 2>"$TMP/creds4.err"; rc4=$?
	why=("0644 run-task: exit $rc1: $(cat "$TMP/creds1.err")" "0640 selfcheck: exit $rc2: $(cat "$TMP/creds2.err")"
	    "0640 run-task: exit $rc3" "0600 run-task: exit $rc4: $(grep -v ' info: ' "$TMP/creds4.err")")
	[ $rc1 -eq 77 ] && [ $rc2 -eq 77 ] && [ $rc3 -eq 77 ] && [ $rc4 -eq 0 ] &&
	    grep -qF "chmod 600 $KEYS/creds-open.json" "$TMP/creds1.err" &&
	    grep -qF "holds credentials" "$TMP/creds2.err" && [ ! -e "$TMP/creds1/result.json" ]
}
t "a config holding accessToken readable by group or others: exit 77 (run-task, selfcheck); at 0600 it runs" test_credentials

# --- run-task with chainOfTrust ---

COT_CONFIG=$KEYS/cot.json
mkconfig "$COT_CONFIG" "ed25519SigningKeyLocation=\"$KEY\"" 'workerGroup="cot-group"' \
    'workerId="cot-worker-7"' 'publicIP="203.0.113.9"' 'privateIP="10.1.2.3"' \
    'instanceId="i-0123456789abcdef0"' 'instanceType="n2-standard-4"' 'region="us-east1"'

run_task cot --config "$COT_CONFIG" --run-id 2 <<'JSON'
{"taskGroupId": "aQlYHJ1CRsy0MPvNe5mLzg",
 "payload": {
  "command": [["/bin/sh", "-c", "echo hello world!"], ["/bin/echo", "goodbye world!"],
              ["/bin/sh", "-c", "printf 'test artifact\\n' > X.txt && mkdir -p d/e/f && echo 1 > d/a.txt && echo 2 > d/e/b.png && echo '{\"c\": 3}' > d/e/f/c.json"]],
  "maxRunTime": 30,
  "artifacts": [{"type": "file", "path": "X.txt", "name": "public/build/X.txt"},
                {"type": "directory", "path": "d", "name": "public/dir"}],
  "features": {"chainOfTrust": true}}}
JSON
COT_OUT=$OUT
COT_NAMES="public/build/X.txt
public/dir/a.txt
public/dir/e/b.png
public/dir/e/f/c.json
public/logs/certified.log"

test_cot_completes() {
	show_task cot
	expect_task cot completed completed 0 >/dev/null &&
	    [ -f "$COT_OUT/public/chain-of-trust.json" ] &&
	    [ "$(stat -c %s "$COT_OUT/public/chain-of-trust.json.sig")" = 64 ] &&
	    grep -qF "signed with public key $PUB" "$TMP/cot.stdout"
}
t "chainOfTrust: the task completes; chain-of-trust.json and a 64-byte .sig are written" test_cot_completes

test_cot_names() {
	why=("document: $(doc_names "$COT_OUT" | tr '\n' ' ')" "files: $(artifact_files "$COT_OUT" | tr '\n' ' ')")
	[ "$(doc_names "$COT_OUT")" = "$COT_NAMES" ] &&
	    [ "$(artifact_files "$COT_OUT")" = "$COT_NAMES" ]
}
t "the document lists exactly the task's files and certified.log (no live_backing.log, no chain-of-trust files)" test_cot_names

test_cot_hashes() {
	hashes_match "$COT_OUT" &&
	    [ "$(sha256sum <"$COT_OUT/public/build/X.txt" | cut -d' ' -f1)" = "$X_SHA" ] &&
	    grep -qF "\"sha256\": \"$X_SHA\"" "$COT_OUT/public/chain-of-trust.json"
}
t "every artifact's sha256 in the document is sha256sum's of the file (X.txt: 8308d5...)" test_cot_hashes

test_cot_fields() {
	local d
	d=$(doc_fields "$COT_OUT" "$COT_CONFIG" "$TMP/cot.json" 2>&1) || { why=("$d"); return 1; }
	[ "$(jget "$COT_OUT/public/chain-of-trust.json" .runId)" = 2 ] ||
	    { why=("runId is not 2"); return 1; }
}
t "chainOfTrustVersion 1; taskId, runId as result.json; workerGroup, workerId, environment as configured; task.payload the task's" test_cot_fields

test_certified_log() {
	local c=$COT_OUT/public/logs/certified.log
	why=("certified.log:" "$(tail -n 20 "$c")")
	grep -qx 'hello world!' "$c" && grep -qx 'goodbye world!' "$c" &&
	    grep -qF '=== Task Finished ===' "$c" && grep -qF 'Exit Code: 0' "$c"
}
t "certified.log holds the task's output, === Task Finished === and Exit Code: 0" test_certified_log

test_cot_signature() {
	local out rc
	out=$("$SEPWORKER" verify-cot "$COT_OUT" --public-key "$PUB" 2>&1); rc=$?
	why=("verify-cot exit $rc:" "$out")
	node_verify "$COT_OUT/public/chain-of-trust.json" "$COT_OUT/public/chain-of-trust.json.sig" "$PUB" ||
	    { why+=("Node's crypto.verify fails"); return 1; }
	# The signature is not just anything Node accepts: another key fails.
	! node_verify "$COT_OUT/public/chain-of-trust.json" "$COT_OUT/public/chain-of-trust.json.sig" "$VEC_PUB" &&
	    [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -qx 'verify-cot: OK' &&
	    ! printf '%s\n' "$out" | grep -q '^FAIL'
}
t "the signature verifies under Node's crypto.verify with show-public-key's key, and under verify-cot" test_cot_signature

# tampered NAME: a copy of the output to change.
tampered() { rm -rf "$TMP/$1"; cp -a "$COT_OUT" "$TMP/$1"; echo "$TMP/$1"; }
# verify_fails DIR PATTERN: verify-cot exits non-zero and says PATTERN.
verify_fails() {
	local out rc
	out=$("$SEPWORKER" verify-cot "$1" --public-key "${3:-$PUB}" 2>&1); rc=$?
	why+=("verify-cot exit $rc:" "$out")
	[ $rc -ne 0 ] && printf '%s\n' "$out" | grep -qE -- "$2"
}

test_tamper_artifact() {
	local d; d=$(tampered tamper-artifact)
	flip "$d/public/dir/e/f/c.json" 2
	verify_fails "$d" '^FAIL artifact public/dir/e/f/c\.json: sha256' &&
	    ! printf '%s\n' "${why[@]}" | grep -q '^FAIL signature' &&
	    node_verify "$d/public/chain-of-trust.json" "$d/public/chain-of-trust.json.sig" "$PUB"
}
t "tampering: one byte of an artifact changed: verify-cot fails naming it" test_tamper_artifact

test_tamper_document() {
	local d at; d=$(tampered tamper-document)
	# Inside the hash of X.txt: still JSON, another hash.
	at=$(grep -boF "$X_SHA" "$d/public/chain-of-trust.json" | cut -d: -f1)
	flip "$d/public/chain-of-trust.json" $((at + 10))
	verify_fails "$d" '^FAIL signature' &&
	    ! node_verify "$d/public/chain-of-trust.json" "$d/public/chain-of-trust.json.sig" "$PUB"
}
t "tampering: one byte of the document changed: verify-cot fails (signature); so does Node's verify" test_tamper_document

test_tamper_signature() {
	local d; d=$(tampered tamper-sig)
	flip "$d/public/chain-of-trust.json.sig" 17
	verify_fails "$d" '^FAIL signature' &&
	    ! node_verify "$d/public/chain-of-trust.json" "$d/public/chain-of-trust.json.sig" "$PUB"
}
t "tampering: one byte of the signature changed: verify-cot fails (signature); so does Node's verify" test_tamper_signature

test_wrong_key() {
	verify_fails "$COT_OUT" '^FAIL signature' "$VEC_PUB"
}
t "verify-cot with another public key fails" test_wrong_key

test_extra_file() {
	local d out rc; d=$(tampered extra-file)
	echo planted >"$d/public/build/planted.txt"
	out=$("$SEPWORKER" verify-cot "$d" --public-key "$PUB" 2>&1); rc=$?
	why=("verify-cot exit $rc:" "$out")
	printf '%s\n' "$out" | grep -q '^warn public/build/planted\.txt .*not in the document' &&
	    ! "$SEPWORKER" verify-cot "$COT_OUT" --public-key "$PUB" | grep -q '^warn'
}
t "a file added to the output that the document does not list is warned about" test_extra_file

# publicIpAddress is omitted when publicIP is not configured.
NOIP_CONFIG=$KEYS/cot-noip.json
mkconfig "$NOIP_CONFIG" "ed25519SigningKeyLocation=\"$KEY\"" 'workerGroup="g2"' \
    'workerId="w2"' 'privateIP="192.168.7.7"' 'instanceId="i-2"' \
    'instanceType="small"' 'region="eu-west-3"'
run_task cot-noip --config "$NOIP_CONFIG" <<'JSON'
{"payload": {"command": [["/bin/sh", "-c", "echo no ip"]], "maxRunTime": 30,
  "features": {"chainOfTrust": true}}}
JSON
test_no_public_ip() {
	local d
	show_task cot-noip
	expect_task cot-noip completed completed 0 >/dev/null || return 1
	d=$(doc_fields "$OUT" "$NOIP_CONFIG" "$TMP/cot-noip.json" 2>&1) || { why+=("$d"); return 1; }
	! grep -q publicIpAddress "$OUT/public/chain-of-trust.json" &&
	    [ "$(doc_names "$OUT")" = public/logs/certified.log ] &&
	    "$SEPWORKER" verify-cot "$OUT" --public-key "$PUB" >/dev/null
}
t "without publicIP configured the environment has no publicIpAddress (the rest as configured)" test_no_public_ip

# make demo's task.
run_task demo --config "$COT_CONFIG" <"$(dirname "$0")/../../examples/chain-of-trust/task.json"
test_demo() {
	local out rc
	show_task demo
	out=$("$SEPWORKER" verify-cot "$OUT" --public-key "$PUB" 2>&1); rc=$?
	why+=("verify-cot exit $rc:" "$out")
	expect_task demo completed completed 0 >/dev/null && [ $rc -eq 0 ] &&
	    [ "$(doc_names "$OUT" | tr '\n' ' ')" = "public/build/build.txt public/logs/certified.log " ] &&
	    hashes_match "$OUT"
}
t "make demo's chain-of-trust task (examples/chain-of-trust) under run-task with a key completes, and verify-cot passes" test_demo

# generic-worker's TestProtectedArtifactsReplaced.
PROTECTED="public/logs/live.log public/logs/live_backing.log public/logs/certified.log public/chain-of-trust.json public/chain-of-trust.json.sig"
protected_task() {
	node -e '
	    const names = process.argv[1].split(" ");
	    const all = [...names, "public/build/X.txt", "public/build/Y.txt"];
	    // The content comes from the task, not its command line: the log
	    // (and so certified.log) never holds it.
	    const script = "mkdir -p public/logs public/build && " +
		"head -c 24 /dev/urandom | od -An -tx1 | tr -d \" \\n\" > public/build/X.txt && " +
		all.slice(0, -2).concat(["public/build/Y.txt"])
		    .map(n => "cp public/build/X.txt " + n).join(" && ");
	    console.log(JSON.stringify({payload: {command: [["/bin/sh", "-c", script]],
		maxRunTime: 30, features: {chainOfTrust: true},
		artifacts: all.map(n => ({type: "file", path: n, name: n}))}}));' "$PROTECTED"
}
run_task protected --config "$COT_CONFIG" <<<"$(protected_task)"
test_protected() {
	local n x
	show_task protected
	expect_task protected completed completed 0 >/dev/null || return 1
	x=$(cat "$OUT/public/build/X.txt")
	[ ${#x} -eq 48 ] && cmp -s "$OUT/public/build/X.txt" "$OUT/public/build/Y.txt" ||
	    { why+=("X.txt \"$x\" and Y.txt differ, or X.txt is not what the task wrote"); return 1; }
	for n in $PROTECTED; do
		feature="Chain of Trust"
		case $n in
		*/live.log) feature="Live Log" ;;
		*/live_backing.log) feature="Backing log" ;;
		esac
		grep -F "] Not uploading artifact $n found in task.payload.artifacts section, since this will be uploaded later by $feature" "$LOG" |
		    grep -q "^\[taskcluster:warn .*by $feature\$" ||
		    { why+=("no \"Not uploading artifact $n\" line"); return 1; }
		if [ -e "$OUT/$n" ] && grep -qF "$x" "$OUT/$n"; then
			why+=("$n holds X.txt's content"); return 1
		fi
	done
	[ "$(doc_names "$OUT" | tr '\n' ' ')" = "public/build/X.txt public/build/Y.txt public/logs/certified.log " ] ||
	    { why+=("document lists: $(doc_names "$OUT" | tr '\n' ' ')"); return 1; }
	"$SEPWORKER" verify-cot "$OUT" --public-key "$PUB" >/dev/null &&
	    node_verify "$OUT/public/chain-of-trust.json" "$OUT/public/chain-of-trust.json.sig" "$PUB"
}
t "TestProtectedArtifactsReplaced: a task's files named like the five worker artifacts are skipped (logged), X = Y, none is replaced, the document lists X, Y, certified.log" test_protected

# --- tasks this worker must not vouch for: exception/malformed-payload ---

COT_PAYLOAD='{"command": [["/bin/sh", "-c", "echo cot-task-ran"]], "maxRunTime": 30, "features": {"chainOfTrust": true}}'
# refused_cot NAME PATTERN CONFIG: the task is malformed-payload, the
# reason in its log, its command never ran, nothing signed.
refused_cot() {
	local name=$1 pattern=$2 cfg=$3
	run_task "$name" --config "$cfg" <<<"$COT_PAYLOAD"
	show_task "$name"
	expect_task "$name" exception malformed-payload 2 >/dev/null &&
	    grep -qF -- "$pattern" "$LOG" && ! grep -qx 'cot-task-ran' "$LOG" &&
	    [ ! -e "$OUT/public/chain-of-trust.json" ] && [ ! -e "$OUT/public/chain-of-trust.json.sig" ]
}
test_cot_no_key() {
	refused_cot cot-nokey "payload.features.chainOfTrust: this worker has no chain-of-trust signing key" "$TASK_CONFIG"
}
t "chainOfTrust on a worker with no key: exception/malformed-payload, the reason in the log" test_cot_no_key
mkconfig "$KEYS/cot-disabled.json" "ed25519SigningKeyLocation=\"$KEY\"" 'enableChainOfTrust=false'
test_cot_disabled() {
	refused_cot cot-disabled "payload.features.chainOfTrust: this worker's configuration disables chain of trust (enableChainOfTrust)" "$KEYS/cot-disabled.json"
}
t "chainOfTrust with enableChainOfTrust false: exception/malformed-payload, the reason in the log" test_cot_disabled
mkconfig "$KEYS/cot-ptrace.json" "ed25519SigningKeyLocation=\"$KEY\"" 'sepworker.allowTaskPtraceAndNamespaces=true'
test_cot_ptrace() {
	refused_cot cot-ptrace "payload.features.chainOfTrust: this worker's sandbox is weakened (sepworker.allowTaskPtraceAndNamespaces)" "$KEYS/cot-ptrace.json"
}
t "chainOfTrust with sepworker.allowTaskPtraceAndNamespaces true: exception/malformed-payload, the reason in the log" test_cot_ptrace

# --- where the key is in memory ---

test_memscan() {
	local seed pub sk kids c comm hits read_bytes bad="" found=""
	"$SEPWORKER" new-ed25519-keypair --file "$KEYS/scan.key" >/dev/null
	mkconfig "$KEYS/scan.json" "ed25519SigningKeyLocation=\"$KEYS/scan.key\""
	seed=$(seed_hex "$KEYS/scan.key")
	pub=$(node_pub "$seed" | base64 -d | od -An -v -tx1 | tr -d ' \n')
	sk=$seed$pub
	"$SEPWORKER" selfcheck --hold --config "$KEYS/scan.json" >"$TMP/hold.out" 2>"$TMP/hold.err" &
	HOLD=$!
	_pids+=("$HOLD")
	for _ in $(seq 100); do
		grep -q 'holding until' "$TMP/hold.err" && break
		sleep 0.05
	done
	why=("selfcheck:" "$(cat "$TMP/hold.out")" "$(grep -v ' info: ' "$TMP/hold.err")")
	grep -q 'holding until' "$TMP/hold.err" &&
	    grep -q '^  ok   keyholder signed a test chain-of-trust document' "$TMP/hold.out" ||
	    return 1
	kids=$(children_of "$HOLD")
	[ "$(for c in $kids; do cat /proc/"$c"/comm; done | sort | tr '\n' ' ')" = "keyholder proxyd taskrunner " ] ||
	    { why+=("children: $kids"); return 1; }
	for c in "$HOLD" $kids; do
		comm=$(cat /proc/"$c"/comm)
		hits=$("$HELPERS/memscan" "$c" "$seed" "$sk" 2>"$TMP/memscan.$comm.err" | tr '\n' ' ')
		why+=("$comm (pid $c): seed, secret key found $hits times; $(tail -n 1 "$TMP/memscan.$comm.err")")
		# The scan read the process (its maps and at least 1 MB).
		read_bytes=$(sed -n 's/.* mappings, \([0-9]*\) bytes read.*/\1/p' "$TMP/memscan.$comm.err")
		[ "${read_bytes:-0}" -gt 1000000 ] || bad="$bad $comm(not read)"
		case $comm in
		keyholder)
			# Found, and in a mapping the keyholder itself may not
			# read: the scan reads those too.
			[[ $hits =~ ^[1-9][0-9]*\ [1-9][0-9]*\ $ ]] &&
			    grep -qE '^hit 2 [0-9a-f]+ ---p$' "$TMP/memscan.$comm.err" &&
			    found=yes;;
		*)	[ "$hits" = "0 0 " ] || bad="$bad $comm";;
		esac
	done
	kill -TERM "$HOLD"
	wait "$HOLD"
	HOLD=
	[ "$found" = yes ] && [ -z "$bad" ]
}
t "memory: the seed and the secret key are in the keyholder (in a ---p mapping), in no other process of the tree" test_memscan

# --- the keyholder's signing policy, through its channel ---

for c in sign-ok sign-non-cot sign-oversized sign-unsealed sign-other-task \
    sign-unannounced sign-twice sign-reannounce sign-nokey; do
	if [ $c = sign-nokey ]; then
		out=$("$HELPERS/drive_child" "$BUILD" keyholder 64501 $c 2>&1)
	else
		out=$("$HELPERS/drive_child" "$BUILD" keyholder 64501 $c "$KEY" 2>&1)
	fi
	rc=$?
	refused=$(printf '%s\n' "$out" | grep -c '^drive_child: REFUSED: ')
	signed=$(printf '%s\n' "$out" | grep -c 'signed, and it verifies$')
	# The refusals each case makes, and the signatures.
	case $c in
	sign-ok) want="0 1";; sign-non-cot) want="4 1";; sign-oversized) want="1 1";;
	sign-unsealed) want="2 1";; sign-other-task) want="3 1";;
	sign-unannounced) want="1 1";; sign-twice) want="2 2";;
	sign-reannounce) want="2 3";; sign-nokey) want="2 0";;
	esac
	if [ $rc -eq 0 ] && [ "$refused $signed" = "$want" ] &&
	    { [ $c = sign-nokey ] || printf '%s\n' "$out" | grep -qx "drive_child: PUBKEY $PUB"; }; then
		ok "keyholder: $c"
	else
		not_ok "keyholder: $c" "exit $rc; refused $refused, signed $signed; wanted $want" "$out"
	fi
done
