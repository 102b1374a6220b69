#!/bin/bash
# make bench: a 1 GiB artifact uploaded (s3, identity) by the task proxy
# as the task's agent, against curl -T of the same file to the same local
# PUT target (put_sink.js) in the same run; and the task proxy's peak RSS.
# The agent's time is from UPLOAD to its answer: createArtifact, the PUT
# and the SHA-256 of the bytes.
# Needs root (the task proxy runs as its own uid).
set -eu
build=$1 mib=${2:-1024}
if [ "$(id -u)" != 0 ]; then
	echo "   (skipped: the task proxy needs root)"
	exit 0
fi
tmp=$(mktemp -d /tmp/sepworker-bench.XXXXXX)
sink=
trap '[ -n "$sink" ] && kill "$sink" 2>/dev/null; rm -rf "$tmp"' EXIT
node "$(dirname "$0")/put_sink.js" >"$tmp/sink.out" &
sink=$!
for _ in $(seq 100); do [ -s "$tmp/sink.out" ] && break; sleep 0.05; done
url=http://127.0.0.1:$(sed -n 's/^port //p' "$tmp/sink.out")
head -c $((mib << 20)) /dev/urandom >"$tmp/big"
cat "$tmp/big" >/dev/null	# both read it from the page cache
echo '{"clientId": "bench", "accessToken": "bench"}' >"$tmp/creds.json"
expires=$(( ($(date +%s) + 86400) * 1000 ))

now() { date +%s%N; }
t0=$(now)
curl -sf -T "$tmp/big" "$url/sink/curl" >/dev/null
t1=$(now)
printf 'agent\nupload %s public/big application/octet-stream identity s3 %s\nelapsed\nhwm\n' \
    "$tmp/big" "$expires" |
    "$build/tests/helpers/taskproxy" --agent "$build" 64504 "$url" - \
    "$tmp/creds.json" none 10 >"$tmp/agent.out" 2>"$tmp/agent.err"
if ! grep -q "^answer 11 uploaded $((mib << 20)) " "$tmp/agent.out"; then
	echo "   the agent's upload failed: $(tail -n 3 "$tmp/agent.err")"
	exit 1
fi
hwm=$(sed -n 's/^hwm //p' "$tmp/agent.out")
a=$(( $(sed -n 's/^elapsed //p' "$tmp/agent.out") * 1000000 ))
awk -v mib="$mib" -v c=$((t1 - t0)) -v a="$a" -v hwm="$hwm" 'BEGIN {
	printf "   %d MiB: curl -T %.2f s (%.0f MB/s), the agent %.2f s " \
	    "(%.0f MB/s, sha256 included): %.2fx curl; the task proxy'\''s " \
	    "peak RSS %.1f MiB\n", mib, c / 1e9, mib * 1048576 / (c / 1e3),
	    a / 1e9, mib * 1048576 / (a / 1e3), c / a, hwm / 1024
}'
