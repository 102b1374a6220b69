/*
 * A task proxy's limits (struct tp_limits), and --limits' syntax:
 * comma-separated name=value pairs, each name at most once, every value
 * a decimal number within its bounds.  Bad input is refused whole,
 * naming the pair that was wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "proxyd/limits.h"

const struct tp_limits tp_default_limits = {
	.connections = 1024,
	.head_bytes = 32u << 10,
	.headers = 100,
	.head_timeout_s = 30,
	.idle_timeout_s = 60,
	.body_timeout_s = 60,
	.send_timeout_s = 300,
	.upstream_timeout_s = 300,
	.retry_body = 1u << 20,
};

struct limit {
	const char	*name;
	size_t		 off;
	bool		 is_size;
	uint64_t	 min, max;
};

static const struct limit limits[] = {
	{ "connections", offsetof(struct tp_limits, connections), false,
	    1, TP_CONNECTIONS_MAX },
	{ "head-bytes", offsetof(struct tp_limits, head_bytes), false,
	    1024, 1u << 20 },
	{ "headers", offsetof(struct tp_limits, headers), false, 1, 10000 },
	{ "head-timeout", offsetof(struct tp_limits, head_timeout_s), false,
	    1, 3600 },
	{ "idle-timeout", offsetof(struct tp_limits, idle_timeout_s), false,
	    1, 3600 },
	{ "body-timeout", offsetof(struct tp_limits, body_timeout_s), false,
	    1, 3600 },
	{ "send-timeout", offsetof(struct tp_limits, send_timeout_s), false,
	    1, 86400 },
	{ "upstream-timeout", offsetof(struct tp_limits, upstream_timeout_s),
	    false, 1, 86400 },
	{ "retry-body", offsetof(struct tp_limits, retry_body), true,
	    0, 64u << 20 },
};

int
limits_parse(const char *spec, struct tp_limits *lim, char *err,
    size_t errlen)
{
	char *copy = xstrdup(spec), *save = NULL, *pair;
	unsigned seen = 0;
	int rc = 0;

	for (pair = strtok_r(copy, ",", &save); pair != NULL;
	    pair = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(pair, '=');
		const struct limit *l = NULL;
		uint64_t v;
		size_t i;

		if (eq != NULL)
			*eq = '\0';
		for (i = 0; i < nitems(limits); i++)
			if (strcmp(limits[i].name, pair) == 0)
				l = &limits[i];
		if (l == NULL || eq == NULL) {
			snprintf(err, errlen, "--limits: \"%s\" is not "
			    "name=value with a name of connections, "
			    "head-bytes, headers, head-timeout, idle-timeout, "
			    "body-timeout, send-timeout, upstream-timeout or "
			    "retry-body", pair);
			rc = -1;
			break;
		}
		i = (size_t)(l - limits);
		if (seen & (1u << i)) {
			snprintf(err, errlen, "--limits: %s is given twice",
			    l->name);
			rc = -1;
			break;
		}
		seen |= 1u << i;
		if (parse_u64(eq + 1, l->min, l->max, &v) == -1) {
			snprintf(err, errlen, "--limits: %s=%s is not a number "
			    "from %llu to %llu", l->name, eq + 1,
			    (unsigned long long)l->min,
			    (unsigned long long)l->max);
			rc = -1;
			break;
		}
		if (l->is_size)
			*(size_t *)((char *)lim + l->off) = (size_t)v;
		else
			*(unsigned *)((char *)lim + l->off) = (unsigned)v;
	}
	free(copy);
	return rc;
}
