#!/bin/bash
# make bench: the task proxy (tp) against nginx proxy_pass (px), side by
# side in one run, to the same local upstream: an nginx serving fixed
# bodies under the rootURL's /api/queue/v1/, over http (by IP) and over
# https named by host name (localhost, with a test CA made here), as
# rootURLs are.  The peer nginx is set up as performance.md §4 measured
# it: an upstream block with keepalive 32, HTTP/1.1, 256 KiB buffers,
# and a fixed Authorization header in place of Hawk.
#
#   proxy.sh BUILD [MIB]
#
# 1. wrk rounds: 100 B and 1 MiB GETs at 1 and 32 connections and a
#    10 MiB PUT, for each upstream; ROUNDS (5) rounds of DUR (2s), tp, px
#    (and for the PUT, the upstream direct) interleaved; each figure is
#    the median of its rounds.  The task proxy's and the nginx proxy
#    worker's CPU time (utime + stime, /proc/PID/stat) over those rounds
#    is divided by the requests answered.
# 2. The task proxy's peak RSS (VmHWM, reset with clear_refs) over a
#    download and an upload of MIB MiB (1024) through it, as growth over
#    its RSS once warmed up; px and direct transfer the same for their
#    rates.  An answer that is not 2xx is shown, not fatal.
# 3. Where the time goes: callgrind's instruction counts per proxied
#    100 B GET in the task proxy process, for each upstream: a task
#    proxy under valgrind (callgrind_exec.c, noseccomp.c say how) serves
#    2 GETs in one run and 2 + CG_REQUESTS (5) in another; the
#    difference over CG_REQUESTS, in all, by library, by function (own
#    instructions), and for the task proxy's own functions with what
#    they call.
# The proxy table comes last.  The defaults take 5 to 6 minutes.
#
# Needs root (the task proxy runs as its own uid; the https task proxy
# runs in a mount namespace of its own where the system CA bundle is
# the system bundle plus the test CA: proxyd reads
# /etc/ssl/certs/ca-certificates.crt only).  KEEP=FILE keeps wrk's output
# in FILE and callgrind's in FILE.cgSCHEME.a and .b.
set -eu
build=$(cd "$1" && pwd)
big_mib=${2:-1024}
rounds=${ROUNDS:-5}
dur=${DUR:-2s}
cg_n=${CG_REQUESTS:-5}
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
	echo "   (skipped: the task proxy needs root)"
	exit 0
fi
if ! "$here/../../scripts/install-bench-deps"; then
	echo "   (skipped: no nginx, wrk or valgrind)"
	exit 0
fi

tmp=$(mktemp -d /tmp/sepworker-bench-proxy.XXXXXX)
chmod 755 "$tmp"
nginx_pids=() tp_pids=()
declare -A tp_fd=() tp_helper=()
cleanup() {
	local p fd
	# End of input quits a harness and its task proxy; a kill if not.
	for fd in "${tp_fd[@]}"; do exec {fd}>&-; done
	for _ in $(seq 50); do
		[ ${#tp_pids[@]} -eq 0 ] && break
		kill -0 "${tp_pids[@]}" 2>/dev/null || break
		sleep 0.1
	done
	for p in "${tp_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${nginx_pids[@]}"; do kill -QUIT "$p" 2>/dev/null || true; done
	for p in "${tp_pids[@]}" "${nginx_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	[ -n "${KEEP:-}" ] && cp "$tmp/wrk.log" "$KEEP" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
t_start=$(date +%s)

# A free 127.0.0.1 port, not one handed out before in this run.
taken=" " up="" ups="" pxh="" pxs=""
free_port() {	# $1: the variable to set
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		case $taken in *" $p "*) continue;; esac
		[ -z "$(ss -Hltn "sport = :$p")" ] && break
	done
	taken="$taken$p "
	printf -v "$1" %s "$p"
}

# --- the test CA and localhost's certificate ---
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sepworker bench CA" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tmp/localhost.key" -out "$tmp/localhost.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$tmp/san.ext"
openssl x509 -req -in "$tmp/localhost.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days 2 -extfile "$tmp/san.ext" -out "$tmp/localhost.pem" 2>/dev/null

# --- the bodies ---
api=$tmp/www/api/queue/v1
mkdir -p "$api/put"
head -c 100 /dev/zero | tr '\0' x >"$api/small"
head -c $((1 << 20)) /dev/urandom >"$api/large"
head -c $((big_mib << 20)) /dev/urandom >"$tmp/big"
ln "$tmp/big" "$api/big"
head -c $((10 << 20)) /dev/urandom >"$tmp/up10m"
cat >"$tmp/put10m.lua" <<EOF
wrk.method = "PUT"
local f = io.open("$tmp/up10m", "rb")
wrk.body = f:read("*a")
f:close()
EOF

# --- nginx: the upstream and the peer proxy, each one worker, no daemon ---
nginx_common() {	# $1: its prefix
	cat <<EOF
user root root;
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $1/body;
	proxy_temp_path $1/proxy;
	fastcgi_temp_path $1/fastcgi;
	uwsgi_temp_path $1/uwsgi;
	scgi_temp_path $1/scgi;
	default_type application/octet-stream;
EOF
}
# A fixed Authorization header in place of the task proxy's Hawk.
hawk='Hawk id=\"bench\", ts=\"1\", nonce=\"x\", mac=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"'
# The two configurations, for the ports in up, ups, pxh, pxs.
write_configs() {
	mkdir -p "$tmp/up" "$tmp/px"
	{
		nginx_common "$tmp/up"
		cat <<EOF
	server {
		listen 127.0.0.1:$up;
		listen 127.0.0.1:$ups ssl;
		server_name localhost;
		ssl_certificate $tmp/localhost.pem;
		ssl_certificate_key $tmp/localhost.key;
		root $tmp/www;
		# PUT: the body is read whole (into a file in the page cache)
		# before the answer, as a store would.
		location /api/queue/v1/put/ {
			dav_methods PUT;
			client_max_body_size 0;
			client_body_buffer_size 1m;
		}
	}
}
EOF
	} >"$tmp/up/nginx.conf"
	{
		nginx_common "$tmp/px"
		cat <<EOF
	upstream up_http { server 127.0.0.1:$up; keepalive 32; }
	upstream up_https { server 127.0.0.1:$ups; keepalive 32; }
	proxy_http_version 1.1;
	# (a proxy_set_header in a location drops every inherited one:
	# the https location repeats these)
	proxy_set_header Connection "";
	proxy_set_header Authorization "$hawk";
	proxy_buffering off;
	proxy_request_buffering off;
	proxy_buffers 8 256k;
	proxy_buffer_size 256k;
	client_max_body_size 0;
	client_body_buffer_size 1m;
	server {
		listen 127.0.0.1:$pxh;
		location /queue/ { proxy_pass http://up_http/api/queue/; }
	}
	server {
		listen 127.0.0.1:$pxs;
		location /queue/ {
			proxy_pass https://up_https/api/queue/;
			proxy_set_header Host localhost;
			proxy_set_header Connection "";
			proxy_set_header Authorization "$hawk";
			proxy_ssl_name localhost;
			proxy_ssl_server_name on;
			proxy_ssl_verify on;
			proxy_ssl_trusted_certificate $tmp/ca.pem;
		}
	}
}
EOF
	} >"$tmp/px/nginx.conf"
}
# Start one; 0 once it listens on each of its ports (not another
# process: the machine is shared, and a port found free may be taken
# before nginx binds it).
start_nginx() {	# $1: name, the rest: its ports
	local n=$1 p pid
	shift
	nginx -p "$tmp/$n" -c "$tmp/$n/nginx.conf" -e "$tmp/$n/error.log" \
	    2>"$tmp/$n/stderr" &
	pid=$!
	nginx_pids+=("$pid")
	for p in "$@"; do
		for _ in $(seq 100); do
			ss -Hltnp "sport = :$p" | grep -q "pid=$pid," && break
			kill -0 "$pid" 2>/dev/null || return 1
			sleep 0.05
		done
		ss -Hltnp "sport = :$p" | grep -q "pid=$pid," || return 1
	done
}
for attempt in 1 2 3; do
	free_port up
	free_port ups
	free_port pxh
	free_port pxs
	write_configs
	start_nginx up "$up" "$ups" && start_nginx px "$pxh" "$pxs" && break
	for p in "${nginx_pids[@]}"; do kill -QUIT "$p" 2>/dev/null || true; done
	for p in "${nginx_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	nginx_pids=()
	if [ "$attempt" = 3 ]; then
		echo "   nginx did not start: $(tail -n 3 "$tmp"/*/error.log)"
		exit 1
	fi
done

# --- the task proxies ---
echo '{"clientId": "bench", "accessToken": "bench"}' >"$tmp/creds.json"
# the system bundle and the test CA: the task proxy parses what it would
# in a real deployment (a 220 KB bundle), plus the CA it needs here
cat /etc/ssl/certs/ca-certificates.crt "$tmp/ca.pem" >"$tmp/ca-bundle.crt"
# What an https task proxy's harness runs in (then its own command):
# shellcheck disable=SC2016
https_ns=(unshare -m sh -c \
    'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"' \
    "$tmp/ca-bundle.crt")
# Start one, through the test helper; its stdin is tp_fd[NAME].
start_tp() {	# $1: name, $2: uid, $3: rootURL, $4: the directory proxyd is in, the rest: the helper's options
	local name=$1 uid=$2 root=$3 dir=$4 prefix=() fd
	shift 4
	case $root in https:*) prefix=("${https_ns[@]}");; esac
	rm -f "$tmp/$name.in"
	mkfifo "$tmp/$name.in"
	"${prefix[@]}" "${tp_run[@]}" "$build/tests/helpers/taskproxy" "$@" \
	    "$dir" "$uid" "$root" - "$tmp/creds.json" none \
	    <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	tp_pids+=($!)
	tp_last=$!
	tp_helper[$name]=$!
	exec {fd}>"$tmp/$name.in"
	tp_fd[$name]=$fd
}
tp_run=()
# Its end of input: the helper quits the task proxy and exits.
stop_tp() {	# $1: name, $2: the helper's pid; its exit status in tp_status
	local fd=${tp_fd[$1]}
	exec {fd}>&-
	unset "tp_fd[$1]"
	tp_status=0
	wait "$2" 2>/dev/null || tp_status=$?
}
port_of() {	# $1: name
	for _ in $(seq 300); do
		grep -q '^port ' "$tmp/$1.out" 2>/dev/null && break
		kill -0 "${tp_helper[$1]}" 2>/dev/null || break
		sleep 0.05
	done
	sed -n 's/^port //p' "$tmp/$1.out"
}
pid_of() {	# $1: name: the task proxy's pid
	echo pid >&"${tp_fd[$1]}"
	for _ in $(seq 100); do
		grep -q '^pid ' "$tmp/$1.out" && break
		sleep 0.05
	done
	sed -n 's/^pid //p' "$tmp/$1.out" | tail -n 1
}
start_tp tph 64580 "http://127.0.0.1:$up" "$build"
start_tp tps 64581 "https://localhost:$ups" "$build"
tph=$(port_of tph) tps=$(port_of tps)
if [ -z "$tph" ] || [ -z "$tps" ]; then
	echo "   a task proxy did not start: $(tail -n 3 "$tmp"/tp?.err)"
	exit 1
fi
for u in "http://127.0.0.1:$tph" "http://127.0.0.1:$tps" \
    "http://127.0.0.1:$pxh" "http://127.0.0.1:$pxs"; do
	if ! cmp -s <(curl -sf "$u/queue/v1/small") "$api/small"; then
		echo "   $u/queue/v1/small does not answer the upstream's body:"
		curl -s "$u/queue/v1/small" | head -c 300
		tail -n 3 "$tmp"/tp?.err "$tmp"/*/error.log
		exit 1
	fi
done
tph_pid=$(pid_of tph) tps_pid=$(pid_of tps)
# The peer proxy's worker (it has answered): the process whose CPU time
# is counted.
px_worker=$(ps -o pid= --ppid "${nginx_pids[1]}" | awk 'NR == 1 { print $1 }')

# --- 1. wrk rounds ---
cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
# One wrk run, and the CPU time of the process $1 (or "-") over it:
# "rps p50_us p99_us bad requests user_ticks system_ticks" (bad: non-2xx
# answers + socket errors).
wrk_once() {	# $1: pid or -, $2: connections, $3: URL, the rest: wrk options
	local pid=$1 c=$2 url=$3 t0="0 0" t1="0 0" r
	shift 3
	[ "$pid" != - ] && t0=$(cpu_ticks "$pid")
	r=$(wrk -t1 -c"$c" -d"$dur" --latency --timeout 10s "$@" "$url" 2>&1 |
	    tee -a "$tmp/wrk.log" | awk '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return v * 1000
		if (v ~ /[0-9]s$/) return v * 1e6
		return v * 6e7
	}
	/^Requests\/sec:/ { rps = $2 }
	/^ +50%/ { p50 = us($2) }
	/^ +99%/ { p99 = us($2) }
	/ requests in / { n = $1 }
	/Non-2xx/ { bad += $NF }
	/Socket errors/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
	END { printf "%s %s %s %d %d", rps + 0, p50 + 0, p99 + 0, bad, n }')
	[ "$pid" != - ] && t1=$(cpu_ticks "$pid")
	echo "$r $t0 $t1" | awk '{ print $1, $2, $3, $4, $5, $8 - $6, $9 - $7 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# "median(rps) median(p50) median(p99) sum(bad) cpu_us user_us" of the
# rounds in a file of wrk_once lines (CPU per request answered, -1 if
# none was).
summary() {	# $1: file
	printf '%s %s %s ' "$(cut -d' ' -f1 "$1" | median)" \
	    "$(cut -d' ' -f2 "$1" | median)" "$(cut -d' ' -f3 "$1" | median)"
	awk -v tck="$tck" '{ bad += $4; n += $5; u += $6; s += $7 }
	    END { if (n == 0) print bad, -1, -1
		else printf "%d %.1f %.1f\n", bad, (u + s) * 1e6 / tck / n,
		    u * 1e6 / tck / n }' "$1"
}
# A case: tp, px (and for an upload, the upstream direct) in ROUNDS
# interleaved rounds; one line in $tmp/rows: label, then summary's
# fields for tp and px; for direct, one in $tmp/direct.
bench_case() {	# $1: label, $2: tp port, $3: tp pid, $4: px port, $5: direct URL or -, $6: path, $7: connections, the rest: wrk options
	local label=$1 tpp=$2 tpid=$3 pxp=$4 direct=$5 path=$6 c=$7
	shift 7
	: >"$tmp/tp.r"
	: >"$tmp/px.r"
	: >"$tmp/direct.r"
	for _ in $(seq "$rounds"); do
		wrk_once "$tpid" "$c" "http://127.0.0.1:$tpp$path" "$@" >>"$tmp/tp.r"
		wrk_once "$px_worker" "$c" "http://127.0.0.1:$pxp$path" "$@" >>"$tmp/px.r"
		[ "$direct" != - ] &&
		    wrk_once - "$c" "$direct/api$path" "$@" >>"$tmp/direct.r"
	done
	echo "$label|$(summary "$tmp/tp.r") $(summary "$tmp/px.r")" >>"$tmp/rows"
	[ "$direct" != - ] &&
	    echo "$label|$(summary "$tmp/direct.r")" >>"$tmp/direct"
	printf .
}

: >"$tmp/rows"
: >"$tmp/direct"
printf '   wrk: 10 cases, %s rounds of %s each for tp and px, interleaved ' \
    "$rounds" "$dur"
for scheme in http https; do
	if [ "$scheme" = http ]; then
		tpp=$tph tpid=$tph_pid pxp=$pxh up_name="http 127.0.0.1"
		direct=http://127.0.0.1:$up
	else
		tpp=$tps tpid=$tps_pid pxp=$pxs up_name="https localhost"
		direct=https://localhost:$ups
	fi
	for size in small large; do
		[ "$size" = small ] && sz="100 B" || sz="1 MiB"
		for c in 1 32; do
			bench_case "$sz GET c=$c, $up_name" "$tpp" "$tpid" \
			    "$pxp" - "/queue/v1/$size" "$c"
		done
	done
	bench_case "10 MiB PUT c=1, $up_name" "$tpp" "$tpid" "$pxp" \
	    "$direct" "/queue/v1/put/x" 1 -s "$tmp/put10m.lua"
done
t_wrk=$(date +%s)
echo " $((t_wrk - t_start)) s"

# --- 2. peak RSS over a large download and upload ---
kib() { awk -v k="^$2:" '$0 ~ k { print $2 }' "/proc/$1/status"; }
now() { date +%s%N; }
# One transfer with curl: "HTTP_CODE BYTES NS"; the answer's body (if
# not a download's) in $tmp/answer.
transfer() {	# $1: download|upload, $2: URL
	local t0 t1 r
	t0=$(now)
	if [ "$1" = download ]; then
		r=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$2")
	else
		r=$(curl -s -o "$tmp/answer" -w '%{http_code} %{size_upload}' \
		    -T "$tmp/big" "$2")
	fi
	t1=$(now)
	echo "$r $((t1 - t0))"
}
rate() {	# $1: "HTTP_CODE BYTES NS": "N MB/s" or the code
	awk -v r="$1" 'BEGIN { split(r, a, " ")
		if (a[1] !~ /^2/) { printf "HTTP %s", a[1]; exit }
		printf "%.2f s, %.0f MB/s", a[3] / 1e9, a[2] / (a[3] / 1e3) }'
}
start_tp tpr 64582 "http://127.0.0.1:$up" "$build"
tpr=$(port_of tpr)
tpr_pid=$(pid_of tpr)
# Warmed up: each path (small and large answers, an upload) taken once.
for _ in $(seq 10); do curl -s -o /dev/null "http://127.0.0.1:$tpr/queue/v1/small"; done
curl -s -o /dev/null "http://127.0.0.1:$tpr/queue/v1/large"
head -c $((1 << 20)) "$tmp/big" >"$tmp/up1m"
curl -s -o /dev/null -T "$tmp/up1m" "http://127.0.0.1:$tpr/queue/v1/put/warm"
rss_lines=()
for dir in download upload; do
	[ "$dir" = download ] && path=/queue/v1/big || path=/queue/v1/put/big
	# The peak (VmHWM) starts again from the RSS of now.
	reset=""
	echo 5 2>/dev/null >"/proc/$tpr_pid/clear_refs" ||
	    reset=" (VmHWM could not be reset: the peak since it started)"
	base=$(kib "$tpr_pid" VmRSS)
	tp_r=$(transfer $dir "http://127.0.0.1:$tpr$path")
	peak=$(kib "$tpr_pid" VmHWM)
	answer=""
	case $tp_r in
	2*) ;;
	*)	answer=$(head -c 200 "$tmp/answer" 2>/dev/null | tr -s '\r\n' '  ')
		answer=" ($answer)";;
	esac
	px_r=$(transfer $dir "http://127.0.0.1:$pxh$path")
	d_r=$(transfer $dir "http://127.0.0.1:$up/api$path")
	rss_lines+=("$(awk -v d="$dir" -v mib="$big_mib" -v base="$base" \
	    -v peak="$peak" -v tp="$(rate "$tp_r")" -v px="$(rate "$px_r")" \
	    -v di="$(rate "$d_r")" -v ans="$answer$reset" 'BEGIN {
		printf "   %d MiB %-8s tp peak RSS %.1f MiB, +%.1f MiB over %.1f " \
		    "MiB warmed up; tp %s, px %s, direct %s%s\n", mib, d,
		    peak / 1024, (peak - base) / 1024, base / 1024, tp, px, di,
		    ans }')")
done
stop_tp tpr "${tp_pids[-1]}"

t_rss=$(date +%s)

# --- 3. where the time goes: callgrind in the task proxy ---
# Instructions by object and function in a callgrind.out, their own and
# with what they call: lines of "self<TAB>inclusive<TAB>object<TAB>
# function".  (Names are compressed as "(id) name" once, "(id)" after;
# an object or function first named in a call's cob=/cfn= line keeps
# that name; the cost line after calls= is the callee's inclusive cost,
# not the caller's own; a function's calls to itself are not counted
# twice.)
cg_costs() {	# $1: callgrind.out
	awk '
	function name(s, kind,   id, rest) {
		if (match(s, /^\([0-9]+\)/)) {
			id = substr(s, 2, RLENGTH - 2)
			rest = substr(s, RLENGTH + 2)
			if (rest != "")
				names[kind, id] = rest
			return names[kind, id]
		}
		return s
	}
	/^ob=/ { ob = name(substr($0, 4), "ob"); next }
	/^cob=/ { name(substr($0, 5), "ob"); next }
	/^fn=/ { fn = name(substr($0, 4), "fn"); next }
	/^cfn=/ { cfn = name(substr($0, 5), "fn"); next }
	/^calls=/ { call = 1; next }
	/^[0-9+*-]/ {
		k = ob "\t" fn
		if (!call)
			self[k] += $2
		if (!call || cfn != fn)
			incl[k] += $2
		call = 0
		next
	}
	END { for (k in incl) printf "%.0f\t%.0f\t%s\n", self[k], incl[k], k }' "$1"
}
cg_dir=$tmp/cg
cg_skip="" cg_retried=""
cg_setup() {
	command -v valgrind >/dev/null || { cg_skip="no valgrind"; return; }
	mkdir -p "$cg_dir/spool"
	local w="-O2 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes"
	# shellcheck disable=SC2086
	if ! cc $w -o "$cg_dir/proxyd" "$here/callgrind_exec.c" ||
	    ! cc $w -shared -fPIC -o "$cg_dir/noseccomp.so" "$here/noseccomp.c"; then
		cg_skip="callgrind_exec.c or noseccomp.c did not build"
		return
	fi
	cp "$build/proxyd" "$cg_dir/taskproxy"
	chown 64583 "$cg_dir/spool"
	# valgrind keeps 12 fds under the hard limit: the task proxy's own
	# limit (as it set it for tph) then stays where it puts it.
	local nofile
	nofile=$(awk '/^Max open files/ { print $5 }' "/proc/$tph_pid/limits")
	tp_run=(prlimit --nofile=$((nofile + 12)):$((nofile + 12)))
}
# One task proxy under callgrind serving $3 GETs of 100 B; its self
# counts in $tmp/cg.$1.  If it fails: 1, and why in cg_skip.
cg_run() {	# $1: name, $2: rootURL, $3: requests
	local name=$1 port n=0 args=() helper why=""
	rm -f "$cg_dir/spool/callgrind.out"
	install -o 64583 -m 644 /dev/null "$cg_dir/spool/callgrind.out"
	start_tp "$name" 64583 "$2" "$cg_dir" --agent --spool "$cg_dir/spool"
	helper=$tp_last
	port=$(port_of "$name")
	if [ -n "$port" ]; then
		for _ in $(seq "$3"); do
			args+=("http://127.0.0.1:$port/queue/v1/small" -o /dev/null)
		done
		curl -s -w '%{http_code} %{errormsg}\n' "${args[@]}" \
		    >"$tmp/$name.codes" || true
		n=$(grep -c '^200 ' "$tmp/$name.codes" || true)
		[ "$n" != "$3" ] && why="$n of $3 GETs answered 200 (curl: $(grep -v '^200 ' "$tmp/$name.codes" | sort | uniq -c | tr -s '\n ' '  '))"
	else
		why="it did not start"
	fi
	stop_tp "$name" "$helper"
	[ -z "$why" ] && [ ! -s "$cg_dir/spool/callgrind.out" ] &&
	    why="callgrind wrote no counts"
	if [ -n "$why" ]; then
		cg_skip="the task proxy under valgrind: $why; its harness exited $tp_status; log: $(grep -v '^--' "$tmp/$name.err" | tail -n 3 | tr '\n' ' ')"
		return 1
	fi
	cg_costs "$cg_dir/spool/callgrind.out" >"$tmp/cg.$name"
	[ -n "${KEEP:-}" ] && cp "$cg_dir/spool/callgrind.out" "$KEEP.$name"
	# A success after a failure: the failure is told, not fatal.
	[ -n "$cg_skip" ] && cg_retried="$cg_retried $name: $cg_skip."
	cg_skip=""
	return 0
}
# Per request: (counts with 2 + N) - (counts with 2), over N; the lines
# of cg_costs.
cg_delta() {	# $1: name
	awk -F'\t' -v OFS='\t' -v n="$cg_n" '
	    FNR == NR { s[$3 "\t" $4] = $1; i[$3 "\t" $4] = $2; next }
	    { k = $3 "\t" $4
	      ds = ($1 - s[k]) / n; di = ($2 - i[k]) / n
	      if (ds > 0 || di > 0) printf "%.0f\t%.0f\t%s\n", ds, di, k }' \
	    "$tmp/cg.$1.a" "$tmp/cg.$1.b" >"$tmp/cg.$1"
}
cg_setup
if [ -z "$cg_skip" ]; then
	for scheme in http https; do
		[ "$scheme" = http ] && root=http://127.0.0.1:$up || root=https://localhost:$ups
		# (a run that fails is tried once more: its counts do not
		# depend on the machine's load, its success may)
		if ! { cg_run "cg$scheme.a" "$root" 2 ||
		    cg_run "cg$scheme.a" "$root" 2; } ||
		    ! { cg_run "cg$scheme.b" "$root" $((cg_n + 2)) ||
		    cg_run "cg$scheme.b" "$root" $((cg_n + 2)); }; then
			cg_skip="$scheme: $cg_skip"
			break
		fi
		cg_delta "cg$scheme"
	done
fi
tp_run=()
t_cg=$(date +%s)

# --- the report ---
fmt_ir() { awk -v v="$1" 'BEGIN {
	if (v >= 1e6) printf "%.2f M", v / 1e6
	else if (v >= 50) printf "%.1f k", v / 1e3
	else printf "-" }'; }
echo
echo "   tp = the task proxy, px = nginx proxy_pass (keepalive upstream, 256 KiB buffers)"
for l in "${rss_lines[@]}"; do echo "$l"; done
echo
echo "   where the time goes: CPU per request answered (utime + stime of the task proxy and of"
echo "   nginx's proxy worker over the wrk rounds, /proc/PID/stat; of which user)"
printf '   %-30s %18s %18s %7s\n' case "tp us/req (user)" "px us/req (user)" "tp/px"
while IFS='|' read -r label f; do
	# shellcheck disable=SC2086
	set -- $f
	awk -v l="$label" -v t="$5" -v tu="$6" -v p="${11}" -v pu="${12}" '
	function c(v, u) {
		return v < 0 ? "-" : sprintf("%.0f (%.0f)", v, u)
	}
	BEGIN {
		printf "   %-30s %18s %18s %s\n", l, c(t, tu), c(p, pu),
		    (t > 0 && p > 0 ? sprintf("%6.2fx", t / p) : "      -")
	}'
done <"$tmp/rows"
echo
if [ -n "$cg_skip" ]; then
	echo "   callgrind: (skipped: $cg_skip)"
else
	echo "   callgrind: instructions per proxied 100 B GET in the task proxy process"
	echo "   ((counts over $((cg_n + 2)) GETs - counts over 2) / $cg_n; nginx's worker is not counted;"
	echo "   memcpy and memset count one per byte: rep movsb/stosb)"
	printf '   %-30s %15s %15s\n' "" "http 127.0.0.1" "https localhost"
	tab=$(printf '\t')
	objs() {	# $1: name: "Ir<TAB>object" by object, largest first
		awk -F'\t' '{ n = split($3, p, "/"); o[p[n]] += $1 }
		    END { for (k in o) printf "%.0f\t%s\n", o[k], k }' "$tmp/cg.$1" |
		    sort -t"$tab" -k1,1nr
	}
	objs cghttp >"$tmp/obj.http"
	objs cghttps >"$tmp/obj.https"
	printf '   %-30s %15s %15s\n' "all" \
	    "$(fmt_ir "$(awk -F'\t' '{ s += $1 } END { print s }' "$tmp/cg.cghttp")")" \
	    "$(fmt_ir "$(awk -F'\t' '{ s += $1 } END { print s }' "$tmp/cg.cghttps")")"
	# The objects that matter to either, by their https counts.
	cut -f2 "$tmp/obj.https" "$tmp/obj.http" | awk '!seen[$0]++' | head -n 8 |
	while read -r o; do
		h=$(awk -F'\t' -v o="$o" '$2 == o { print $1 }' "$tmp/obj.http")
		s=$(awk -F'\t' -v o="$o" '$2 == o { print $1 }' "$tmp/obj.https")
		printf '     %-28s %15s %15s\n' "$o" "$(fmt_ir "${h:-0}")" "$(fmt_ir "${s:-0}")"
	done
	for scheme in http https; do
		echo "   $scheme: the 8 functions with the most instructions of their own"
		sort -t"$tab" -k1,1nr "$tmp/cg.cg$scheme" | head -n 8 |
		while IFS=$tab read -r ir _ ob fn; do
			printf '     %10s  %-22s %s\n' "$(fmt_ir "$ir")" "${ob##*/}" "$fn"
		done
		echo "   $scheme: the task proxy's own 10 costliest, with what they call (own in brackets)"
		awk -F'\t' -v OFS='\t' '$3 ~ /\/taskproxy$/ && $4 != "main" &&
		    $4 != "taskproxy_main" && $4 != "(below main)"' "$tmp/cg.cg$scheme" |
		    sort -t"$tab" -k2,2nr | head -n 10 |
		while IFS=$tab read -r ir incl _ fn; do
			printf '     %10s  %-22s %s\n' "$(fmt_ir "$incl")" "($(fmt_ir "$ir"))" "$fn"
		done
	done
	[ -n "$cg_retried" ] && echo "   (tried twice:$cg_retried)"
fi

echo
echo "   the proxy table: wrk -t1 from 127.0.0.1, median of $rounds rounds of $dur each, tp and px"
echo "   interleaved; tp/px: >= 1.0x requests/s and <= 1.0x p99 is the target"
printf '   %-30s %9s %9s %8s  %8s %8s  %8s %8s %8s\n' case "tp req/s" "px req/s" \
    "tp/px" "tp p50" "px p50" "tp p99" "px p99" "tp/px"
awk -F'|' '
function t(us) {
	if (us >= 1e6) return sprintf("%.2fs", us / 1e6)
	if (us >= 1000) return sprintf("%.2fms", us / 1000)
	return sprintf("%dus", us)
}
FILENAME ~ /direct$/ { direct[$1] = $2; next }
{
	split($2, f, " ")
	tr = f[1]; t50 = f[2]; t99 = f[3]; tb = f[4]
	pr = f[7]; p50 = f[8]; p99 = f[9]; pb = f[10]
	note = ""
	if (tb > 0) note = note sprintf(" (tp: %d error%s)", tb, tb > 1 ? "s" : "")
	if (pb > 0) note = note sprintf(" (px: %d error%s)", pb, pb > 1 ? "s" : "")
	if (tr == 0 || pr == 0) note = note " (0: no request completed within a round)"
	printf "   %-30s %9.0f %9.0f %7.3fx  %8s %8s  %8s %8s %7.2fx%s\n",
	    $1, tr, pr, (pr > 0 ? tr / pr : 0), t(t50), t(p50), t(t99),
	    t(p99), (p99 > 0 ? t99 / p99 : 0), note
	if ($1 in direct) {
		split(direct[$1], d, " ")
		printf "   %-30s %9.0f req/s, p50 %s, p99 %s direct: tp %.3fx, px %.3fx of its rate%s\n",
		    "  (no proxy, for reference)", d[1], t(d[2]), t(d[3]),
		    (d[1] > 0 ? tr / d[1] : 0), (d[1] > 0 ? pr / d[1] : 0),
		    (d[4] > 0 ? sprintf(" (%d errors)", d[4]) : "")
	}
}' "$tmp/direct" "$tmp/rows"
echo "   (the proxy section took $((t_cg - t_start)) s: set-up and wrk $((t_wrk - t_start)) s," \
    "transfers $((t_rss - t_wrk)) s, callgrind $((t_cg - t_rss)) s)"
