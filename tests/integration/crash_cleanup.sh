# What a crashed worker leaves (a supervisor killed with SIGKILL: its task
# directory, its cgroups, processes running as its task uid) is removed by
# the next start before it runs anything, and the log says so; what a live
# worker holds is left alone.  Every test uses a task uid range of its own
# (UID_FIRST...), never the default one other suites and workers share.
. "$(dirname "$0")/lib.sh"

UID_FIRST=71740
# A uid outside every range the tests use, for a directory of "another
# worker's" range.
OTHER_RANGE_UID=71790
CANARY=/var/tmp/sepworker-canary.$$

# Kill what the tests started or left, then remove their cgroups, so a
# run that failed (or ran against binaries without the cleanup) leaves
# nothing for the next.
crash_cleanup() {
	local p u cg
	for p in "${_pids[@]}" $(ps -e -o pid=,uid= | awk -v lo=$UID_FIRST \
	    -v hi=$((UID_FIRST + 9)) '$2 >= lo && $2 <= hi { print $1 }'); do
		kill -KILL "$p" 2>/dev/null
	done
	for u in $(seq $UID_FIRST $((UID_FIRST + 9))); do
		for cg in $(cgroups_of "$u"); do
			xargs -r kill -KILL <"$cg/cgroup.procs" 2>/dev/null
			sleep 0.1
			rmdir "$cg" 2>/dev/null
		done
	done
	rm -rf "$CANARY"
}
trap 'crash_cleanup; cleanup_all' EXIT

# cfg_for N: a config whose task uid range is the single uid UID_FIRST+N.
cfg_for() {
	local file=$TMP/worker-$1.json
	mkconfig "$file" "sepworker.taskUidFirst=$((UID_FIRST + $1))" \
	    sepworker.taskUidCount=1
	echo "$file"
}

# A payload: /bin/sh -c SCRIPT, maxRunTime MAX (default 60).
payload() {
	node -e 'console.log(JSON.stringify({command: [["/bin/sh", "-c",
	    process.argv[1]]], maxRunTime: Number(process.argv[2])}))' \
	    "$1" "${2:-60}"
}

# start_bg NAME CONFIG [SCRIPT]: run-task in the background (the payload
# $TMP/NAME.json made from SCRIPT, or made already); sets BG (its pid, the
# supervisor).
start_bg() {
	[ $# -lt 3 ] || payload "$3" 200 >"$TMP/$1.json"
	"$SEPWORKER" run-task "$TMP/$1.json" --out "$TMP/$1.out" \
	    --config "$2" >"$TMP/$1.stdout" 2>"$TMP/$1.stderr" &
	BG=$!
	_pids+=("$BG")
}

# wait_started NAME: wait (10 s) until the task runs; prints its directory.
wait_started() {
	local i dir
	for i in $(seq 200); do
		dir=$(sed -n 's/.* started: uid [0-9]*, directory //p' \
		    "$TMP/$1.stderr" 2>/dev/null)
		[ -n "$dir" ] && { echo "$dir"; return 0; }
		sleep 0.05
	done
	return 1
}

# The task cgroup directories named for uid $1, in any hierarchy.
cgroups_of() {
	find /sys/fs/cgroup -maxdepth 6 -type d \( -name "task-$1" -o \
	    -name "sepworker-task-$1" \) 2>/dev/null
}
procs_of() { ps -e -o uid= | tr -d ' ' | grep -cx "$1"; }

# Line number of the first line of file $1 matching ERE $2 (0: none).
line_of() { grep -nE -m1 "$2" "$1" | cut -d: -f1 | grep . || echo 0; }

why=()
t() {
	why=()
	if ! is_root; then
		skip "$1" "root (tasks run as uids of their own)"
	elif "$2"; then
		ok "$1"
	else
		not_ok "$1" "${why[@]}"
	fi
}

test_crash_leftovers_removed() {
	local cfg uid=$UID_FIRST dir cgs n_before started rm_dir rm_cg
	cfg=$(cfg_for 0)
	start_bg crashed "$cfg" 'echo running; sleep 600'
	dir=$(wait_started crashed) || { why=("task did not start:" "$(cat "$TMP/crashed.stderr")"); return 1; }
	kill -KILL "$BG"
	wait "$BG" 2>/dev/null
	sleep 0.5
	cgs=$(cgroups_of $uid)
	n_before=$(procs_of $uid)
	why=("left after SIGKILL: dir $(ls -ld "$dir" 2>&1)" "cgroups: $cgs" \
	    "processes of $uid: $n_before")
	# What the crash left: the directory and the cgroups (the task's
	# processes die with the taskrunner's pid namespace).
	[ -d "$dir" ] && [ -n "$cgs" ] || return 1
	run_task again --config "$cfg" < <(payload 'echo second task')
	why+=("second run: exit $RC" "$(cat "$TMP/again.stderr")")
	started=$(line_of "$TMP/again.stderr" ' started: uid ')
	rm_dir=$(line_of "$TMP/again.stderr" "removed task directory ${dir//./\\.} \\(task uid $uid\\)")
	rm_cg=$(line_of "$TMP/again.stderr" "removed cgroup .*task-$uid ")
	expect_task again completed completed 0 >/dev/null &&
	    [ ! -e "$dir" ] && [ "$rm_dir" -gt 0 ] && [ "$rm_cg" -gt 0 ] &&
	    [ "$started" -gt "$rm_dir" ] && [ "$started" -gt "$rm_cg" ] &&
	    grep -q 'start-up cleanup: killed [0-9]* process.*, removed [1-9][0-9]* cgroups\{0,1\} and 1 task directory' "$TMP/again.stderr" &&
	    [ -z "$(cgroups_of $uid)" ]
}

test_stray_process_killed() {
	local cfg uid=$((UID_FIRST + 1)) stray
	cfg=$(cfg_for 1)
	setpriv --reuid=$uid --regid=$uid --clear-groups sleep 1000 &
	stray=$!
	disown "$stray"
	_pids+=("$stray")
	sleep 0.2
	run_task stray --config "$cfg" < <(payload 'echo after the stray')
	why=("exit $RC" "$(cat "$TMP/stray.stderr")")
	wait_gone "$stray" 2 && grep -q "killed 1 process of task uid $uid$" \
	    "$TMP/stray.stderr" &&
	    expect_task stray completed completed 0 >/dev/null &&
	    grep -qx 'after the stray' "$LOG"
}

# Where the supervisor looks for a v2 task cgroup of uid $1 (run-task runs
# in our cgroup); empty without a cgroup2 mount.
v2_task_cgroup() {
	local mnt rel
	mnt=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") {
	    if ($(i + 1) == "cgroup2") { print $5; exit } break } }' \
	    /proc/self/mountinfo)
	rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
	[ -n "$mnt" ] && echo "$mnt${rel%/}/task-$1"
}

# A process in a leftover task cgroup is killed, whatever uid it runs as
# (the task's init starts as the taskrunner's), and the cgroup removed.
test_cgroup_member_killed() {
	local cfg uid=$((UID_FIRST + 5)) cg member
	cfg=$(cfg_for 5)
	cg=$(v2_task_cgroup $uid)
	[ -n "$cg" ] && mkdir "$cg" || { why=("cannot make $cg"); return 1; }
	setpriv --reuid=$OTHER_RANGE_UID --regid=$OTHER_RANGE_UID \
	    --clear-groups sleep 1000 &
	member=$!
	disown "$member"
	_pids+=("$member")
	echo "$member" >"$cg/cgroup.procs" || { why=("cannot join $cg"); return 1; }
	run_task cgmember --config "$cfg" < <(payload 'echo ran')
	why=("exit $RC" "$(cat "$TMP/cgmember.stderr")" "$(ls -ld "$cg" 2>&1)")
	wait_gone "$member" 2 && [ ! -e "$cg" ] &&
	    grep -q "removed cgroup ${cg//./\\.} (task uid $uid; killed 1 process in it)" \
		"$TMP/cgmember.stderr" &&
	    expect_task cgmember completed completed 0 >/dev/null
}

# A directory a crashed task left, made hostile: links out of it (to
# /etc, to a directory and file of the same uid outside), a hard link to
# that file, a FIFO, a directory and a file without any rights, and a
# tree 300 levels deep.
test_hostile_dir_removed() {
	local cfg uid=$((UID_FIRST + 2)) dir
	cfg=$(cfg_for 2)
	mkdir -p "$TASKS/tasks" "$CANARY/sub"
	echo keep >"$CANARY/sub/file"
	chown -R $uid:$uid "$CANARY"
	dir=$TASKS/tasks/task_hostileAAAAAAAAAAAAAAAA_0
	mkdir -m 0700 "$dir"
	chown $uid:$uid "$dir"
	setpriv --reuid=$uid --regid=$uid --clear-groups sh -c '
	    cd "$1" || exit 1
	    ln -s /etc etc; ln -s "$2" canary; ln -s "$2/sub/file" file
	    ln "$2/sub/file" hardlink; mkfifo fifo
	    mkdir -p locked/inner; echo x >locked/inner/f; chmod 000 locked/inner locked
	    echo x >nomode; chmod 000 nomode
	    i=0; while [ $i -lt 300 ]; do mkdir d; cd d; i=$((i + 1)); done
	    ln -s / root; cd "$1"; chmod 000 .' _ "$dir" "$CANARY" || {
		why=("could not build the hostile directory"); return 1; }
	run_task hostile --config "$cfg" < <(payload 'echo ran')
	why=("exit $RC" "$(cat "$TMP/hostile.stderr")" "left: $(ls -la "$dir" 2>&1 | head)" \
	    "canary: $(ls -laR "$CANARY" 2>&1)")
	expect_task hostile completed completed 0 >/dev/null &&
	    [ ! -e "$dir" ] &&
	    grep -q "removed task directory ${dir//./\\.} (task uid $uid)" "$TMP/hostile.stderr" &&
	    [ "$(cat "$CANARY/sub/file")" = keep ] &&
	    [ "$(stat -c %h "$CANARY/sub/file")" = 1 ] &&
	    [ -s /etc/passwd ] && [ -d /etc ]
}

# tasksDir entries named task_* that no uid of the range owns: root's
# (a run killed between mkdir and chown) empty and old is removed; one of
# a uid outside the range (another worker's range) is left alone.
test_foreign_dirs() {
	local cfg root_dir other_dir
	cfg=$(cfg_for 3)
	mkdir -p "$TASKS/tasks"
	root_dir=$TASKS/tasks/task_rootownedAAAAAAAAAAAA_0
	other_dir=$TASKS/tasks/task_otherrangeAAAAAAAAAAA_0
	mkdir -m 0700 "$root_dir" "$other_dir"
	touch -d '-2 minutes' "$root_dir"
	echo mine >"$other_dir/file"
	chown -R $OTHER_RANGE_UID:$OTHER_RANGE_UID "$other_dir"
	run_task foreign --config "$cfg" < <(payload 'echo ran')
	why=("exit $RC" "$(cat "$TMP/foreign.stderr")")
	expect_task foreign completed completed 0 >/dev/null &&
	    [ ! -e "$root_dir" ] && [ "$(cat "$other_dir/file")" = mine ] &&
	    grep -q "removed task directory ${root_dir//./\\.} (root's" "$TMP/foreign.stderr" &&
	    grep -q "left task directory ${other_dir//./\\.} alone: its owner, uid $OTHER_RANGE_UID" "$TMP/foreign.stderr"
}

# Two run-tasks with the same one-uid range started together: one gets
# the uid and runs its task to the end; the other finds the uid held and
# neither kills that task nor touches its directory or cgroups.
test_live_worker_left_alone() {
	local cfg uid=$((UID_FIRST + 4)) a b i dir n=0 first second
	cfg=$(cfg_for 4)
	payload 'sleep 4; echo first done' 200 >"$TMP/first.json"
	payload 'sleep 4; echo second done' 200 >"$TMP/second.json"
	start_bg first "$cfg"; a=$BG
	start_bg second "$cfg"; b=$BG
	# The one that finds the uid held: "second" from here on.
	for i in $(seq 200); do
		grep -q 'is held' "$TMP/first.stderr" "$TMP/second.stderr" && break
		sleep 0.05
	done
	first=first second=second
	if grep -q 'is held' "$TMP/first.stderr"; then
		first=second second=first a=$b
	fi
	dir=$(wait_started $first)
	for i in first second; do
		grep -q ' started: uid ' "$TMP/$i.stderr" && n=$((n + 1))
	done
	why=("tasks started: $n" "first: $(cat "$TMP/first.stderr")" \
	    "second: $(cat "$TMP/second.stderr")")
	[ "$n" -eq 1 ] && [ -n "$dir" ] && [ -d "$dir" ] &&
	    [ -n "$(cgroups_of $uid)" ] && [ "$(procs_of $uid)" -gt 0 ] &&
	    grep -q "every uid of the task range $uid-$uid is held" \
		"$TMP/$second.stderr" &&
	    ! grep -q "removed\|killed" "$TMP/$second.stderr" || return 1
	# A third, started while the task runs as the uid, has its
	# directory, cgroups and processes in view: it leaves them.
	run_task third --config "$cfg" < <(payload 'echo third')
	why+=("third: exit $RC" "$(cat "$TMP/third.stderr")")
	[ "$RC" -ne 0 ] && ! grep -q "removed\|killed" "$TMP/third.stderr" &&
	    grep -q "1 task uid in use by running workers, left alone" \
		"$TMP/third.stderr" &&
	    [ -d "$dir" ] && [ -n "$(cgroups_of $uid)" ] &&
	    [ "$(procs_of $uid)" -gt 0 ] || return 1
	wait "$a" 2>/dev/null
	OUT=$TMP/$first.out LOG=$TMP/$first.out/public/logs/live_backing.log RC=0
	why+=("first result: $(cat "$OUT/result.json" 2>&1)")
	[ "$(jget "$OUT/result.json" .state)" = completed ] &&
	    grep -qx "$first done" "$LOG" && [ ! -e "$dir" ] &&
	    [ -z "$(cgroups_of $uid)" ]
}

# Whoever may write runDir could hold any uid's lease: refused, by name,
# before anything runs.
test_run_dir_checked() {
	local cfg=$TMP/worker-rundir.json dir=$TMP/rundir-open
	mkdir -m 0777 "$dir"
	chmod 0777 "$dir"
	mkconfig "$cfg" "sepworker.taskUidFirst=$((UID_FIRST + 6))" \
	    sepworker.taskUidCount=1 "sepworker.runDir=\"$dir\""
	run_task rundir --config "$cfg" < <(payload 'echo ran')
	why=("exit $RC" "$(cat "$TMP/rundir.stderr")")
	[ "$RC" -ne 0 ] && [ ! -e "$OUT/result.json" ] &&
	    grep -q "runDir $dir must be a directory of uid 0 that no one else may write (it is a directory, uid 0, mode 0777)" \
		"$TMP/rundir.stderr" &&
	    ! grep -q ' started: uid ' "$TMP/rundir.stderr"
}

t "a runDir others may write is refused by name before anything runs" test_run_dir_checked
t "after a SIGKILLed run, the next run removes its task directory and cgroups before its task starts, and logs each" test_crash_leftovers_removed
t "a stray process running as a task uid is killed at start (and logged)" test_stray_process_killed
t "a process left in a task cgroup (of any uid) is killed and the cgroup removed" test_cgroup_member_killed
t "a hostile leftover directory (links out, hard link, FIFO, no rights, 300 levels) is removed as the task uid, nothing outside touched" test_hostile_dir_removed
t "task_* directories no task uid owns: root's empty old one removed, another range's left alone" test_foreign_dirs
t "two run-tasks on one uid: one runs, the other finds the uid held; a third, started while that task runs, leaves its processes, directory and cgroups alone; the task completes" test_live_worker_left_alone
