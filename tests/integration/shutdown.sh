# How sepworker ends: on request, when it is killed, when a child dies.
. "$(dirname "$0")/lib.sh"

# SIGINT, like SIGTERM, is a clean stop.
start_supervisor || { not_ok "supervisor starts"; exit 1; }
kids=$(children_of "$SUP")
kill -INT "$SUP"; wait "$SUP"; rc=$?
left=""; for k in $kids; do [ -d /proc/"$k" ] && left="$left $k"; done
[ $rc -eq 0 ] && [ -z "$left" ] && ok "SIGINT stops all, status 0" ||
	not_ok "SIGINT stops all, status 0" "exit $rc, left:$left" "$(cat "$SUP_ERR")"

# SIGKILL of the supervisor: PR_SET_PDEATHSIG takes every child with it.
start_supervisor || { not_ok "supervisor starts"; exit 1; }
kids=$(children_of "$SUP")
kill -KILL "$SUP"; wait "$SUP" 2>/dev/null
left=""; for k in $kids; do wait_gone "$k" 1 || left="$left $k"; done
[ -n "$kids" ] && [ -z "$left" ] && ok "SIGKILL of the supervisor leaves no child" ||
	not_ok "SIGKILL of the supervisor leaves no child" "children: $kids; left:$left"

# SIGKILL of any child: the supervisor stops everything, exits 69 and
# names the child and the signal.
for name in keyholder proxyd taskrunner; do
	start_supervisor || { not_ok "supervisor starts"; exit 1; }
	kids=$(children_of "$SUP")
	victim=$(child_pid "$name")
	t0=$(now_ms)
	kill -KILL "$victim"
	wait "$SUP"; rc=$?
	t1=$(now_ms)
	left=""; for k in $kids; do wait_gone "$k" 1 || left="$left $k"; done
	if [ $rc -eq 69 ] && [ -z "$left" ] &&
	    grep -q "$name (pid $victim) was killed by signal 9 (SIGKILL)" "$SUP_ERR"; then
		ok "SIGKILL of $name: supervisor exits 69 naming it ($((t1 - t0)) ms)"
	else
		not_ok "SIGKILL of $name: supervisor exits 69 naming it" \
		    "exit $rc, left:$left" "$(cat "$SUP_ERR")"
	fi
done
