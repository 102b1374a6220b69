# The task sandbox (DESIGN.md §4) as a task sees it, end to end through
# sepworker run-task: its own pid namespace and uid, the syscalls it is
# refused, the host processes and files it cannot reach, its process limit,
# its private /tmp, /dev/shm and /run, its network, and what is left of it
# afterwards.  tests/helpers/try_syscall makes the probes.
. "$(dirname "$0")/lib.sh"

TRY=$HELPERS_ABS/try_syscall
# Planted by the tests below, removed on exit.
SECRET=sepworker-secret-$$-$RANDOM$RANDOM
ROOT_FILE=/etc/sepworker-test-root.$$
KEYHOLDER_FILE=/etc/sepworker-test-64501.$$
PUBLIC_FILE=/var/tmp/sepworker-test-public.$$
SHARED_FILE=/var/tmp/sepworker-test-shared.$$
RUN_SOCKET=/run/sepworker-test-$$.sock
MARKER=sepworker-marker-$$-$RANDOM
# The uid the keyholder runs as: a host uid that is not the task's.
OTHER_UID=64501

sandbox_cleanup() {
	rm -f "$ROOT_FILE" "$KEYHOLDER_FILE" "$PUBLIC_FILE" "$SHARED_FILE" \
	    "$RUN_SOCKET" /etc/sepworker-w.$$ /var/tmp/sepworker-w.$$ \
	    /usr/sepworker-w.$$ "$HELPERS_ABS/sepworker-w.$$" \
	    "$TASKS/sepworker-w.$$" "/tmp/$MARKER" "/dev/shm/$MARKER"
}
trap 'sandbox_cleanup; cleanup_all' EXIT

# task_json [-t MAXRUNTIME] SCRIPT [NAME=VALUE...]: a payload running SCRIPT
# with /bin/sh, the pairs in its environment; TRY is always there.
task_json() {
	local max=30
	if [ "$1" = -t ]; then max=$2; shift 2; fi
	node -e '
	    const [script, max, ...pairs] = process.argv.slice(1);
	    const env = {};
	    for (const p of pairs) {
		const i = p.indexOf("=");
		env[p.slice(0, i)] = p.slice(i + 1);
	    }
	    console.log(JSON.stringify({command: [["/bin/sh", "-c", script]],
		maxRunTime: Number(max), env}));' "$1" "$max" "TRY=$TRY" "${@:2}"
}

# with_config NAME KEY=JSONVALUE...: $TMP/worker-NAME.json, the test
# config with those "sepworker" keys changed; prints its path.  The later
# --config given to run-task is the one used.
with_config() {
	local file=$TMP/worker-$1.json; shift
	node -e '
	    const fs = require("fs");
	    const [from, to, ...pairs] = process.argv.slice(1);
	    const c = JSON.parse(fs.readFileSync(from));
	    for (const p of pairs) {
		const i = p.indexOf("=");
		c.sepworker[p.slice(0, i)] = JSON.parse(p.slice(i + 1));
	    }
	    fs.writeFileSync(to, JSON.stringify(c, null, 2));' \
	    "$TASK_CONFIG" "$file" "$@"
	echo "$file"
}

# Uids of every process on the host, one a line.
process_uids() { ps -e -o uid= | tr -d ' '; }
uid_processes() { process_uids | grep -cx "$1"; }

# The lines a probe printed ("NAME: ok", "NAME: EPERM"), in order.
probe_lines() { grep -aE '^([a-z]+ )?[a-z_0-9]+: (ok|E[A-Z0-9]+)$' "$LOG"; }

# Diagnostics for the test being run: set by the test, shown on failure.
why=()
show_task() {
	why+=("exit $RC; result: $(jget "$OUT/result.json" .state 2>&1)/$(jget "$OUT/result.json" .reasonResolved 2>&1)")
	[ -f "$LOG" ] && why+=("log:" "$(grep -v '^\[taskcluster' "$LOG" | tail -n 40)")
	why+=("stderr: $(tail -n 5 "$TMP/$1.stderr" 2>/dev/null)")
}

# t TITLE FUNCTION: one test; FUNCTION succeeds when it passes.
t() {
	why=()
	if ! is_root; then
		skip "$1" "root (each task gets a fresh uid)"
	elif "$2"; then
		ok "$1"
	else
		not_ok "$1" "${why[@]}"
	fi
}

# --- the probes themselves ---

# Outside the sandbox, as an ordinary uid, the probes that the kernel
# would allow are not refused: an EPERM inside a task is the sandbox's.
# (mount, umount2 and unshare_mnt need privilege anyway, and are left out.)
test_probes_work_outside() {
	local n out bad=""
	for n in ptrace io_uring_setup unshare_user clone_newuser clone3 bpf \
	    keyctl perf_event_open userfaultfd setns process_vm_readv \
	    tiocsti tiocsti_high; do
		out=$(setpriv --reuid=$OTHER_UID --regid=$OTHER_UID \
		    --clear-groups "$TRY" $n)
		case $out in
		"$n: EPERM"|"$n: ENOSYS"|"") bad="$bad [$n: $out]";;
		esac
	done
	out=$("$TRY" no_such_probe 2>/dev/null); n=$?
	[ $n -eq 2 ] && [ -z "$out" ] || bad="$bad [unknown probe: exit $n]"
	why=("refused outside the sandbox:$bad")
	[ -z "$bad" ]
}

# --- who the task is, what it sees ---

test_only_own_processes() {
	local payload uid ps
	payload=$(task_json 'echo "mypid: $$"; ps -e -o pid=,uid=,comm= | sed "s/^ */ps: /"
	    for p in /proc/[0-9]*; do echo "proc: ${p#/proc/}"; done')
	run_task pidns <<<"$payload"
	uid=$(task_uid)
	ps=$(grep '^ps: ' "$LOG")
	show_task pidns
	expect_task pidns completed completed 0 >/dev/null && [ -n "$uid" ] &&
	    # pid 1 is the task's init; besides it, the shell and ps.
	    echo "$ps" | grep -qE '^ps: 1 [0-9]+ ' &&
	    [ "$(echo "$ps" | wc -l)" -le 8 ] &&
	    [ -z "$(echo "$ps" | awk -v u="$uid" '$3 != u')" ] &&
	    [ "$(grep -c '^proc: ' "$LOG")" -le 8 ] &&
	    [ -z "$(grep -E '^(proc|mypid): ' "$LOG" | awk '$2 > 100')" ]
}

test_task_identity() {
	local payload uid
	payload=$(task_json 'echo "id: $(id -u) $(id -g) $(id -un)"
	    echo "getent: $(getent passwd "$(id -u)")"
	    echo "byname: $(getent passwd "$(id -un)" | cut -d: -f3)"')
	run_task identity <<<"$payload"
	uid=$(task_uid)
	show_task identity
	why+=("task uid $uid")
	expect_task identity completed completed 0 >/dev/null &&
	    [ -n "$uid" ] && [ "$uid" -ge 64600 ] && [ "$uid" -le 64999 ] &&
	    grep -qx "id: $uid $uid task_$uid" "$LOG" &&
	    grep -q "^getent: task_$uid:x:$uid:$uid:" "$LOG" &&
	    grep -qx "byname: $uid" "$LOG" &&
	    # No passwd entry on the host (DESIGN.md §4).
	    ! getent passwd "$uid" >/dev/null
}

test_uid_from_configured_range() {
	local payload cfg uid
	cfg=$(with_config uidrange taskUidFirst=70100 taskUidCount=3)
	payload=$(task_json 'echo "id: $(id -u)"')
	run_task uidrange --config "$cfg" <<<"$payload"
	uid=$(task_uid)
	show_task uidrange
	expect_task uidrange completed completed 0 >/dev/null &&
	    [ -n "$uid" ] && [ "$uid" -ge 70100 ] && [ "$uid" -le 70102 ] &&
	    grep -qx "id: $uid" "$LOG"
}

test_syscalls_refused() {
	local payload want got
	want="ptrace: EPERM
io_uring_setup: EPERM
mount: EPERM
umount2: EPERM
unshare_user: EPERM
unshare_mnt: EPERM
clone_newuser: EPERM
clone3: ENOSYS
bpf: EPERM
keyctl: EPERM
perf_event_open: EPERM
userfaultfd: EPERM
setns: EPERM
process_vm_readv: EPERM
tiocsti: EPERM
tiocsti_high: EPERM"
	payload=$(task_json 'for n in ptrace io_uring_setup mount umount2 unshare_user \
	    unshare_mnt clone_newuser clone3 bpf keyctl perf_event_open \
	    userfaultfd setns process_vm_readv tiocsti tiocsti_high; do
	    "$TRY" $n; done')
	run_task syscalls <<<"$payload"
	got=$(probe_lines)
	show_task syscalls
	why+=("wanted:" "$want" "got:" "$got")
	expect_task syscalls completed completed 0 >/dev/null &&
	    [ "$got" = "$want" ]
}

test_status_confined() {
	local payload p f bad=""
	payload=$(task_json 'echo "shell: $$"; for p in 1 $$ self; do
	    grep -E "^(NoNewPrivs|Seccomp|Seccomp_filters|Cap(Inh|Prm|Eff|Bnd|Amb)):" \
		/proc/$p/status | sed "s/^/$p /"; done')
	run_task status <<<"$payload"
	show_task status
	expect_task status completed completed 0 >/dev/null || return 1
	# The init (1), the shell running the script, grep itself (self).
	for p in 1 "$(sed -n 's/^shell: //p' "$LOG")" self; do
		[ "$(grep -c "^$p " "$LOG")" -eq 8 ] || bad="$bad $p:lines"
		grep -qP "^$p NoNewPrivs:\t1$" "$LOG" || bad="$bad $p:NoNewPrivs"
		grep -qP "^$p Seccomp:\t2$" "$LOG" || bad="$bad $p:Seccomp"
		# The taskrunner's filter and the init's, stacked.
		grep -qP "^$p Seccomp_filters:\t([2-9]|[1-9][0-9])$" "$LOG" ||
			bad="$bad $p:Seccomp_filters"
		for f in CapInh CapPrm CapEff CapBnd CapAmb; do
			grep -qP "^$p $f:\t0{16}$" "$LOG" || bad="$bad $p:$f"
		done
	done
	why+=("wrong:$bad")
	[ -z "$bad" ]
}

# --- the host's processes ---

# The task is told the pids of a root process, a process of another uid
# and of the supervisor running it, and tries to signal, trace, read and
# open each; then the same calls on a process of its own, which work.
# The supervisor's pid is known before it reads the task file: it waits
# on a FIFO until the file is written.
test_host_processes() {
	local root_pid other_pid sup want got l
	sleep 300 & root_pid=$!
	setpriv --reuid=$OTHER_UID --regid=$OTHER_UID --clear-groups \
	    sleep 300 & other_pid=$!
	_pids+=("$root_pid" "$other_pid")
	mkfifo "$TMP/hostprocs.go"
	OUT=$TMP/hostprocs.out
	LOG=$OUT/public/logs/live_backing.log
	(read -r _ <"$TMP/hostprocs.go"
	 exec "$SEPWORKER" run-task "$TMP/hostprocs.json" --out "$OUT" \
	     --config "$TASK_CONFIG" >"$TMP/hostprocs.stdout" \
	     2>"$TMP/hostprocs.stderr") &
	sup=$!
	_pids+=("$sup")
	task_json 'for t in root:$ROOT_PID other:$OTHER_PID sup:$SUP_PID; do
	    l=${t%%:*} p=${t#*:}
	    echo "$l $("$TRY" kill $p 9)"
	    echo "$l $("$TRY" ptrace $p)"
	    echo "$l $("$TRY" process_vm_readv $p)"
	    echo "$l $("$TRY" open /proc/$p/mem)"
	    echo "$l $("$TRY" pidfd_open $p)"
	done
	sleep 30 & p=$!
	echo "own $("$TRY" pidfd_open $p)"
	echo "own $("$TRY" open /proc/$p/status)"
	echo "own $("$TRY" kill $p 9)"' \
	    ROOT_PID=$root_pid OTHER_PID=$other_pid SUP_PID=$sup \
	    >"$TMP/hostprocs.json"
	echo go >"$TMP/hostprocs.go"
	wait "$sup"; RC=$?
	want=""
	for l in root other sup; do
		want="$want$l kill: ESRCH
$l ptrace: EPERM
$l process_vm_readv: EPERM
$l open: ENOENT
$l pidfd_open: ESRCH
"
	done
	want="${want}own pidfd_open: ok
own open: ok
own kill: ok"
	got=$(probe_lines)
	show_task hostprocs
	why+=("wanted:" "$want" "got:" "$got")
	expect_task hostprocs completed completed 0 >/dev/null &&
	    [ "$got" = "$want" ] &&
	    # The pid given was the supervisor's, and the others are alive.
	    grep -q "supervisor\[$sup\]" "$TMP/hostprocs.stderr" &&
	    alive "$root_pid" && alive "$other_pid"
	l=$?
	kill "$root_pid" "$other_pid" 2>/dev/null
	return $l
}

# --- limits ---

BOMB_CONFIG=
# A fork bomb that holds on to what it has: every process loops forking
# (bash retries a failed fork, where dash would give up and exit).  While
# it runs, the host samples how many processes the task's uids have.
test_fork_bomb_contained() {
	local payload sampler max t0 t1 uid left
	BOMB_CONFIG=$(with_config bomb taskMaxProcesses=20 \
	    taskUidFirst=70200 taskUidCount=3)
	(max=0; while :; do
		n=$(process_uids | awk '$1 >= 70200 && $1 <= 70202' | wc -l)
		[ "$n" -gt "$max" ] && { max=$n; echo "$max" >"$TMP/bomb.max"; }
		sleep 0.05
	done) & sampler=$!
	_pids+=("$sampler")
	t0=$(now_ms)
	payload=$(task_json -t 3 'grep "Max processes" /proc/self/limits
	    sleep 1 & s=$!
	    bash -c "$BOMB" 2>/dev/null &
	    wait $s
	    set -- /proc/[0-9]*; echo "processes: $#"
	    wait' 'BOMB=bomb() { while :; do bomb & done; }; bomb')
	run_task bomb --config "$BOMB_CONFIG" <<<"$payload"
	t1=$(now_ms)
	kill "$sampler"; wait "$sampler" 2>/dev/null
	max=$(cat "$TMP/bomb.max" 2>/dev/null)
	uid=$(task_uid)
	left=$(uid_processes "${uid:-none}")
	show_task bomb
	why+=("took $((t1 - t0)) ms; most processes seen at once: $max;" \
	    "uid $uid has $left processes left")
	expect_task bomb failed failed 1 >/dev/null &&
	    grep -q 'max run time exceeded' "$LOG" &&
	    grep -qE '^Max processes +20 +20 ' "$LOG" &&
	    # The bomb reached the limit, and not past it.
	    grep -qE '^processes: (1[5-9]|20)$' "$LOG" &&
	    [ -n "$max" ] && [ "$max" -ge 15 ] && [ "$max" -le 20 ] &&
	    [ $((t1 - t0)) -lt 10000 ] && [ -n "$uid" ] && [ "$left" -eq 0 ]
}

test_after_bomb_healthy() {
	local payload uid
	payload=$(task_json 'echo still working')
	run_task afterbomb --config "${BOMB_CONFIG:-$TASK_CONFIG}" <<<"$payload"
	uid=$(task_uid)
	show_task afterbomb
	expect_task afterbomb completed completed 0 >/dev/null &&
	    grep -qx 'still working' "$LOG" &&
	    [ -z "$(process_uids | awk '$1 >= 70200 && $1 <= 70202')" ]
}

# --- files ---

test_files_of_others_unreadable() {
	local payload f want="" got
	printf '%s\n' "$SECRET" >"$ROOT_FILE"
	chmod 600 "$ROOT_FILE"
	printf '%s\n' "$SECRET" >"$KEYHOLDER_FILE"
	chown $OTHER_UID:$OTHER_UID "$KEYHOLDER_FILE"
	chmod 600 "$KEYHOLDER_FILE"
	# World-readable, but outside what Landlock lets tasks read.
	printf '%s\n' "$SECRET" >"$PUBLIC_FILE"
	chmod 644 "$PUBLIC_FILE"
	payload=$(task_json 'for f in "$ROOT_FILE" "$KEYHOLDER_FILE" "$PUBLIC_FILE" \
	    /etc/shadow /etc/passwd "$TRY"; do
		echo "$f $("$TRY" open "$f")"
		cat "$f" >/dev/null 2>&1 && echo "read $f"
	done
	cat "$ROOT_FILE" "$KEYHOLDER_FILE" "$PUBLIC_FILE" /etc/shadow 2>&1
	true' ROOT_FILE="$ROOT_FILE" KEYHOLDER_FILE="$KEYHOLDER_FILE" \
	    PUBLIC_FILE="$PUBLIC_FILE")
	run_task files <<<"$payload"
	for f in "$ROOT_FILE" "$KEYHOLDER_FILE"; do
		want="$want$f open: EACCES
"
	done
	# Outside the task's root (taskroot.sh has more of those).
	want="$want$PUBLIC_FILE open: ENOENT
/etc/shadow open: EACCES
"
	# The controls: what tasks may read, they can.
	want="$want/etc/passwd open: ok
$TRY open: ok"
	got=$(grep -E '^/[^ ]+ open: ' "$LOG")
	show_task files
	why+=("wanted:" "$want" "got:" "$got")
	expect_task files completed completed 0 >/dev/null &&
	    [ "$got" = "$want" ] &&
	    [ "$(grep '^read ' "$LOG")" = "read /etc/passwd
read $TRY" ] &&
	    ! grep -aqF "$SECRET" "$LOG" &&
	    ! grep -aqF "$(head -n 1 /etc/shadow)" "$LOG"
}

test_writes_confined() {
	local payload f created="" want got
	: >"$SHARED_FILE"
	chmod 666 "$SHARED_FILE"
	payload=$(task_json 'for f in /etc/sepworker-w.$N /var/tmp/sepworker-w.$N \
	    "$SHARED" /usr/sepworker-w.$N "$HELPERS/sepworker-w.$N" \
	    "$TASKS/sepworker-w.$N" ./w /tmp/w /dev/shm/w; do
		if echo x 2>/dev/null >>"$f"; then echo "wrote $f"
		else echo "refused $f"; fi
	done
	touch /etc/sepworker-w.$N 2>/dev/null || echo "touch refused"' \
	    N=$$ SHARED="$SHARED_FILE" HELPERS="$HELPERS_ABS" TASKS="$TASKS")
	run_task writes <<<"$payload"
	want="refused /etc/sepworker-w.$$
refused /var/tmp/sepworker-w.$$
refused $SHARED_FILE
refused /usr/sepworker-w.$$
refused $HELPERS_ABS/sepworker-w.$$
refused $TASKS/sepworker-w.$$
wrote ./w
wrote /tmp/w
wrote /dev/shm/w
touch refused"
	got=$(grep -E '^(wrote|refused|touch) ' "$LOG")
	for f in /etc/sepworker-w.$$ /var/tmp/sepworker-w.$$ \
	    /usr/sepworker-w.$$ "$HELPERS_ABS/sepworker-w.$$" \
	    "$TASKS/sepworker-w.$$"; do
		[ -e "$f" ] && created="$created $f"
	done
	[ -s "$SHARED_FILE" ] && created="$created $SHARED_FILE(written)"
	show_task writes
	why+=("wanted:" "$want" "got:" "$got" "on the host:$created")
	expect_task writes completed completed 0 >/dev/null &&
	    [ "$got" = "$want" ] && [ -z "$created" ]
}

# --- private /tmp, /dev/shm, /run ---

test_tmp_private() {
	local payload left=""
	payload=$(task_json 'echo left >/tmp/$M && echo left >/dev/shm/$M &&
	    mkdir /tmp/$M.d && ls /tmp /dev/shm' M=$MARKER)
	run_task tmpwrite <<<"$payload"
	grep -qx "$MARKER" "$LOG" || left="first task could not write"
	payload=$(task_json 'ls -A /tmp /dev/shm | sed "s/^/next: /"')
	run_task tmpread <<<"$payload"
	show_task tmpread
	[ -e "/tmp/$MARKER" ] || [ -e "/dev/shm/$MARKER" ] ||
	    [ -e "/tmp/$MARKER.d" ] && left="$left; on the host"
	[ -n "$(find /tmp /dev/shm -maxdepth 3 -name "$MARKER*" 2>/dev/null)" ] &&
	    left="$left; found below the host's /tmp"
	why+=("$left")
	expect_task tmpread completed completed 0 >/dev/null &&
	    [ -z "$left" ] &&
	    # ls of two empty directories: their names and nothing else.
	    [ "$(grep '^next: ' "$LOG")" = "next: /dev/shm:
next: 
next: /tmp:" ]
}

test_run_hides_host_sockets() {
	local payload resolv e leaked=""
	node -e 'require("net").createServer().listen(process.argv[1],
	    () => process.exit(0))' "$RUN_SOCKET"
	# Seen on the host the way the task looks: the test can see a socket.
	find /run -type s | grep -qxF "$RUN_SOCKET" ||
	    { why=("could not plant $RUN_SOCKET"); return 1; }
	payload=$(task_json 'find /run -mindepth 1 | sed "s/^/run: /"
	    find /run -type s | sed "s/^/socket: /"')
	run_task run <<<"$payload"
	show_task run
	# The resolver's file is kept if /etc/resolv.conf points into /run.
	resolv=$(readlink -f /etc/resolv.conf)
	for e in /run/*; do
		case $resolv in "$e"|"$e"/*) continue;; esac
		grep -qx "run: $e" "$LOG" && leaked="$leaked $e"
	done
	why+=("host entries seen:$leaked")
	expect_task run completed completed 0 >/dev/null && [ -z "$leaked" ] &&
	    ! grep -q '^socket: ' "$LOG" && ! grep -q "$RUN_SOCKET" "$LOG"
}

# --- network ---

net_script='ls /sys/class/net | sed "s/^/sysnet: /"
    echo "loflags: $(cat /sys/class/net/lo/flags)"
    ip -o link show | cut -d" " -f2,3 | sed "s/^/link: /"
    tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sed "s/^/procnet: /"'

test_isolated_netns_has_only_lo() {
	local payload cfg
	cfg=$(with_config isolated taskNetwork='"isolated"')
	payload=$(task_json "$net_script")
	run_task isolated --config "$cfg" <<<"$payload"
	show_task isolated
	expect_task isolated completed completed 0 >/dev/null &&
	    [ "$(grep '^procnet: ' "$LOG")" = "procnet: lo" ] &&
	    [ "$(grep '^link: ' "$LOG" | cut -d' ' -f2)" = "lo:" ] &&
	    grep -q '^link: lo: <[A-Z_,]*\<UP\>' "$LOG"
}

# Reads the same task's log: /sys must describe the task's namespace too.
test_isolated_sys_class_net() {
	local flags
	flags=$(sed -n 's/^loflags: //p' "$LOG")
	why=("/sys/class/net/lo/flags: $flags" "$(grep '^sysnet: ' "$LOG")")
	[ "$(grep '^sysnet: ' "$LOG")" = "sysnet: lo" ] && [ -n "$flags" ] &&
	    [ $((flags & 1)) -eq 1 ]
}

test_host_network_shared() {
	local payload host_links
	host_links=$(ip -o link show | cut -d' ' -f2 | sort)
	payload=$(task_json "$net_script")
	run_task hostnet <<<"$payload"
	show_task hostnet
	why+=("host: $(echo $host_links)")
	expect_task hostnet completed completed 0 >/dev/null &&
	    [ "$(sed -n 's/^link: \([^ ]*\) .*/\1/p' "$LOG" | sort)" = "$host_links" ] &&
	    # sysfs is the host's network namespace's: the task's /sys has
	    # no interfaces (README "The task sandbox").
	    ! grep -q '^sysnet: ' "$LOG"
}

# --- afterwards ---

# task_dir: the directory the last task ran in, from its result.
task_dir() { echo "$TASKS/tasks/task_$(jget "$OUT/result.json" .taskId 2>/dev/null)_0"; }

test_nothing_left() {
	local payload uid dir
	payload=$(task_json '(setsid sleep 300 &); mkdir -p sub/deeper &&
	    touch sub/deeper/f /tmp/f && echo made')
	run_task leftover <<<"$payload"
	uid=$(task_uid)
	dir=$(task_dir)
	show_task leftover
	why+=("uid $uid: $(uid_processes "${uid:-none}") processes;" \
	    "$(ls -ld "$dir" 2>&1)")
	expect_task leftover completed completed 0 >/dev/null &&
	    grep -qx made "$LOG" && [ -n "$uid" ] &&
	    [ "$(uid_processes "$uid")" -eq 0 ] && [ ! -e "$dir" ]
}

# The task may take its own rights away: the init, as the task user, must
# give them back to itself to empty the directory.
test_unreadable_dir_removed() {
	local payload dir
	payload=$(task_json 'mkdir -p locked/deeper noread && touch locked/deeper/f &&
	    touch noread/f && chmod 000 locked && chmod 300 noread &&
	    chmod 500 . && echo made')
	run_task locked <<<"$payload"
	dir=$(task_dir)
	show_task locked
	why+=("$(ls -ld "$dir" 2>&1)" "$(find "$dir" 2>&1)")
	expect_task locked completed completed 0 >/dev/null &&
	    grep -qx made "$LOG" && [ ! -e "$dir" ]
}

# Deeper than any walk with a fixed depth limit would go.
test_deep_dir_removed() {
	local payload dir
	payload=$(task_json 'i=0; while [ $i -lt 300 ]; do
	    mkdir d && cd d || exit 1; i=$((i + 1)); done; echo made')
	run_task deep <<<"$payload"
	dir=$(task_dir)
	show_task deep
	why+=("$(ls -ld "$dir" 2>&1)" "$(find "$dir" -maxdepth 0 -printf '%p\n' 2>&1)")
	expect_task deep completed completed 0 >/dev/null &&
	    grep -qx made "$LOG" && [ ! -e "$dir" ]
}

t "probes are not refused outside the sandbox, so EPERM inside is the sandbox's" test_probes_work_outside
t "ps and /proc show only the task's processes, in its own pid namespace" test_only_own_processes
t "id -u is a uid of the default range, and getent passwd knows it (the host does not)" test_task_identity
t "the task uid comes from the configured range (taskUidFirst/taskUidCount)" test_uid_from_configured_range
t "ptrace, io_uring, mount, umount2, unshare, clone(CLONE_NEWUSER), bpf, keyctl, perf, userfaultfd, setns, process_vm_readv, TIOCSTI on the task's own pty (also with the request's high 32 bits set): EPERM; clone3: ENOSYS" test_syscalls_refused
t "task processes and the init: NoNewPrivs 1, Seccomp 2 (two filters), no capabilities" test_status_confined
t "the task cannot signal, trace, read or open a root process, another uid's, or the supervisor" test_host_processes
t "a fork bomb stops at taskMaxProcesses (RLIMIT_NPROC) and ends by maxRunTime, leaving nothing" test_fork_bomb_contained
t "after the fork bomb, the next task runs and no process of the bomb is left" test_after_bomb_healthy
t "the task cannot read root's 0600 file, uid 64501's, /etc/shadow, or a world-readable file outside its paths (not there)" test_files_of_others_unreadable
t "the task writes only to its directory, /tmp and /dev/shm (not /etc, /var/tmp, /usr, a 0666 host file)" test_writes_confined
t "what a task puts in /tmp and /dev/shm is gone for the next task, and never reached the host" test_tmp_private
t "/run shows none of the host's entries or sockets" test_run_hides_host_sockets
t "taskNetwork isolated: the task's namespace has only lo, and it is up" test_isolated_netns_has_only_lo
t "taskNetwork isolated: /sys/class/net shows only lo, with IFF_UP" test_isolated_sys_class_net
t "taskNetwork host: the task sees the host's interfaces (netlink; not in its /sys)" test_host_network_shared
t "after the task, its uid owns no process and its directory is gone" test_nothing_left
t "a task directory is removed even when the task took away its own read right on subdirectories" test_unreadable_dir_removed
t "a task directory is removed even when nested 300 levels deep" test_deep_dir_removed
