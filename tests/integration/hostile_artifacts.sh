# Hostile artifacts: paths and names a task chooses to make the worker
# read what the task cannot, hang on a FIFO or a device, or write outside
# the output directory.  The init opens artifacts as the task user, with no
# symlink followed (taskrunner/collect.c); the supervisor checks every name
# again before writing it beneath the output directory, as root
# (supervisor/taskrun.c, supervisor/outdir.c).  After every run: no byte of
# a secret anywhere under the output directory, nothing new beside it or
# in /etc, and no run may hang (each is bounded by timeout).
. "$(dirname "$0")/lib.sh"

SECRET=sepworker-secret-$$-$RANDOM$RANDOM
SECRET_FILE=/etc/sepworker-hostile-secret.$$
ESCAPE=sepworker-escaped-$$
trap 'rm -f "$SECRET_FILE" "/etc/$ESCAPE" "/tmp/$ESCAPE"; cleanup_all' EXIT
if is_root; then
	printf '%s\n' "$SECRET" >"$SECRET_FILE"
	chmod 600 "$SECRET_FILE"
	SHADOW_LINE=$(head -n 1 /etc/shadow)
fi

# hostile NAME SCRIPT ARTIFACTS: run a task whose command is SCRIPT (sh)
# and whose payload.artifacts is the JSON array ARTIFACTS, as run_task
# does but bounded by timeout.  Sets RC, OUT, LOG, and PROBLEMS: a leaked
# secret, a file written outside OUT, a hang.
hostile() {
	local name=$1 script=$2 artifacts=$3 etc_before tmp_before new f
	OUT=$TMP/$name.out
	LOG=$OUT/public/logs/live_backing.log
	PROBLEMS=""
	node -e '
	    const [script, artifacts, secretFile] = process.argv.slice(1);
	    console.log(JSON.stringify({command: [["/bin/sh", "-c", script]],
		maxRunTime: 20, artifacts: JSON.parse(artifacts),
		env: {SECRET_FILE: secretFile}}));' \
	    "$script" "$artifacts" "$SECRET_FILE" >"$TMP/$name.json" ||
		{ PROBLEMS="bad test: ARTIFACTS is not JSON"; RC=-1; return; }
	etc_before=$(ls -A /etc)
	tmp_before=$(ls -A "$TMP")
	timeout -k 5 60 "$SEPWORKER" run-task "$TMP/$name.json" --out "$OUT" \
	    --config "$TASK_CONFIG" >"$TMP/$name.stdout" 2>"$TMP/$name.stderr"
	RC=$?
	[ $RC -eq 124 ] || [ $RC -eq 137 ] && PROBLEMS="$PROBLEMS; hung (timeout)"
	for f in $(grep -rlaF -e "$SECRET" -e "$SHADOW_LINE" "$OUT"); do
		PROBLEMS="$PROBLEMS; a secret is in $f"
	done
	new=$(comm -13 <(echo "$etc_before") <(ls -A /etc))
	[ -n "$new" ] && PROBLEMS="$PROBLEMS; new in /etc: $new"
	new=$(comm -13 <(echo "$tmp_before") <(ls -A "$TMP") |
	    grep -vxF -e "$name.out" -e "$name.stdout" -e "$name.stderr")
	[ -n "$new" ] && PROBLEMS="$PROBLEMS; new beside the output directory: $new"
	for f in "/etc/$ESCAPE" "/tmp/$ESCAPE" "$TMP/$ESCAPE"; do
		[ -e "$f" ] && PROBLEMS="$PROBLEMS; written: $f"
	done
}

# errors_for NAME: "reason: message" of each artifact error named NAME.
errors_for() {
	node -e '
	    const [file, name] = process.argv.slice(1);
	    const r = JSON.parse(require("fs").readFileSync(file));
	    for (const e of r.artifactErrors.filter(e => e.name === name))
		console.log(e.reason + ": " + e.message);' "$OUT/result.json" "$1"
}

# Names of the artifacts written, one a line.
artifact_names() {
	node -e '
	    const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
	    for (const a of r.artifacts) console.log(a.name);' "$OUT/result.json"
}

# refused NAME REASON TEXT: exactly one error for artifact NAME, with that
# reason and TEXT in its message, and nothing of that name written.
why=()
refused() {
	local got
	got=$(errors_for "$1" 2>&1)
	case $got in
	"$2: "*"$3"*) ;;
	*) why+=("artifact $1: wanted one \"$2\" error saying \"$3\", got: ${got:-none}")
	   return 1;;
	esac
	# The worker's own files are there, whatever the task calls its own.
	case $1 in
	result.json|public/logs|public/logs/live_backing.log) ;;
	*) [ ! -e "$OUT/$1" ] ||
	    { why+=("artifact $1: written to the output directory"); return 1; };;
	esac
	[ "$(printf '%s\n' "$got" | wc -l)" -eq 1 ] &&
	    ! artifact_names | grep -qxF -- "$1" ||
	    { why+=("artifact $1: more than one error, or listed as written"); return 1; }
}

# The task failed, as a task with an artifact error does, and nothing
# leaked or escaped.
failed_cleanly() {
	[ -z "$PROBLEMS" ] && expect_task "$1" failed failed 1 >/dev/null ||
	    { why+=("exit $RC, $(jget "$OUT/result.json" .state 2>&1):$PROBLEMS"); return 1; }
}

show() {
	if [ ! -f "$OUT/result.json" ]; then
		why+=("exit $RC; no result.json: $(ls -ld "$OUT/result.json" 2>&1)"
		    "$(find "$OUT/result.json" 2>&1)" "stderr: $(tail -n 5 "$TMP/$1.stderr")")
		return
	fi
	why+=("artifactErrors: $(jget "$OUT/result.json" .artifactErrors 2>&1)"
	    "artifacts: $(artifact_names 2>&1 | tr '\n' ' ')"
	    "log: $(grep -av '^\[taskcluster' "$LOG" 2>&1 | tail -n 20)"
	    "stderr: $(tail -n 5 "$TMP/$1.stderr")")
}

# t TITLE FUNCTION: one test; FUNCTION succeeds when it passes.
t() {
	why=()
	if ! is_root; then
		skip "$1" "root (tasks run as fresh uids; a root-only file is planted)"
	elif "$2"; then
		ok "$1"
	else
		not_ok "$1" "${why[@]}"
	fi
}

# --- paths ---

LINK_MSG="is or passes through a symbolic link"
OUTSIDE_MSG="is outside the task directory"

test_symlink_to_shadow() {
	hostile shadow 'ln -s /etc/shadow shadow.txt' \
	    '[{"type": "file", "path": "shadow.txt", "name": "public/shadow.txt"}]'
	show shadow
	failed_cleanly shadow &&
	    refused public/shadow.txt invalid-resource-on-worker "$LINK_MSG"
}

test_symlink_to_root_file() {
	hostile rootfile 'ln -s "$SECRET_FILE" secret.txt' \
	    '[{"type": "file", "path": "secret.txt", "name": "public/secret.txt"}]'
	show rootfile
	failed_cleanly rootfile &&
	    refused public/secret.txt invalid-resource-on-worker "$LINK_MSG"
}

# A link to what the task may read: refused as a link, not for want of
# permission.
test_symlink_to_readable_file() {
	hostile readable 'ln -s /etc/passwd passwd.txt' \
	    '[{"type": "file", "path": "passwd.txt", "name": "public/passwd.txt"}]'
	show readable
	failed_cleanly readable &&
	    refused public/passwd.txt invalid-resource-on-worker "$LINK_MSG"
}

test_symlink_chain() {
	hostile chain 'echo inside >real.txt && ln -s real.txt l3 &&
	    ln -s l3 l2 && ln -s l2 l1 && ln -s "$SECRET_FILE" s3 &&
	    ln -s s3 s2 && ln -s s2 s1' \
	    '[{"type": "file", "path": "l1", "name": "public/inside.txt"},
	      {"type": "file", "path": "s1", "name": "public/secret.txt"}]'
	show chain
	failed_cleanly chain &&
	    refused public/inside.txt invalid-resource-on-worker "$LINK_MSG" &&
	    refused public/secret.txt invalid-resource-on-worker "$LINK_MSG"
}

test_path_through_symlinked_dir() {
	hostile linkdir 'mkdir real && echo x >real/f && ln -s real inner &&
	    ln -s /etc outer' \
	    '[{"type": "file", "path": "inner/f", "name": "public/inner.txt"},
	      {"type": "file", "path": "outer/shadow", "name": "public/outer.txt"}]'
	show linkdir
	failed_cleanly linkdir &&
	    refused public/inner.txt invalid-resource-on-worker "$LINK_MSG" &&
	    refused public/outer.txt invalid-resource-on-worker "$LINK_MSG"
}

test_dotdot_path() {
	hostile dotdot 'mkdir sub' \
	    '[{"type": "file", "path": "../../../../../../../../etc/shadow", "name": "public/up.txt"},
	      {"type": "file", "path": "sub/../../x", "name": "public/sub.txt"},
	      {"type": "directory", "path": "..", "name": "public/parent"}]'
	show dotdot
	failed_cleanly dotdot &&
	    refused public/up.txt invalid-resource-on-worker "$OUTSIDE_MSG" &&
	    refused public/sub.txt invalid-resource-on-worker "$OUTSIDE_MSG" &&
	    refused public/parent invalid-resource-on-worker "$OUTSIDE_MSG"
}

test_absolute_path() {
	hostile absolute 'true' \
	    '[{"type": "file", "path": "/etc/shadow", "name": "public/shadow.txt"},
	      {"type": "file", "path": "'"$SECRET_FILE"'", "name": "public/secret.txt"},
	      {"type": "directory", "path": "/etc", "name": "public/etc"}]'
	show absolute
	failed_cleanly absolute &&
	    refused public/shadow.txt invalid-resource-on-worker "$OUTSIDE_MSG" &&
	    refused public/secret.txt invalid-resource-on-worker "$OUTSIDE_MSG" &&
	    refused public/etc invalid-resource-on-worker "$OUTSIDE_MSG"
}

# Opened as the task user: what it cannot read, the worker does not read
# for it.  A hard link to a root-only file is refused when made
# (fs.protected_hardlinks, Landlock); if it were made, it could not be read.
test_unreadable_files() {
	local got
	hostile unreadable 'ln "$SECRET_FILE" hard.txt 2>/dev/null
	    echo mine >mine.txt && chmod 000 mine.txt' \
	    '[{"type": "file", "path": "hard.txt", "name": "public/hard.txt"},
	      {"type": "file", "path": "mine.txt", "name": "public/mine.txt"}]'
	show unreadable
	got=$(errors_for public/hard.txt)
	case $got in
	file-missing-on-worker:*|file-not-readable-on-worker:*) ;;
	*) why+=("public/hard.txt: $got"); return 1;;
	esac
	failed_cleanly unreadable && [ ! -e "$OUT/public/hard.txt" ] &&
	    refused public/mine.txt file-not-readable-on-worker "cannot be read by the task user"
}

# Nobody ever writes to the FIFO: a blocking open or read would hang.
test_fifo() {
	hostile fifo 'mkfifo fifo' \
	    '[{"type": "file", "path": "fifo", "name": "public/fifo.txt"}]'
	show fifo
	failed_cleanly fifo &&
	    refused public/fifo.txt invalid-resource-on-worker "is a FIFO"
}

# Followed, /dev/zero would be an endless artifact.
test_symlink_to_device() {
	hostile device 'ln -s /dev/zero zero && ln -s /dev/urandom random' \
	    '[{"type": "file", "path": "zero", "name": "public/zero.bin"},
	      {"type": "file", "path": "random", "name": "public/random.bin"},
	      {"type": "file", "path": "/dev/zero", "name": "public/devzero.bin"}]'
	show device
	failed_cleanly device &&
	    refused public/zero.bin invalid-resource-on-worker "$LINK_MSG" &&
	    refused public/random.bin invalid-resource-on-worker "$LINK_MSG" &&
	    refused public/devzero.bin invalid-resource-on-worker "$OUTSIDE_MSG"
}

test_directory_artifact_is_symlink() {
	hostile dirlink 'ln -s /etc etc && ln -s / root' \
	    '[{"type": "directory", "path": "etc", "name": "public/etc"},
	      {"type": "directory", "path": "root", "name": "public/root"}]'
	show dirlink
	failed_cleanly dirlink &&
	    refused public/etc invalid-resource-on-worker "$LINK_MSG" &&
	    refused public/root invalid-resource-on-worker "$LINK_MSG" &&
	    [ ! -e "$OUT/public/etc" ] && [ ! -e "$OUT/public/root" ]
}

# Inside a directory artifact, what is not a regular file or a directory
# is skipped with a note in the log; the regular files are collected.
test_symlinks_inside_directory() {
	local names
	hostile indir 'mkdir -p d/sub && echo ok >d/ok.txt &&
	    ln -s /etc/shadow d/shadow && ln -s "$SECRET_FILE" d/sub/secret &&
	    ln -s /etc d/etc && ln -s ../../real.txt d/sub/up &&
	    echo real >real.txt && mkfifo d/fifo' \
	    '[{"type": "directory", "path": "d", "name": "public/d"}]'
	show indir
	names=$(artifact_names)
	[ -z "$PROBLEMS" ] || { why+=("$PROBLEMS"); return 1; }
	[ "$names" = public/d/ok.txt ] && [ "$(cat "$OUT/public/d/ok.txt")" = ok ] &&
	    grep -q 'skipping d/shadow, which is a symbolic link' "$LOG" &&
	    grep -q 'skipping d/sub/secret, which is a symbolic link' "$LOG" &&
	    grep -q 'skipping d/etc, which is a symbolic link' "$LOG" &&
	    grep -q 'skipping d/sub/up, which is a symbolic link' "$LOG" &&
	    grep -q 'skipping d/fifo, which is a FIFO' "$LOG" &&
	    [ "$(find "$OUT/public/d" -mindepth 1 | sort)" = "$OUT/public/d/ok.txt" ]
}

# Background processes keep swapping a regular file and a symlink to a
# secret until the init kills them, before it collects anything.  Whatever
# state they were killed in, what is collected is the regular file's bytes,
# or nothing.  Each new state is made aside and renamed into place, so the
# collected paths only ever hold a whole file or a link.
test_file_swapped_for_symlink() {
	local n bad=""
	hostile race 'echo data >race.txt && mkdir racedir &&
	    echo data >racedir/f || exit 1
	    (while :; do ln -sf "$SECRET_FILE" race.new; mv -f race.new race.txt
		echo data >race.new; mv -f race.new race.txt; done) &
	    (while :; do ln -sf /etc/shadow dir.new; mv -f dir.new racedir/f
		echo data >dir.new; mv -f dir.new racedir/f; done) &
	    i=0; while [ $i -lt 300 ] && [ -z "$link" -o -z "$file" ]; do
		[ -L race.txt ] && link="seen a link" || file="seen a file"
		sleep 0.01; i=$((i + 1)); done
	    echo "$link, $file"' \
	    '[{"type": "file", "path": "race.txt", "name": "public/race.txt"},
	      {"type": "directory", "path": "racedir", "name": "public/racedir"}]'
	show race
	[ -z "$PROBLEMS" ] || { why+=("$PROBLEMS"); return 1; }
	for n in $(artifact_names); do
		case $n in
		public/race.txt|public/racedir/f) ;;
		*) bad="$bad $n(unexpected)";;
		esac
		[ "$(cat "$OUT/$n")" = data ] || bad="$bad $n"
	done
	why+=("collected, with other bytes than the file's:$bad")
	# The swapping did happen.
	[ -z "$bad" ] && grep -qx 'seen a link, seen a file' "$LOG" &&
	    { artifact_names | grep -qx public/race.txt ||
	      refused public/race.txt invalid-resource-on-worker "$LINK_MSG"; }
}

# --- names ---

# Every name below is refused; the file it names is fine.
test_hostile_names() {
	local long n
	long=public/$(printf 'x%.0s' $(seq 1100))
	hostile names 'echo payload >payload.txt && echo other >other.txt' \
	    '[{"type": "file", "path": "payload.txt", "name": "public/dup.txt"},
	      {"type": "file", "path": "other.txt", "name": "public/dup.txt"},
	      {"type": "file", "path": "payload.txt", "name": "../'"$ESCAPE"'"},
	      {"type": "file", "path": "payload.txt", "name": "public/../../'"$ESCAPE"'"},
	      {"type": "file", "path": "payload.txt", "name": "../../../../../../../../etc/'"$ESCAPE"'"},
	      {"type": "file", "path": "payload.txt", "name": "/etc/'"$ESCAPE"'"},
	      {"type": "file", "path": "payload.txt", "name": "/tmp/'"$ESCAPE"'"},
	      {"type": "file", "path": "payload.txt", "name": "./public/dot.txt"},
	      {"type": "file", "path": "payload.txt", "name": "public//empty.txt"},
	      {"type": "file", "path": "payload.txt", "name": "public/trailing/"},
	      {"type": "file", "path": "payload.txt", "name": "public/new\nline.txt"},
	      {"type": "file", "path": "payload.txt", "name": "public/del\u007f.txt"},
	      {"type": "file", "path": "payload.txt", "name": "public/c1\u0085.txt"},
	      {"type": "file", "path": "payload.txt", "name": "public\\back.txt"},
	      {"type": "file", "path": "payload.txt", "name": "'"$long"'"},
	      {"type": "file", "path": "payload.txt", "name": "public/logs/live_backing.log"},
	      {"type": "file", "path": "payload.txt", "name": "public/logs/live.log"},
	      {"type": "file", "path": "payload.txt", "name": "public/logs/certified.log"},
	      {"type": "file", "path": "payload.txt", "name": "public/chain-of-trust.json"},
	      {"type": "file", "path": "payload.txt", "name": "public/chain-of-trust.json.sig"},
	      {"type": "file", "path": "payload.txt", "name": "result.json"},
	      {"type": "file", "path": "payload.txt", "name": "public/logs"}]'
	show names
	failed_cleanly names || return 1
	for n in "../$ESCAPE" "public/../../$ESCAPE" "../../../../../../../../etc/$ESCAPE" \
	    ./public/dot.txt; do
		refused "$n" invalid-resource-on-worker 'has a "." or ".." segment' || return 1
	done
	for n in "/etc/$ESCAPE" "/tmp/$ESCAPE"; do
		refused "$n" invalid-resource-on-worker "is an absolute path" || return 1
	done
	for n in public//empty.txt public/trailing/; do
		refused "$n" invalid-resource-on-worker "has an empty path segment" || return 1
	done
	for n in $'public/new\nline.txt' $'public/del\x7f.txt' $'public/c1\xc2\x85.txt'; do
		refused "$n" invalid-resource-on-worker "contains a control character" || return 1
	done
	refused 'public\back.txt' invalid-resource-on-worker "contains a backslash" &&
	    refused "$long" invalid-resource-on-worker "is longer than 1024 bytes" || return 1
	# The worker's own names are skipped, as generic-worker skips them:
	# logged, no error, nothing written in the worker's place.
	for n in public/logs/live_backing.log public/logs/live.log \
	    public/logs/certified.log public/chain-of-trust.json \
	    public/chain-of-trust.json.sig result.json; do
		grep -q "^\[taskcluster:warn [^]]*\] Not uploading artifact $n found in task.payload.artifacts section, since this will be uploaded later by [A-Za-z -]*\$" "$LOG" &&
		    [ -z "$(errors_for "$n")" ] ||
		    { why+=("$n: not skipped as the worker's own name"); return 1; }
	done
	# A directory a name of the worker's is made in: refused.
	refused public/logs invalid-resource-on-worker "reserved" || return 1
	# Of the two public/dup.txt, the first was written, and only it.
	[ "$(errors_for public/dup.txt)" = "invalid-resource-on-worker: an artifact of that name was already written" ] &&
	    [ "$(artifact_names)" = public/dup.txt ] &&
	    [ "$(cat "$OUT/public/dup.txt")" = payload ] &&
	    # The worker's own files are the worker's.
	    grep -q '=== Task Finished ===' "$LOG" && ! grep -qx payload "$LOG" &&
	    [ "$(jget "$OUT/result.json" .state)" = failed ] &&
	    [ "$(find "$OUT" -type f | sort)" = "$OUT/public/dup.txt
$OUT/public/logs/live_backing.log
$OUT/result.json" ]
}

# A name below one the worker writes itself: as a directory there, the
# worker's own file could not be written.
test_names_below_reserved() {
	hostile below 'echo payload >payload.txt && mkdir -p d && echo x >d/f' \
	    '[{"type": "file", "path": "payload.txt", "name": "result.json/x"},
	      {"type": "directory", "path": "d", "name": "result.json"},
	      {"type": "file", "path": "payload.txt", "name": "public/logs/live_backing.log/x"}]'
	show below
	[ -f "$OUT/result.json" ] ||
	    { why+=("result.json is not the worker's file: the task's artifacts were written below it"); return 1; }
	[ -f "$LOG" ] && failed_cleanly below &&
	    refused result.json/x invalid-resource-on-worker "" &&
	    refused result.json/f invalid-resource-on-worker "" &&
	    refused public/logs/live_backing.log/x invalid-resource-on-worker ""
}

# The task names the files inside a directory artifact: those names are
# checked like any other.
test_names_from_directory() {
	hostile dirnames 'mkdir -p d/logs && echo ok >d/ok.txt &&
	    printf x >"d/new
line" && printf x >"d/back\\slash" && echo fake >d/logs/live_backing.log' \
	    '[{"type": "directory", "path": "d", "name": "public/d"},
	      {"type": "directory", "path": "d", "name": "public"}]'
	show dirnames
	failed_cleanly dirnames &&
	    refused $'public/d/new\nline' invalid-resource-on-worker "contains a control character" &&
	    refused 'public/d/back\slash' invalid-resource-on-worker "contains a backslash" &&
	    grep -qF "Not uploading artifact public/logs/live_backing.log found in task.payload.artifacts section, since this will be uploaded later by Backing log" "$LOG" &&
	    [ "$(cat "$OUT/public/d/ok.txt")" = ok ] &&
	    [ "$(cat "$OUT/public/ok.txt")" = ok ] &&
	    ! grep -qx fake "$LOG"
}

test_nothing_anywhere() {
	local f
	f=$(grep -rlaF -e "$SECRET" -e "$SHADOW_LINE" "$TMP" 2>/dev/null)
	why=("found in: $f")
	[ -z "$f" ] && [ ! -e "/etc/$ESCAPE" ] && [ ! -e "/tmp/$ESCAPE" ]
}

t "artifact: a symlink to /etc/shadow is refused, nothing read" test_symlink_to_shadow
t "artifact: a symlink to a root-only file is refused, nothing read" test_symlink_to_root_file
t "artifact: a symlink to a file the task may read is refused too" test_symlink_to_readable_file
t "artifact: symlink chains, to a file inside or to a secret, are refused" test_symlink_chain
t "artifact: a path through a symlinked directory is refused" test_path_through_symlinked_dir
t "artifact: paths with .. out of the task directory are refused" test_dotdot_path
t "artifact: absolute paths are refused" test_absolute_path
t "artifact: files the task user cannot read (a hard link to a root-only file, mode 000) are not read" test_unreadable_files
t "artifact: a FIFO is refused, and does not hang the worker" test_fifo
t "artifact: symlinks to devices, and a device path, are refused" test_symlink_to_device
t "artifact: a directory artifact that is a symlink is refused" test_directory_artifact_is_symlink
t "artifact: in a directory artifact, symlinks and FIFOs are skipped, noted, not followed" test_symlinks_inside_directory
t "artifact: a file swapped with a symlink until killed: its own bytes or nothing" test_file_swapped_for_symlink
t "artifact names: .., absolute, empty segments, control characters, backslash, too long, reserved, duplicate" test_hostile_names
t "artifact names below result.json or the live log are refused; result.json is still written" test_names_below_reserved
t "artifact names made of file names inside a directory artifact are checked too" test_names_from_directory
t "no secret in any output, nothing written outside them" test_nothing_anywhere
