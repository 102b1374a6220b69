#!/bin/bash
# make bench: the task proxy (tp) against nginx proxy_pass (px), side by
# side in one run, to the same local upstream: an nginx serving fixed
# bodies under the rootURL's /api/queue/v1/, over http (by IP) and over
# https named by host name (localhost, with a test CA made here).  The
# peer nginx is set up as performance.md §4 measured it: an upstream
# block with keepalive 32, HTTP/1.1, 256 KiB buffers, and a fixed
# Authorization header in place of Hawk.
#
# Prints, per case, the median of ROUNDS interleaved wrk rounds of DUR
# (requests/s, p50, p99) for both and the ratios; then the task proxy's
# peak RSS (VmHWM) over a download and an upload of $2 MiB (default
# 1024) through it.  ROUNDS (3) and DUR (2s) set the wrk rounds.
# Needs root (the task proxy runs as its own uid; the https task proxy
# runs in a mount namespace of its own where the system CA bundle is
# the system bundle plus the test CA: proxyd reads
# /etc/ssl/certs/ca-certificates.crt only).
set -eu
build=$1
big_mib=${2:-1024}
rounds=${ROUNDS:-3}
dur=${DUR:-2s}
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
	echo "   (skipped: the task proxy needs root)"
	exit 0
fi
if ! "$here/../../scripts/install-bench-deps"; then
	echo "   (skipped: no nginx or wrk)"
	exit 0
fi

tmp=$(mktemp -d /tmp/sepworker-bench-proxy.XXXXXX)
chmod 755 "$tmp"
nginx_pids=() tp_pids=()
cleanup() {
	local p
	# End of input quits a harness and its task proxy; a kill if not.
	exec 7>&- 8>&-
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

# A free 127.0.0.1 port, not one handed out before in this run.
taken=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		case $taken in *" $p "*) continue;; esac
		[ -z "$(ss -Hltn "sport = :$p")" ] && break
	done
	taken="$taken$p "
	echo "$p"
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
up=$(free_port) ups=$(free_port) pxh=$(free_port) pxs=$(free_port)
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
	proxy_set_header Connection "";
	proxy_set_header Authorization "Hawk id=\"bench\", ts=\"1\", nonce=\"x\", mac=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"";
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
			proxy_ssl_name localhost;
			proxy_ssl_server_name on;
			proxy_ssl_verify on;
			proxy_ssl_trusted_certificate $tmp/ca.pem;
		}
	}
}
EOF
} >"$tmp/px/nginx.conf"
for n in up px; do
	nginx -p "$tmp/$n" -c "$tmp/$n/nginx.conf" -e "$tmp/$n/error.log" \
	    2>"$tmp/$n/stderr" &
	nginx_pids+=($!)
done
# (the task proxies pick free ports too: the nginx ones are taken first)
for p in "$up" "$ups" "$pxh" "$pxs"; do
	for _ in $(seq 100); do [ -n "$(ss -Hltn "sport = :$p")" ] && break; sleep 0.05; done
done
if ! kill -0 "${nginx_pids[@]}" 2>/dev/null; then
	echo "   nginx did not start: $(tail -n 3 "$tmp"/*/error.log)"
	exit 1
fi

# --- the task proxies: one per upstream ---
echo '{"clientId": "bench", "accessToken": "bench"}' >"$tmp/creds.json"
# the system bundle and the test CA: the task proxy parses what it would
# in a real deployment (a 220 KB bundle), plus the CA it needs here
cat /etc/ssl/certs/ca-certificates.crt "$tmp/ca.pem" >"$tmp/ca-bundle.crt"
start_tp() {	# $1: name, $2: uid, $3: rootURL; the rest: a command in front
	local name=$1 uid=$2 root=$3
	shift 3
	mkfifo "$tmp/$name.in"
	"$@" "$build/tests/helpers/taskproxy" "$build" "$uid" "$root" - \
	    "$tmp/creds.json" none <"$tmp/$name.in" >"$tmp/$name.out" \
	    2>"$tmp/$name.err" &
	tp_pids+=($!)
}
start_tp tph 64580 "http://127.0.0.1:$up"
# (the https one sees the bundle above as the system one; $0 and $@ are
# that sh's)
# shellcheck disable=SC2016
start_tp tps 64581 "https://localhost:$ups" unshare -m sh -c \
    'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"' \
    "$tmp/ca-bundle.crt"
exec 7>"$tmp/tph.in" 8>"$tmp/tps.in"
port_of() {	# $1: name
	for _ in $(seq 200); do
		grep -q '^port ' "$tmp/$1.out" 2>/dev/null && break
		sleep 0.05
	done
	sed -n 's/^port //p' "$tmp/$1.out"
}
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

# --- wrk rounds ---
# One wrk run: "rps p50_us p99_us bad" (bad: non-2xx answers + socket errors).
wrk_once() {	# $1: connections, $2: URL, the rest: wrk options
	local c=$1 url=$2
	shift 2
	wrk -t1 -c"$c" -d"$dur" --latency --timeout 10s "$@" "$url" 2>&1 |
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
	/Non-2xx/ { bad += $NF }
	/Socket errors/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
	END { printf "%s %s %s %d\n", rps + 0, p50 + 0, p99 + 0, bad }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# A case: tp and px, ROUNDS rounds interleaved; one row of the table.
bench_case() {	# $1: label, $2: tp port, $3: px port, $4: path, $5: connections, the rest: wrk options
	local label=$1 tpp=$2 pxp=$3 path=$4 c=$5
	shift 5
	: >"$tmp/tp.r"
	: >"$tmp/px.r"
	for _ in $(seq "$rounds"); do
		wrk_once "$c" "http://127.0.0.1:$tpp$path" "$@" >>"$tmp/tp.r"
		wrk_once "$c" "http://127.0.0.1:$pxp$path" "$@" >>"$tmp/px.r"
	done
	local f out=""
	for f in 1 2 3; do
		out="$out $(cut -d' ' -f$f "$tmp/tp.r" | median) $(cut -d' ' -f$f "$tmp/px.r" | median)"
	done
	out="$out $(awk '{ s += $4 } END { print s + 0 }' "$tmp/tp.r")"
	out="$out $(awk '{ s += $4 } END { print s + 0 }' "$tmp/px.r")"
	# shellcheck disable=SC2086
	row "$label" $out
}
row() {
	awk -v l="$1" -v tr="$2" -v pr="$3" -v t50="$4" -v p50="$5" \
	    -v t99="$6" -v p99="$7" -v tb="$8" -v pb="$9" '
	function t(us) {
		if (us >= 1e6) return sprintf("%.2fs", us / 1e6)
		if (us >= 1000) return sprintf("%.2fms", us / 1000)
		return sprintf("%dus", us)
	}
	BEGIN {
		note = ""
		if (tb > 0) note = note sprintf(" (tp: %d errors)", tb)
		if (pb > 0) note = note sprintf(" (px: %d errors)", pb)
		if (tr == 0 || pr == 0) note = note " (0: no request completed within a round)"
		printf "   %-30s %9.0f %9.0f %7.3fx  %8s %8s  %8s %8s %7.2fx%s\n",
		    l, tr, pr, (pr > 0 ? tr / pr : 0), t(t50), t(p50), t(t99),
		    t(p99), (p99 > 0 ? t99 / p99 : 0), note
	}'
}

echo "   tp = the task proxy, px = nginx proxy_pass (keepalive upstream, 256 KiB buffers);"
echo "   wrk -t1 from 127.0.0.1, median of $rounds rounds of $dur each, tp and px interleaved;"
echo "   ratios are tp/px: >= 1.0x requests/s and <= 1.0x p99 is the target"
printf '   %-30s %9s %9s %8s  %8s %8s  %8s %8s %8s\n' case "tp req/s" "px req/s" \
    "tp/px" "tp p50" "px p50" "tp p99" "px p99" "tp/px"
for scheme in http https; do
	if [ "$scheme" = http ]; then tpp=$tph pxp=$pxh up_name="http 127.0.0.1"
	else tpp=$tps pxp=$pxs up_name="https localhost"; fi
	for size in small large; do
		[ "$size" = small ] && sz="100 B" || sz="1 MiB"
		for c in 1 32; do
			bench_case "$sz GET c=$c, $up_name" "$tpp" "$pxp" \
			    "/queue/v1/$size" "$c"
		done
	done
	bench_case "10 MiB PUT c=1, $up_name" "$tpp" "$pxp" \
	    "/queue/v1/put/x" 1 -s "$tmp/put10m.lua"
done

# --- peak RSS over a large download and upload through the task proxy ---
tp_pid() {	# $1: fd of its harness's stdin, $2: name
	echo pid >&"$1"
	for _ in $(seq 100); do
		grep -q '^pid ' "$tmp/$2.out" && break
		sleep 0.05
	done
	sed -n 's/^pid //p' "$tmp/$2.out" | tail -n 1
}
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
now() { date +%s%N; }
pid=$(tp_pid 7 tph)
echo "   the task proxy (http upstream), $big_mib MiB through it with curl:" \
    "RSS before $(( $(rss_kb "$pid") / 1024 )) MiB, peak so far $(( $(hwm_kb "$pid") / 1024 )) MiB"
# The task proxy's listener holds a request body whole for retries and
# answers 413 above TP_BODY_MAX (64 MiB): a larger upload is tried, to
# show that, and the peak RSS is measured over a 64 MiB one.
small_mib=$(( big_mib < 64 ? big_mib : 64 ))
head -c $((small_mib << 20)) "$tmp/big" >"$tmp/up-small"
cases=("download $big_mib" "upload $big_mib")
[ "$small_mib" != "$big_mib" ] && cases+=("upload $small_mib")
for dir in "${cases[@]}"; do
	t0=$(now)
	case $dir in
	download*)
		code=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' \
		    "http://127.0.0.1:$tph/queue/v1/big");;
	"upload $big_mib")
		code=$(curl -s -o /dev/null -w '%{http_code} %{size_upload}' \
		    -T "$tmp/big" "http://127.0.0.1:$tph/queue/v1/put/big");;
	*)
		code=$(curl -s -o /dev/null -w '%{http_code} %{size_upload}' \
		    -T "$tmp/up-small" "http://127.0.0.1:$tph/queue/v1/put/up");;
	esac
	t1=$(now)
	awk -v d="$dir" -v r="$code" -v ns=$((t1 - t0)) -v hwm="$(hwm_kb "$pid")" \
	    -v rss="$(rss_kb "$pid")" 'BEGIN {
		split(r, a, " ")
		printf "   %-9s MiB: HTTP %s, %d bytes moved in %.2f s (%.0f MB/s); " \
		    "peak RSS (VmHWM) %.1f MiB, RSS after %.1f MiB\n", d, a[1],
		    a[2], ns / 1e9, a[2] / (ns / 1e3), hwm / 1024, rss / 1024 }'
done
