# What a task can make root write, and for how long: the artifacts'
# total apparent size and count, hard links, the task log's size, the
# time collection takes, and a full output disk (issue #8).  Every run
# is bounded by timeout; the outputs that could grow without a bound are
# written to a small tmpfs, so a worker that did not hold the bound fails
# the test instead of filling this machine's disk.
. "$(dirname "$0")/lib.sh"

MNT=()
KEYS=""
trap 'for m in "${MNT[@]}"; do umount -l "$m" 2>/dev/null; done
    [ -n "$KEYS" ] && rm -rf "$KEYS"; cleanup_all' EXIT

if ! is_root; then
	for t in sparse hardlinks total-bytes count log-cap collection-time \
	    full-disk; do
		skip "$t" "root (run-task, tmpfs mounts)"
	done
	exit 0
fi

# small_disk NAME MiB: a tmpfs of that size; OUT is a directory on it
# (not yet existing, as run-task wants it).
small_disk() {
	mkdir -p "$TMP/$1.mnt"
	mount -t tmpfs -o "size=${2}m" tmpfs "$TMP/$1.mnt" || return 1
	MNT+=("$TMP/$1.mnt")
	OUT=$TMP/$1.mnt/out
}

# used_kib DIR: KiB used on the filesystem holding DIR.
used_kib() { df -k --output=used "$1" | tail -n 1 | tr -d ' '; }

# task NAME SCRIPT ARTIFACTS [run-task options]: run /bin/sh -c SCRIPT
# with payload.artifacts = ARTIFACTS (JSON), bounded by timeout; the
# output goes to $OUT (t sets it to $TMP/NAME.out).  Sets RC, LOG,
# SECS (how long run-task took).
task() {
	local name=$1 script=$2 artifacts=$3 t0
	shift 3
	LOG=$OUT/public/logs/live_backing.log
	node -e '
	    const [script, artifacts] = process.argv.slice(1);
	    console.log(JSON.stringify({command: [["/bin/sh", "-c", script]],
		maxRunTime: 120, artifacts: JSON.parse(artifacts)}));' \
	    "$script" "$artifacts" >"$TMP/$name.json"
	t0=$(now_ms)
	timeout -k 5 150 "$SEPWORKER" run-task "$TMP/$name.json" --out "$OUT" \
	    --config "${CFG:-$TASK_CONFIG}" "$@" >"$TMP/$name.stdout" \
	    2>"$TMP/$name.stderr"
	RC=$?
	SECS=$(( ($(now_ms) - t0) / 1000 ))
}

# errors_like TEXT: the artifact errors whose message holds TEXT, as
# "name reason" lines.
errors_like() {
	node -e '
	    const [file, text] = process.argv.slice(1);
	    const r = JSON.parse(require("fs").readFileSync(file));
	    for (const e of r.artifactErrors)
		if (e.message.includes(text)) console.log(e.name + " " + e.reason);' \
	    "$OUT/result.json" "$1"
}

# written PREFIX: the artifacts listed as written whose name starts with
# PREFIX, sorted, one a line as "name size sha256".
written() {
	node -e '
	    const [file, prefix] = process.argv.slice(1);
	    const r = JSON.parse(require("fs").readFileSync(file));
	    for (const a of r.artifacts.filter(a => a.name.startsWith(prefix)).sort(
		(x, y) => x.name < y.name ? -1 : 1))
		console.log(a.name + " " + a.size + " " + a.sha256);' \
	    "$OUT/result.json" "$1"
}

why=()
t() {
	why=()
	unset CFG
	OUT=$TMP/$3.out
	LOG=$OUT/public/logs/live_backing.log
	if "$2"; then
		ok "$1"
	else
		not_ok "$1" "${why[@]}" "exit $RC after ${SECS:-?} s" \
		    "result: $(jget "$OUT/result.json" .state 2>&1) $(jget "$OUT/result.json" .artifactErrors 2>&1 | head -c 1500)" \
		    "log: $(grep -a '\[taskcluster' "$LOG" 2>&1 | tail -n 8)" \
		    "stderr: $(tail -n 4 "$TMP/$3.stderr" 2>&1)"
	fi
}

# failed: result.json says failed/failed and run-task exited 1.
failed() {
	[ "$(jget "$OUT/result.json" .state 2>&1)/$(jget "$OUT/result.json" .reasonResolved 2>&1)" = failed/failed ] &&
	    [ "$RC" -eq 1 ] || { why+=("not failed/failed with exit 1"); return 1; }
}

# --- total bytes, by apparent size ---

# A sparse file of 100 GiB (it takes no disk in the task) is refused
# before a byte of it is written; a small artifact beside it is written.
test_sparse() {
	local before
	small_disk sparse 64 || { why+=("no tmpfs"); return 1; }
	before=$(used_kib "$TMP/sparse.mnt")
	task sparse 'truncate -s 100G sparse.img && echo small >small.txt' \
	    '[{"type": "file", "path": "sparse.img", "name": "public/sparse.img"},
	      {"type": "file", "path": "small.txt", "name": "public/small.txt"}]'
	[ ! -e "$OUT/public/sparse.img" ] ||
	    why+=("sparse.img is in the output ($(du -k "$OUT/public/sparse.img" | cut -f1) KiB)")
	[ "$(used_kib "$TMP/sparse.mnt")" -lt $((before + 2048)) ] ||
	    why+=("the output disk grew by $(( $(used_kib "$TMP/sparse.mnt") - before )) KiB")
	[ "$(errors_like artifactMaxTotalBytes)" = "public/sparse.img too-large-file-on-worker" ] ||
	    why+=("no too-large-file-on-worker error naming sepworker.artifactMaxTotalBytes for sparse.img")
	[ "$(written public/small.txt | cut -d' ' -f2)" = 6 ] ||
	    why+=("small.txt was not written")
	grep -aq 'Artifact public/sparse.img: refused before writing.*artifactMaxTotalBytes' "$LOG" ||
	    why+=("the task log does not say why sparse.img was refused")
	failed && [ ${#why[@]} -eq 0 ]
}
t "a sparse file of 100 GiB apparent size is refused before a byte is written (artifactMaxTotalBytes)" test_sparse sparse

# Several ordinary files against a small artifactMaxTotalBytes: each is
# written while the total stays within it, the ones past it are refused
# and named, in result.json and in the task log.
test_total_bytes() {
	CFG=$TMP/total.config.json
	mkconfig "$CFG" sepworker.artifactMaxTotalBytes=3145728
	task total 'for f in a b c d; do head -c 1048576 /dev/zero >$f.bin; done; echo tiny >e.txt' \
	    '[{"type": "file", "path": "a.bin", "name": "public/a.bin"},
	      {"type": "file", "path": "b.bin", "name": "public/b.bin"},
	      {"type": "file", "path": "c.bin", "name": "public/c.bin"},
	      {"type": "file", "path": "d.bin", "name": "public/d.bin"},
	      {"type": "file", "path": "e.txt", "name": "public/e.txt"}]'
	[ "$(written public/ | cut -d' ' -f1 | tr '\n' ' ')" = "public/a.bin public/b.bin public/c.bin " ] ||
	    why+=("written: $(written public/ | cut -d' ' -f1 | tr '\n' ' '), wanted a, b, c")
	[ "$(errors_like artifactMaxTotalBytes | tr '\n' ' ')" = "public/d.bin too-large-file-on-worker public/e.txt too-large-file-on-worker " ] ||
	    why+=("refused: $(errors_like artifactMaxTotalBytes | tr '\n' ' '), wanted d.bin and e.txt")
	[ ! -e "$OUT/public/d.bin" ] && [ ! -e "$OUT/public/e.txt" ] ||
	    why+=("a refused file is in the output")
	[ "$(grep -ac 'refused before writing.*artifactMaxTotalBytes' "$LOG")" = 2 ] ||
	    why+=("the task log does not name both refused files")
	failed && [ ${#why[@]} -eq 0 ]
}
t "artifactMaxTotalBytes: files are written until the total would pass it; the rest are refused and named" test_total_bytes total

# --- hard links ---

# One 1 MiB file under 300 names in a directory artifact: one copy in
# the output, 300 links to it, each name listed with the same sha256.
test_hardlinks() {
	local inodes nlink kib sums
	small_disk links 64 || { why+=("no tmpfs"); return 1; }
	task links 'mkdir d && head -c 1048576 /dev/urandom >d/f000 &&
	    i=1; while [ $i -lt 300 ]; do ln d/f000 d/f$(printf %03d $i); i=$((i+1)); done' \
	    '[{"type": "directory", "path": "d", "name": "public/d"}]'
	[ "$(written public/d/ | wc -l)" = 300 ] ||
	    why+=("$(written public/d/ | wc -l) names listed, wanted 300")
	sums=$(written public/d/ | cut -d' ' -f2,3 | sort -u)
	[ "$(echo "$sums" | wc -l)" = 1 ] && [ "${sums%% *}" = 1048576 ] ||
	    why+=("names listed with different sizes or hashes: $(echo "$sums" | head -n 3)")
	inodes=$(stat -c %i "$OUT"/public/d/f* | sort -u | wc -l)
	nlink=$(stat -c %h "$OUT/public/d/f000")
	kib=$(du -sk "$OUT/public/d" | cut -f1)
	[ "$inodes" = 1 ] && [ "$nlink" = 300 ] ||
	    why+=("the output holds $inodes inodes, f000 has $nlink links")
	[ "$kib" -lt 2048 ] || why+=("the names take $kib KiB on disk")
	[ "$(echo "$sums" | cut -d' ' -f2)" = "$(sha256sum "$OUT/public/d/f123" | cut -d' ' -f1)" ] ||
	    why+=("the listed sha256 is not the file's")
	expect_task links completed completed 0 >/dev/null || why+=("not completed")
	[ ${#why[@]} -eq 0 ]
}
t "a file hard-linked 300 times in a directory artifact is written once: 300 links, one sha256" test_hardlinks links

# Hard links count once against artifactMaxTotalBytes: 50 names of one
# 1 MiB file fit within 2 MiB.
test_hardlinks_count_once() {
	CFG=$TMP/links2.config.json
	mkconfig "$CFG" sepworker.artifactMaxTotalBytes=2097152
	task links2 'mkdir d && head -c 1048576 /dev/zero >d/a &&
	    i=0; while [ $i -lt 49 ]; do ln d/a d/b$i; i=$((i+1)); done' \
	    '[{"type": "directory", "path": "d", "name": "public/d"}]'
	[ "$(written public/d/ | wc -l)" = 50 ] ||
	    why+=("$(written public/d/ | wc -l) names written, wanted 50")
	expect_task links2 completed completed 0 >/dev/null || why+=("not completed")
	[ ${#why[@]} -eq 0 ]
}
t "a hard-linked file counts once against artifactMaxTotalBytes" test_hardlinks_count_once links2

# --- count ---

# 40 files in a directory artifact, artifactMaxCount 10: ten written, one
# error saying how many more were left out, each named in the task log.
test_count() {
	CFG=$TMP/count.config.json
	mkconfig "$CFG" sepworker.artifactMaxCount=10
	task count 'mkdir d && i=0; while [ $i -lt 40 ]; do echo $i >d/f$(printf %02d $i); i=$((i+1)); done' \
	    '[{"type": "directory", "path": "d", "name": "public/d"}]'
	[ "$(written public/d/ | wc -l)" = 10 ] ||
	    why+=("$(written public/d/ | wc -l) written, wanted 10")
	[ "$(errors_like 'and 29 more were not collected' | tr '\n' ' ')" = "public/d/f10 invalid-resource-on-worker " ] ||
	    why+=("no one error for f10 and the 29 after it")
	[ "$(jget "$OUT/result.json" .artifactErrors.length)" = 1 ] ||
	    why+=("$(jget "$OUT/result.json" .artifactErrors.length) errors, wanted 1")
	[ "$(grep -ac 'not collected: the task has more than 10 artifacts.*artifactMaxCount' "$LOG")" = 30 ] ||
	    why+=("the task log does not name the 30 files left out")
	[ "$(find "$OUT/public/d" -type f | wc -l)" = 10 ] ||
	    why+=("$(find "$OUT/public/d" -type f | wc -l) files in the output")
	failed && [ ${#why[@]} -eq 0 ]
}
t "artifactMaxCount: past it nothing is written, one error says how many were left out" test_count count

# --- the task log ---

# 20 MB of output against a 64 KiB cap: one marker line, a log that
# stays near the cap, the task not blocked, later commands run.
test_log_cap() {
	local size
	CFG=$TMP/logcap.config.json
	mkconfig "$CFG" sepworker.taskLogMaxBytes=65536
	node -e 'console.log(JSON.stringify({command: [
	    ["/bin/sh", "-c", "head -c 20000000 /dev/zero | tr \"\\0\" x; echo"],
	    ["/bin/sh", "-c", "echo after-the-flood; echo ran >after.txt"]],
	    maxRunTime: 60,
	    artifacts: [{type: "file", path: "after.txt", name: "public/after.txt"}]}))' \
	    >"$TMP/logcap.task"
	run_task logcap --config "$CFG" <"$TMP/logcap.task"
	size=$(stat -c %s "$LOG")
	[ "$(grep -ac 'reached its limit of 65536 bytes (sepworker.taskLogMaxBytes)' "$LOG")" = 1 ] ||
	    why+=("the marker line is not there exactly once")
	[ "$size" -le $((65536 + 16384)) ] || why+=("the log is $size bytes")
	[ "$(cat "$OUT/public/after.txt" 2>/dev/null)" = ran ] ||
	    why+=("the command after the flood did not run")
	grep -aq 'Executing command 1' "$LOG" && grep -aq 'Resolution: completed' "$LOG" ||
	    why+=("the worker's own lines stopped at the cap")
	! grep -aqx after-the-flood "$LOG" || why+=("output past the cap is in the log")
	cmp -s "$LOG" "$OUT/public/logs/certified.log" 2>/dev/null ||
	    [ ! -e "$OUT/public/logs/certified.log" ] || why+=("certified.log differs")
	expect_task logcap completed completed 0 >/dev/null || why+=("not completed")
	[ ${#why[@]} -eq 0 ]
}
t "taskLogMaxBytes: one marker line, the log bounded, the task not blocked and completed" test_log_cap logcap

# The marker is in certified.log too (chain of trust signs the capped log).
test_log_cap_cot() {
	local cot_cfg
	# Where no task reaches (the worker refuses a key a task could read).
	KEYS=$(mktemp -d /var/lib/sepworker-test-keys.XXXXXX)
	CFG=$TMP/logcot.config.json
	"$SEPWORKER" new-ed25519-keypair --file "$KEYS/cot.key" >/dev/null ||
	    { why+=("no key"); return 1; }
	mkconfig "$CFG" sepworker.taskLogMaxBytes=65536 \
	    "ed25519SigningKeyLocation=\"$KEYS/cot.key\""
	node -e 'console.log(JSON.stringify({command: [
	    ["/bin/sh", "-c", "head -c 5000000 /dev/zero | tr \"\\0\" y"]],
	    maxRunTime: 60, features: {chainOfTrust: true}}))' >"$TMP/logcot.task"
	run_task logcot --config "$CFG" <"$TMP/logcot.task"
	cot_cfg=$OUT/public/logs/certified.log
	[ "$(grep -ac 'sepworker.taskLogMaxBytes' "$cot_cfg" 2>/dev/null)" = 1 ] ||
	    why+=("certified.log lacks the marker line")
	[ "$(stat -c %s "$cot_cfg" 2>/dev/null || echo 0)" -le $((65536 + 16384)) ] ||
	    why+=("certified.log is $(stat -c %s "$cot_cfg") bytes")
	expect_task logcot completed completed 0 >/dev/null || why+=("not completed")
	[ ${#why[@]} -eq 0 ]
}
t "taskLogMaxBytes: certified.log holds the marker and is bounded too" test_log_cap_cot logcot

# --- collection time ---

# 30000 files against a 1 s collection: what is left is an error naming
# the key, the task fails, and run-task does not hang.
test_collection_time() {
	CFG=$TMP/late.config.json
	mkconfig "$CFG" sepworker.artifactCollectionSeconds=1
	task late 'mkdir d && cd d && seq 30000 | xargs touch' \
	    '[{"type": "directory", "path": "d", "name": "public/d"},
	      {"type": "file", "path": "d/1", "name": "public/last"}]'
	[ -n "$(errors_like artifactCollectionSeconds)" ] ||
	    why+=("no error naming sepworker.artifactCollectionSeconds")
	errors_like artifactCollectionSeconds | grep -qx 'public/last invalid-resource-on-worker' ||
	    why+=("the artifact after the directory is not an error")
	[ "$(written public/d/ | wc -l)" -lt 30000 ] ||
	    why+=("every file was collected")
	grep -aq 'artifactCollectionSeconds' "$LOG" || why+=("the task log does not say")
	[ "$SECS" -lt 60 ] || why+=("run-task took $SECS s")
	failed && [ ${#why[@]} -eq 0 ]
}
t "artifactCollectionSeconds: what is not collected in time is an error naming it; the task fails, nothing hangs" test_collection_time late

# --- a full output disk ---

# A 4 MiB output disk: the 8 MiB artifact does not fit and is removed,
# the ones before and after it are written, result.json is there and
# names it.
test_full_disk() {
	small_disk full 4 || { why+=("no tmpfs"); return 1; }
	task full 'head -c 1000000 /dev/urandom >a.bin; head -c 8388608 /dev/urandom >big.bin; head -c 500000 /dev/urandom >c.bin' \
	    '[{"type": "file", "path": "a.bin", "name": "public/a.bin"},
	      {"type": "file", "path": "big.bin", "name": "public/big.bin"},
	      {"type": "file", "path": "c.bin", "name": "public/c.bin"}]'
	node -e 'JSON.parse(require("fs").readFileSync(process.argv[1]))' "$OUT/result.json" 2>/dev/null ||
	    { why+=("no valid result.json"); return 1; }
	errors_like 'no space left on device writing artifact public/big.bin' | grep -qx 'public/big.bin too-large-file-on-worker' ||
	    why+=("no error saying big.bin did not fit")
	[ ! -e "$OUT/public/big.bin" ] || why+=("a partial big.bin is left")
	[ "$(written public/ | cut -d' ' -f1 | tr '\n' ' ')" = "public/a.bin public/c.bin " ] ||
	    why+=("written: $(written public/ | cut -d' ' -f1 | tr '\n' ' ')")
	failed || return 1
	umount "$TMP/full.mnt" || why+=("the output disk is still in use")
	MNT=("${MNT[@]/$TMP\/full.mnt}")
	[ ${#why[@]} -eq 0 ]
}
t "a full output disk: the artifact that did not fit is named and removed, result.json written, exit 1" test_full_disk full

# The disk fills before any artifact: result.json still holds the
# resolution and every error.
test_full_disk_early() {
	small_disk early 1 || { why+=("no tmpfs"); return 1; }
	task early 'mkdir d; for i in 1 2 3 4 5 6; do head -c 300000 /dev/urandom >d/$i; done' \
	    '[{"type": "directory", "path": "d", "name": "public/d"}]'
	node -e 'JSON.parse(require("fs").readFileSync(process.argv[1]))' "$OUT/result.json" 2>/dev/null ||
	    { why+=("no valid result.json"); return 1; }
	[ "$(errors_like 'no space left on device' | wc -l)" -ge 3 ] ||
	    why+=("$(errors_like 'no space left on device' | wc -l) no-space errors, wanted 3 or more")
	[ "$(( $(written public/d/ | wc -l) + $(errors_like 'no space left' | wc -l) ))" = 6 ] ||
	    why+=("not every file is either written or an error")
	failed && [ ${#why[@]} -eq 0 ]
}
t "a 1 MiB output disk: every artifact is written or named as not fitting, result.json still written" test_full_disk_early early
