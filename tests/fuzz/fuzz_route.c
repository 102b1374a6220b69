/*
 * The task proxy's router (proxyd/route.c) on arbitrary request-targets,
 * under a fixed http root so that no host route ("https://...") can pass
 * for one of the root's.  Whatever the target: a refusal fills nothing;
 * /bewit and /credentials are what their prefixes say; a 404 has a body;
 * and a forward is <root>/api/<svc>/<ver>/ or https://<host>/ followed by
 * a byte-for-byte suffix of the target (less a '?' that starts an empty
 * query, which Go drops), every byte one a request line may carry; and
 * the host a forward names for the allow-list is the one its URL goes to.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/route.h"

#define ROOT	"http://127.0.0.1:4567"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the forwarded part of the target starts in url; NULL if url has
 * neither form. */
static const char *
forwarded_tail(const char *url)
{
	const char *p;

	if (strncmp(url, ROOT "/api/", strlen(ROOT "/api/")) == 0) {
		p = url + strlen(ROOT "/api/");
		for (int segment = 0; segment < 2; segment++)
			if ((p = strchr(p, '/')) == NULL)
				return NULL;
			else
				p++;
		return p;
	}
	if (strncmp(url, "https://", 8) == 0 &&
	    (p = strchr(url + 8, '/')) != NULL)
		return p + 1;
	return NULL;
}

static void
check_forward(const char *target, const struct route *r)
{
	const char *tail, *q;
	size_t tlen = strlen(target), taillen;

	if (r->url == NULL || r->body != NULL)
		abort();
	for (const unsigned char *p = (const unsigned char *)r->url; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			abort();
	if ((tail = forwarded_tail(r->url)) == NULL)
		abort();
	if ((q = strchr(target, '?')) != NULL && q[1] == '\0')
		tlen--;
	taillen = strlen(tail);
	if (taillen > tlen || memcmp(target + tlen - taillen, tail, taillen))
		abort();
}

/*
 * The host the allow-list checks is the host the request goes to: set
 * exactly for https://<host>/ forwards, equal to that URL's authority,
 * and of letters, digits, '-' and '.' only (no '@', ':' or '/' that
 * could make the URL name another).
 */
static void
check_host(const struct route *r)
{
	size_t n;

	if (strncmp(r->url, ROOT "/", strlen(ROOT "/")) == 0) {
		if (r->host != NULL)
			abort();
		return;
	}
	if (r->host == NULL)
		abort();
	n = strlen(r->host);
	if (n == 0 || strncmp(r->url, "https://", 8) != 0 ||
	    strncmp(r->url + 8, r->host, n) != 0 || r->url[8 + n] != '/' ||
	    strspn(r->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-.") != n)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *target = malloc(size + 1);
	struct route r;

	memcpy(target, data, size);
	target[size] = '\0';
	if (route_target(ROOT, target, &r) == -1) {
		if (r.url != NULL || r.body != NULL || r.host != NULL)
			abort();
		free(target);
		return 0;
	}
	switch (r.kind) {
	case ROUTE_BEWIT:
		if (strncmp(target, "/bewit", 6) != 0 || r.url || r.body ||
		    r.host)
			abort();
		break;
	case ROUTE_CREDENTIALS:
		if (strncmp(target, "/credentials", 12) != 0 || r.url ||
		    r.body || r.host)
			abort();
		break;
	case ROUTE_FORWARD:
		check_forward(target, &r);
		check_host(&r);
		break;
	case ROUTE_NOT_FOUND:
		if (r.body == NULL || r.url != NULL || r.host != NULL)
			abort();
		break;
	default:
		abort();
	}
	route_free(&r);
	route_free(&r);
	free(target);
	return 0;
}
