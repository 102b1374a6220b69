# Each real child, started as the supervisor starts it, answers a PING,
# stops on SHUTDOWN or when its socket closes, and exits with status 3 on
# any message its channel does not allow.
. "$(dirname "$0")/lib.sh"

uid=64503
for role in keyholder proxyd taskrunner; do
	for c in ping eof unknown-type oversize bad-length fd-on-ping wrong-way; do
		out=$("$HELPERS/drive_child" "$BUILD" "$role" "$uid" "$c" 2>&1)
		rc=$?
		if [ $rc -ne 0 ]; then
			not_ok "$role: $c" "$out"
		elif [ "$c" != ping ] && [ "$c" != eof ] &&
		    ! printf '%s\n' "$out" | grep -q '^Eprotocol violation'; then
			not_ok "$role: $c is logged as a protocol violation" "$out"
		else
			ok "$role: $c"
		fi
	done
done
