# The task's filesystem view (README "The task sandbox"): a root of its
# own, holding only what tasks may see.  Landlock alone does not mediate
# connect() to pathname sockets, stat() or inotify; these tests use
# exactly those (tests/helpers/fsprobe) against sockets, files and
# directories the test plants on the host outside that list, then look
# at what the task's /, /proc, /sys and environment show.
. "$(dirname "$0")/lib.sh"

PROBE=$HELPERS_ABS/fsprobe
TRY=$HELPERS_ABS/try_syscall
OTHER_UID=64501
# Where a worker keeps its config and key: 0700, root's, not for tasks.
STATE=/var/lib/sepworker-taskroot.$$
# World-reachable places outside the task's list, and /root.
SOCKDIR=/var/tmp/sepworker-sock.$$
SOCKETS=("$SOCKDIR/s" "/srv/sepworker-$$.sock" "/home/sepworker-$$.sock"
    "$TASKS/tasks/sepworker-$$.sock" "$TASKS/sepworker-$$.sock")
ROOT_SOCKET=/root/sepworker-$$.sock
# In a listed path (taskReadOnlyPaths): the probe's control.
LISTED_SOCKET=$HELPERS_ABS/sepworker-$$.sock
OTHER_TASKDIR=$TASKS/tasks/task_sepworkerOther$$_0
SERVER=

taskroot_cleanup() {
	[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
	rm -rf "$STATE" "$SOCKDIR" "/srv/sepworker-$$.sock" \
	    "/home/sepworker-$$.sock" "$ROOT_SOCKET" "/srv/sepworker-act.$$" \
	    "/home/sepworker-act.$$" "/root/sepworker-act.$$" \
	    "/var/tmp/sepworker-act.$$" "/sepworker-act.$$"
}
trap 'taskroot_cleanup; cleanup_all' EXIT

# script_json SCRIPT [NAME=VALUE...]: a payload running SCRIPT with
# /bin/sh, the pairs in its environment.
script_json() {
	node -e '
	    const [script, ...pairs] = process.argv.slice(1);
	    const env = {};
	    for (const p of pairs) {
		const i = p.indexOf("=");
		env[p.slice(0, i)] = p.slice(i + 1);
	    }
	    console.log(JSON.stringify({command: [["/bin/sh", "-c", script]],
		maxRunTime: 60, env}));' "$@"
}

# with_keys NAME KEY=JSON...: the test config with those keys
# (mkconfig's syntax), written to $STATE/NAME.json; prints its path.
with_keys() {
	local file=$STATE/$1.json; shift
	mkconfig "$file" "$@"
	echo "$file"
}

why=()
show_task() {
	why+=("exit $RC; result: $(jget "$OUT/result.json" .state 2>&1)/$(jget "$OUT/result.json" .reasonResolved 2>&1)")
	[ -f "$LOG" ] && why+=("log:" "$(grep -v '^\[taskcluster' "$LOG" | tail -n 40)" \
	    "$(grep 'sandbox\|taskReadOnlyPaths' "$LOG")")
	why+=("stderr: $(tail -n 5 "$TMP/$1.stderr" 2>/dev/null)")
}

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

# --- the host the test plants ---

plant() {
	mkdir -p -m 0711 "$TASKS/tasks" && mkdir -m 0755 "$SOCKDIR" &&
	    mkdir -m 0700 "$STATE" "$OTHER_TASKDIR" || return 1
	chown "$OTHER_UID:$OTHER_UID" "$OTHER_TASKDIR"
	"$SEPWORKER" new-ed25519-keypair --file "$STATE/ed25519.key" \
	    >/dev/null || return 1
	mkconfig "$STATE/worker.json" \
	    "ed25519SigningKeyLocation=\"$STATE/ed25519.key\""
	mkconfig "$STATE/iso.json" \
	    "ed25519SigningKeyLocation=\"$STATE/ed25519.key\"" \
	    'sepworker.taskNetwork="isolated"'
	"$PROBE" serve "${SOCKETS[@]}" "$ROOT_SOCKET" "$LISTED_SOCKET" \
	    >"$TMP/serve.out" 2>&1 &
	SERVER=$!
	_pids+=("$SERVER")
	local i
	for i in $(seq 100); do
		grep -qx ready "$TMP/serve.out" && return 0
		sleep 0.05
	done
	cat "$TMP/serve.out"
	return 1
}

# The sockets are there and world-connectable: uid 64501 on the host
# reaches each (all but root's, behind /root's 0700).
test_sockets_reachable_on_host() {
	local got want=""
	got=$(setpriv --reuid=$OTHER_UID --regid=$OTHER_UID --clear-groups \
	    "$PROBE" connect "${SOCKETS[@]}" "$LISTED_SOCKET")
	for s in "${SOCKETS[@]}" "$LISTED_SOCKET"; do
		want="${want}connect $s: ok
"
	done
	why=("wanted:" "$want" "got:" "$got")
	[ "$got" = "${want%$'\n'}" ] &&
	    [ "$("$PROBE" connect "$ROOT_SOCKET")" = "connect $ROOT_SOCKET: ok" ]
}

# --- sockets ---

# connect() to each planted socket from a task: none is there at all.
sockets_unreachable() {
	local name=$1 cfg=$2 want="" got s
	run_task "$name" --config "$cfg" <<<"$(script_json \
	    '"$PROBE" connect $SOCKETS "$LISTED"
	    grep -o "/.*" /proc/net/unix | sed "s/^/unix: /"' PROBE="$PROBE" \
	    SOCKETS="${SOCKETS[*]} $ROOT_SOCKET" LISTED="$LISTED_SOCKET")"
	for s in "${SOCKETS[@]}" "$ROOT_SOCKET"; do
		want="${want}connect $s: ENOENT
"
	done
	# The control: a socket in a listed path is reachable, so ENOENT
	# above is the root's doing, not the probe's.
	want="${want}connect $LISTED_SOCKET: ok"
	got=$(grep -a '^connect ' "$LOG")
	show_task "$name"
	why+=("wanted:" "$want" "got:" "$got")
	expect_task "$name" completed completed 0 >/dev/null && [ "$got" = "$want" ]
}

test_sockets_host_network() {
	sockets_unreachable sockhost "$STATE/worker.json"
}

# In its own network namespace, the socket table lists none of them
# either (on the host's network, /proc/net/unix is the host's: README).
test_sockets_isolated_network() {
	sockets_unreachable sockiso "$STATE/iso.json" &&
	    [ -z "$(grep -a '^unix: ' "$LOG")" ]
}

# Tasks that make namespaces of their own (allowTaskPtraceAndNamespaces)
# start from the same root: a new user namespace gives nothing back.
test_sockets_debug_ns() {
	local cfg want got s
	cfg=$(with_keys debugns 'sepworker.allowTaskPtraceAndNamespaces=true')
	run_task debugns --config "$cfg" <<<"$(script_json \
	    'unshare -Ur "$PROBE" connect $SOCKETS
	    unshare -Ur "$PROBE" stat /root "$STATE"
	    unshare -Ur sh -c "mount -t tmpfs x /tmp 2>&1 || echo mount refused"' \
	    PROBE="$PROBE" SOCKETS="${SOCKETS[*]}" STATE="$STATE")"
	want=""
	for s in "${SOCKETS[@]}"; do
		want="${want}connect $s: ENOENT
"
	done
	want="${want}stat /root: ENOENT
stat $STATE: ENOENT"
	got=$(grep -aE '^(connect|stat) ' "$LOG")
	show_task debugns
	why+=("wanted:" "$want" "got:" "$got")
	expect_task debugns completed completed 0 >/dev/null &&
	    [ "$got" = "$want" ] && grep -qx 'mount refused' "$LOG"
}

# --- names, sizes, activity ---

test_stat_host_paths() {
	local want="" got p hidden shown
	hidden=("$STATE/worker.json" "$STATE/ed25519.key" "$STATE" "/root"
	    "/root/.bashrc" "$OTHER_TASKDIR" "$TASKS/tasks/sepworker-$$.sock"
	    "$SOCKDIR" "/srv" "/home" "/var/lib" "/boot" "/mnt")
	shown=("/etc/passwd" "/usr/bin/env" "$PROBE")
	run_task stat --config "$STATE/worker.json" <<<"$(script_json \
	    '"$PROBE" stat $HIDDEN $SHOWN "$TASK_WORKDIR"' PROBE="$PROBE" \
	    HIDDEN="${hidden[*]}" SHOWN="${shown[*]}")"
	for p in "${hidden[@]}"; do
		want="${want}stat $p: ENOENT
"
	done
	for p in "${shown[@]}"; do
		want="${want}stat $p: ok
"
	done
	got=$(grep -a '^stat ' "$LOG")
	show_task stat
	why+=("wanted:" "$want" "got:" "$got")
	expect_task stat completed completed 0 >/dev/null &&
	    [ "$got" = "${want}stat $(task_dir): ok" ]
}

# tasksDir inside a tree the task may read (here its parent is in
# taskReadOnlyPaths): the other entries of tasksDir stay out of sight.
test_tasks_dir_in_readable_tree() {
	local cfg want got
	cfg=$(with_keys tasksro "sepworker.taskReadOnlyPaths=[\"$TASKS\"]")
	run_task tasksro --config "$cfg" <<<"$(script_json \
	    '"$PROBE" stat "$OTHER" "$SOCK" "$PROBE"
	    ls -A "$(dirname "$TASK_WORKDIR")" | sed "s/^/tasksdir: /"' \
	    PROBE="$PROBE" OTHER="$OTHER_TASKDIR" \
	    SOCK="$TASKS/tasks/sepworker-$$.sock")"
	want="stat $OTHER_TASKDIR: ENOENT
stat $TASKS/tasks/sepworker-$$.sock: ENOENT
stat $PROBE: ok
tasksdir: $(basename "$(task_dir)")"
	got=$(grep -aE '^(stat|tasksdir)' "$LOG")
	show_task tasksro
	why+=("wanted:" "$want" "got:" "$got")
	expect_task tasksro completed completed 0 >/dev/null && [ "$got" = "$want" ]
}

# task_dir: the directory the last task ran in, from its result.
task_dir() { echo "$TASKS/tasks/task_$(jget "$OUT/result.json" .taskId 2>/dev/null)_0"; }

# The host writes into its directories while the task watches them; the
# task writes into its own directory, which it watches too (the control).
test_inotify_host_dirs() {
	local dirs=(/var/tmp /root /home /srv "$TASKS" "$TASKS/tasks" /)
	local toucher d got bad=""
	(while :; do
		for d in "${dirs[@]}"; do
			echo x >"$d/sepworker-act.$$"
		done
		echo x >/sepworker-act.$$; sleep 0.1
	done) &
	toucher=$!
	_pids+=("$toucher")
	run_task watch --config "$STATE/worker.json" <<<"$(script_json \
	    '(sleep 1; echo x >mine) & "$PROBE" watch 3 $DIRS "$TASK_WORKDIR"' \
	    PROBE="$PROBE" DIRS="${dirs[*]}")"
	kill "$toucher"; wait "$toucher" 2>/dev/null
	rm -f /var/tmp/sepworker-act.$$ "$TASKS/sepworker-act.$$" \
	    "$TASKS/tasks/sepworker-act.$$" /sepworker-act.$$
	got=$(grep -aE '^(watch|event) ' "$LOG")
	for d in "${dirs[@]}"; do
		grep -qx "event $d" <<<"$got" && bad="$bad [event in $d]"
	done
	for d in /root /home /srv; do
		grep -qx "watch $d: ENOENT" <<<"$got" || bad="$bad [$d watched]"
	done
	grep -qx "event $(task_dir)" <<<"$got" || bad="$bad [no control event]"
	show_task watch
	why+=("wrong:$bad" "got:" "$got")
	expect_task watch completed completed 0 >/dev/null && [ -z "$bad" ]
}

# --- /, /proc, /sys, the environment ---

# The names / holds: the listed ones this host has, the task's own, and
# the first directory on the way to the task directory.
expected_root() {
	local p first=${TASKS#/}
	for p in usr bin sbin lib lib32 lib64 libx32 opt etc; do
		[ -e "/$p" ] && echo "$p"
	done
	printf '%s\n' dev proc run sys tmp "${first%%/*}"
}

test_root_read_only_and_listed() {
	local want got
	run_task root --config "$STATE/worker.json" <<<"$(script_json \
	    'ls -A / | sed "s/^/root: /"
	    ls -A "$(dirname "$TASK_WORKDIR")" | sed "s/^/tasksdir: /"
	    ls -A "$(dirname "$(dirname "$TASK_WORKDIR")")" | sed "s/^/parent: /"
	    for p in /x /var/x /etc/x /usr/x /run/x /sys/x; do
		touch $p 2>&1 | sed "s/^/touch: /"; done
	    mkdir /y 2>&1 | sed "s/^/mkdir: /"')"
	want=$(expected_root | sort)
	got=$(sed -n 's/^root: //p' "$LOG" | sort)
	show_task root
	why+=("wanted /:" "$want" "got:" "$got")
	expect_task root completed completed 0 >/dev/null &&
	    [ "$got" = "$want" ] &&
	    [ "$(sed -n 's/^tasksdir: //p' "$LOG")" = "$(basename "$(task_dir)")" ] &&
	    [ "$(sed -n 's/^parent: //p' "$LOG" | sort)" = "helpers
tasks" ] &&
	    [ "$(grep -c '^touch: .*Read-only file system' "$LOG")" -eq 6 ] &&
	    grep -q '^mkdir: .*Read-only file system' "$LOG"
}

# /proc: the init's command line says what it is and nothing of the
# worker (the taskrunner's argv names its uids and the supervisor's pid);
# the mounts are the task's root's.
test_proc_reveals_nothing() {
	local bad="" m
	run_task proc --config "$STATE/worker.json" <<<"$(script_json \
	    'tr "\0" "\n" </proc/1/cmdline | sed "/^$/d; s/^/cmdline: /"
	    echo "comm: $(cat /proc/1/comm)"
	    "$TRY" open /proc/1/environ
	    cut -d" " -f5,6 /proc/self/mountinfo | sed "s/^/mount: /"
	    ps -e -o pid=,comm= | sed "s/^ */ps: /"' TRY="$TRY")"
	show_task proc
	expect_task proc completed completed 0 >/dev/null || return 1
	[ "$(grep '^cmdline: ' "$LOG")" = "cmdline: sepworker-task-init" ] ||
	    bad="$bad [cmdline]"
	grep -qx 'comm: task-init' "$LOG" || bad="$bad [comm]"
	grep -qx 'open: EACCES' "$LOG" || bad="$bad [environ]"
	[ "$(grep -c '^ps: ' "$LOG")" -le 5 ] &&
	    grep -qx 'ps: 1 task-init' "$LOG" || bad="$bad [ps]"
	# Every mount point is one of the list, or below the task's own;
	# each is nosuid, and nodev but for /dev's.
	while read -r m o; do
		case ,$o, in *,nosuid,*) ;; *) bad="$bad [$m: suid]";; esac
		case $m,$o, in /dev,*|/dev/*|*,nodev,*) ;; *) bad="$bad [$m: dev]";; esac
		case $m in
		/|/usr|/etc|/etc/passwd|/etc/group|/opt|/tmp|/run|/proc|/sys) ;;
		/dev|/dev/*|/sys/devices/system/*|/sys/kernel/mm/*) ;;
		"$HELPERS_ABS"|"$TASKS/tasks"|"$(task_dir)") ;;
		*) bad="$bad [mount $m]";;
		esac
	done < <(sed -n 's/^mount: //p' "$LOG")
	why+=("wrong:$bad")
	[ -z "$bad" ]
}

# The environment is generic-worker's, as the README lists it, and the
# payload's; nothing of the worker's.
test_environment() {
	local names want
	run_task env --config "$STATE/worker.json" <<JSON
{"command": [["$PROBE", "env"]], "maxRunTime": 30, "env": {"MINE": "1"}}
JSON
	names=$(sed -n 's/^env: \([^=]*\)=.*/\1/p' "$LOG" | sort | tr '\n' ' ')
	want="HOME MINE PATH RUN_ID TASKCLUSTER_ROOT_URL TASK_GROUP_ID TASK_ID TASK_WORKDIR USER "
	show_task env
	why+=("wanted: $want" "got: $names")
	expect_task env completed completed 0 >/dev/null &&
	    [ "$names" = "$want" ] &&
	    grep -qx "env: HOME=$(task_dir)" "$LOG" &&
	    grep -qx "env: TASK_WORKDIR=$(task_dir)" "$LOG"
}

sys_script='ls -A /sys | sed "s/^/sys: /"
    ls -A /sys/fs/cgroup 2>&1 | sed "s/^/cgroup: /"
    echo "online: $(cat /sys/devices/system/cpu/online)"
    echo "nproc: $(nproc)"
    ls /sys/class/net 2>/dev/null | sed "s/^/net: /"'

# Sharing the host's network: what runtimes read to size themselves, no
# cgroup tree, no host mount, no other task.
test_sys_host_network() {
	run_task syshost --config "$STATE/worker.json" <<<"$(script_json "$sys_script")"
	show_task syshost
	expect_task syshost completed completed 0 >/dev/null &&
	    [ "$(sed -n 's/^sys: //p' "$LOG" | sort | tr '\n' ' ')" = "devices kernel " ] &&
	    grep -q '^cgroup: .*No such file or directory' "$LOG" &&
	    grep -qx "online: $(cat /sys/devices/system/cpu/online)" "$LOG" &&
	    grep -qx "nproc: $(nproc)" "$LOG" && ! grep -q '^net: ' "$LOG"
}

# Its own network namespace: its own sysfs, with lo alone, and none of
# the host's mounts on it.
test_sys_isolated_network() {
	run_task sysiso --config "$STATE/iso.json" <<<"$(script_json "$sys_script")"
	show_task sysiso
	expect_task sysiso completed completed 0 >/dev/null &&
	    [ -z "$(grep '^cgroup: ' "$LOG")" ] &&
	    [ "$(grep '^net: ' "$LOG")" = "net: lo" ] &&
	    grep -qx "online: $(cat /sys/devices/system/cpu/online)" "$LOG"
}

# --- what a task needs still works ---

test_ordinary_tools() {
	local bad=""
	run_task tools --config "$STATE/worker.json" <<<"$(script_json \
	    'echo "bin: $(ls /usr/bin | wc -l)"
	    echo "resolv: $(md5sum </etc/resolv.conf)"
	    echo "me: $(getent passwd "$(id -u)" | cut -d: -f1)"
	    git --version | sed "s/^/git: /"
	    if command -v cc >/dev/null; then
		printf "int main(void) { return 42; }\n" >t.c &&
		    cc -o t t.c; ./t; echo "cc: $?"
	    fi
	    node -e "console.log(\"node: \" + (1 + 1))"
	    echo hi >/tmp/x && cat /tmp/x | sed "s/^/tmp: /"')"
	show_task tools
	expect_task tools completed completed 0 >/dev/null || return 1
	[ "$(sed -n 's/^bin: //p' "$LOG")" = "$(ls /usr/bin | wc -l)" ] ||
	    bad="$bad [ls /usr/bin]"
	grep -qx "resolv: $(md5sum </etc/resolv.conf)" "$LOG" || bad="$bad [resolv.conf]"
	grep -qx "me: task_$(task_uid)" "$LOG" || bad="$bad [getent]"
	grep -q '^git: git version' "$LOG" || bad="$bad [git]"
	! command -v cc >/dev/null || grep -qx 'cc: 42' "$LOG" || bad="$bad [cc]"
	grep -qx 'node: 2' "$LOG" || bad="$bad [node]"
	grep -qx 'tmp: hi' "$LOG" || bad="$bad [/tmp]"
	why+=("wrong:$bad")
	[ -z "$bad" ]
}

# taskReadOnlyPaths: a file is shown read-only at its path (and nothing
# else of its directory), a symbolic link leads where it did; one the
# host lacks, one the task user could not
# reach on the host, or one below the task's own /tmp is not, and the log
# says why.
test_read_only_paths() {
	local cfg
	echo "listed $$" >"$SOCKDIR/listed.txt"
	chmod 644 "$SOCKDIR/listed.txt"
	mkdir -p "$SOCKDIR/real" && echo "linked $$" >"$SOCKDIR/real/f" &&
	    ln -s real "$SOCKDIR/link"
	cfg=$(with_keys rop "sepworker.taskReadOnlyPaths=[\"$HELPERS_ABS\", \"$SOCKDIR/listed.txt\", \"$SOCKDIR/link\", \"/nonexistent-$$\", \"$STATE/iso.json\", \"/tmp/sepworker-$$\"]")
	run_task rop --config "$cfg" <<<"$(script_json \
	    'cat "$F" | sed "s/^/read: /"; "$PROBE" stat "$SOCKDIR/s"
	    cat "$SOCKDIR/link/f" | sed "s/^/read: /"
	    echo x 2>/dev/null >>"$F" || echo "write refused"' \
	    F="$SOCKDIR/listed.txt" PROBE="$PROBE" SOCKDIR="$SOCKDIR")"
	show_task rop
	expect_task rop completed completed 0 >/dev/null &&
	    grep -qx "read: listed $$" "$LOG" &&
	    grep -qx "read: linked $$" "$LOG" &&
	    grep -qx "stat $SOCKDIR/s: ENOENT" "$LOG" &&
	    grep -qx 'write refused' "$LOG" &&
	    grep -q "taskReadOnlyPaths: /nonexistent-$$ is not shown: No such file or directory" "$LOG" &&
	    grep -q "taskReadOnlyPaths: $STATE/iso.json is not shown: Permission denied" "$LOG" &&
	    grep -q "taskReadOnlyPaths: /tmp/sepworker-$$ is not shown: the task has its own /tmp" "$LOG"
}

# /etc/resolv.conf a symbolic link into /run (systemd-resolved's way):
# the task's empty /run keeps the resolver's file, and nothing else.  The
# worker runs in a mount namespace of the test's where /etc is a copy
# with that link, so the host's own /etc is left alone.
test_resolv_conf_in_run() {
	local dir=/run/sepworker-resolv.$$ etc=$TMP/etc
	mkdir -p "$dir" && echo "nameserver 192.0.2.53 # $$" >"$dir/resolv.conf" &&
	    cp -a /etc "$etc" && rm -f "$etc/resolv.conf" &&
	    ln -s "$dir/resolv.conf" "$etc/resolv.conf" || return 1
	OUT=$TMP/resolv.out
	LOG=$OUT/public/logs/live_backing.log
	script_json 'cat /etc/resolv.conf | sed "s/^/resolv: /"
	    find /run | sed "s/^/run: /"' >"$TMP/resolv.json"
	unshare -m --propagation private sh -c 'mount --bind "$1" /etc &&
	    exec "$2" run-task "$3" --out "$4" --config "$5"' sh "$etc" \
	    "$SEPWORKER" "$TMP/resolv.json" "$OUT" "$STATE/worker.json" \
	    >"$TMP/resolv.stdout" 2>"$TMP/resolv.stderr"
	RC=$?
	rm -rf "$dir"
	show_task resolv
	expect_task resolv completed completed 0 >/dev/null &&
	    grep -qx "resolv: nameserver 192.0.2.53 # $$" "$LOG" &&
	    [ "$(sed -n 's/^run: //p' "$LOG")" = "/run
$dir
$dir/resolv.conf" ]
}

if is_root && ! plant; then
	not_ok "planting the host's sockets and files" "$(cat "$TMP/serve.out")"
fi
t "the planted sockets are world-connectable on the host (uid $OTHER_UID reaches them)" test_sockets_reachable_on_host
t "host networking: pathname sockets in /var/tmp, /srv, /home, /root, tasksDir and its parent are not there (ENOENT); one in taskReadOnlyPaths is" test_sockets_host_network
t "isolated networking: the same sockets are not there (ENOENT), and /proc/net/unix names none" test_sockets_isolated_network
t "allowTaskPtraceAndNamespaces: in a user namespace of its own, the task still cannot name them, and cannot mount" test_sockets_debug_ns
t "stat of the worker's config and key, another task's directory, tasksDir's entries, /root, /srv, /home, /boot: ENOENT" test_stat_host_paths
t "tasksDir below a readable tree (taskReadOnlyPaths holds its parent): its other entries are still not there" test_tasks_dir_in_readable_tree
t "inotify on host directories (/var/tmp, /root, /home, /srv, tasksDir and its parent, /) sees none of the host's activity" test_inotify_host_dirs
t "/ is read-only and holds only the listed trees, the task's own and the way to its directory" test_root_read_only_and_listed
t "/proc/1/cmdline is the task's init and names nothing of the worker; /proc shows the task's processes and mounts only, all nosuid, nodev but /dev" test_proc_reveals_nothing
t "the environment holds generic-worker's variables and the payload's, nothing else" test_environment
t "host networking: /sys shows processors, NUMA nodes and huge pages only (no cgroup tree, no interfaces)" test_sys_host_network
t "isolated networking: /sys is the task's own sysfs (lo only, no cgroup tree)" test_sys_isolated_network
t "sh, ls, git, cc, node, getent and the resolver's config still work" test_ordinary_tools
t "taskReadOnlyPaths: a file is shown read-only at its path, a symbolic link leads to its directory; a missing one, one the task user cannot reach, one below /tmp are skipped, and the log says so" test_read_only_paths
t "/etc/resolv.conf a symbolic link into /run: the task reads the resolver's file there, and /run holds nothing else" test_resolv_conf_in_run
