#!/bin/bash
# make bench: a directory artifact of many small files.  The task writes
# them (timed inside the task); the worker then collects, checks each
# name, copies and hashes every file and writes result.json (timed from
# the task's last command to result.json's last write).  Needs root, as
# run-task does.
set -eu
build=$1 files=${2:-100000}
if [ "$(id -u)" != 0 ]; then
	echo "   (skipped: run-task needs root)"
	exit 0
fi
tmp=$(mktemp -d /tmp/sepworker-bench.XXXXXX)
tasks=$(mktemp -d /var/tmp/sepworker-bench-tasks.XXXXXX)
trap 'rm -rf "$tmp" "$tasks"' EXIT
chmod 711 "$tasks"
cat >"$tmp/worker.json" <<JSON
{"workerType": "bench", "workerId": "bench", "tasksDir": "$tasks/tasks",
 "maxTaskRunTime": 600}
JSON
# The task's own clock: the write time, then the moment it ends.
cat >"$tmp/task.json" <<JSON
{"command": [["/usr/bin/python3", "-c",
  "import os, time\nt = time.time()\nos.mkdir('d')\nfor i in range($files):\n    with open('d/f%06d' % i, 'w') as f:\n        f.write('file %d\\\\n' % i)\nprint('BENCH_WRITE_MS %d' % ((time.time() - t) * 1000))\nprint('BENCH_END_MS %d' % (time.time() * 1000))"]],
 "maxRunTime": 600,
 "artifacts": [{"type": "directory", "path": "d", "name": "public/d"}]}
JSON
"$build/sepworker" run-task "$tmp/task.json" --out "$tmp/out" \
    --config "$tmp/worker.json" >"$tmp/stdout" 2>"$tmp/stderr" || {
	echo "   run-task failed: $(tail -n 3 "$tmp/stderr")"
	exit 1
}
log=$tmp/out/public/logs/live_backing.log
write_ms=$(sed -n 's/^BENCH_WRITE_MS //p' "$log")
end_ms=$(sed -n 's/^BENCH_END_MS //p' "$log")
result_ms=$(stat -c %.3Y "$tmp/out/result.json" | tr -d .)
n=$(grep -c '"sha256"' "$tmp/out/result.json" || true)
collect_ms=$((result_ms - end_ms))
awk -v n="$n" -v w="$write_ms" -v c="$collect_ms" 'BEGIN {
	printf "   %d artifacts: the task wrote them in %.2f s, the worker " \
	    "collected, copied, hashed and listed them in %.2f s: %.2fx\n",
	    n, w / 1000, c / 1000, c / w }'
