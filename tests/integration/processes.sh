# The four processes as the kernel sees them: separate uids, no
# privileges, not dumpable, unreachable from other uids; stopped cleanly.
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	for t in "four distinct uids" "children confined" "children not dumpable" \
	    "other uids cannot reach a child" "SIGTERM stops all within a second"; do
		skip "$t" root
	done
	exit 0
fi

start_supervisor || { not_ok "supervisor starts"; exit 1; }
kids=$(children_of "$SUP")
set -- $kids
[ $# -eq 3 ] && ok "supervisor has three children" ||
	not_ok "supervisor has three children" "children: $kids"

uids="$(status_field "$SUP" Uid)"
for k in $kids; do uids="$uids $(status_field "$k" Uid)"; done
distinct=$(printf '%s\n' $uids | sort -u | wc -l)
nonroot=$(for k in $kids; do status_field "$k" Uid; done | grep -cvx 0)
[ "$distinct" -eq 4 ] && [ "$nonroot" -eq 3 ] && ok "four distinct uids" ||
	not_ok "four distinct uids" "uids (supervisor first): $uids"

bad=""
for k in $kids; do
	name=$(cat /proc/"$k"/comm)
	[ "$(status_field "$k" NoNewPrivs)" = 1 ] || bad="$bad $name:NoNewPrivs"
	[ "$(status_field "$k" Seccomp)" = 2 ] || bad="$bad $name:Seccomp"
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		[ "$(status_field "$k" $c)" = 0000000000000000 ] ||
			bad="$bad $name:$c=$(status_field "$k" $c)"
	done
done
[ -z "$bad" ] && ok "children confined" ||
	not_ok "children confined" "wrong:$bad"

bad=""
for k in $kids; do
	# The files in a non-dumpable process's /proc directory belong to root.
	[ "$(stat -c %u /proc/"$k"/mem)" = 0 ] || bad="$bad $(cat /proc/"$k"/comm)"
done
[ -z "$bad" ] && ok "children not dumpable" ||
	not_ok "children not dumpable" "dumpable:$bad"

out=""
fail=0
for k in $kids; do
	for attacker in 65534 "$(status_field "$k" Uid)"; do
		o=$("$HELPERS/attack" "$attacker" "$k" 2>&1) || fail=1
		out="$out
uid $attacker -> $(cat /proc/"$k"/comm): $o"
	done
done
[ $fail -eq 0 ] && ok "other uids cannot reach a child" ||
	not_ok "other uids cannot reach a child" "$out"

t0=$(now_ms)
kill -TERM "$SUP"
wait "$SUP"; rc=$?
t1=$(now_ms)
left=""
for k in $kids; do [ -d /proc/"$k" ] && left="$left $k"; done
[ $rc -eq 0 ] && [ -z "$left" ] && [ $((t1 - t0)) -lt 1000 ] &&
	ok "SIGTERM stops all within a second" ||
	not_ok "SIGTERM stops all within a second" \
	    "exit $rc after $((t1 - t0)) ms; left:$left" "$(cat "$SUP_ERR")"
