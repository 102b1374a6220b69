#include <errno.h>
#include <time.h>

#include <sodium.h>

#include "proxyd/backoff.h"

#define BACKOFF_FIRST_MS	500.0
#define BACKOFF_FACTOR		1.5
#define BACKOFF_MAX_MS		60000.0

uint64_t
backoff_ms(unsigned attempt)
{
	double d = BACKOFF_FIRST_MS;
	double jitter = 0.5 + (double)randombytes_uniform(1000001) / 1e6;

	for (unsigned i = 1; i < attempt && d < BACKOFF_MAX_MS; i++)
		d *= BACKOFF_FACTOR;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	return (uint64_t)(d * jitter);
}

void
sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
