/*
 * The reclaim schedule (reclaim.h), apart so that it can be tested
 * alone.
 */
#include "proxyd/reclaim.h"

int64_t
reclaim_time(int64_t now, int64_t taken_until, bool *is_short)
{
	*is_short = false;
	if (taken_until - RECLAIM_MARGIN_MS - now >= RECLAIM_MIN_LEAD_MS)
		return taken_until - RECLAIM_MARGIN_MS;
	*is_short = true;
	if (taken_until <= now)
		return now;
	return now + (taken_until - now) / 2;
}
