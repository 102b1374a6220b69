/*
 * taskcluster-proxy's /bewit on arbitrary bodies (the task chooses them),
 * and url_split on the same bytes.  A signed URL is printable, splits
 * again into the same host and port, ends in a bewit parameter, and is a
 * fixed point: signing it again (the old bewit dropped, the query already
 * in Go's encoding) gives the same URL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/url.h"

#define KEY	(const unsigned char *)"no-secret", 9
#define EXT	"eyJhdXRob3JpemVkU2NvcGVzIjpbXX0="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool cond)
{
	if (!cond)
		abort();
}

static bool
printable(const char *s)
{
	for (; *s; s++)
		if (*s <= 0x20 || *s > 0x7e)
			return false;
	return true;
}

static void
check_split(const uint8_t *data, size_t size)
{
	struct url_parts u;
	char err[256], *s = malloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	if (url_split(s, &u, err, sizeof(err)) == 0) {
		check(*u.host != '\0' && printable(u.host));
		check(u.target[0] == '/' && printable(u.target));
		check(strchr(u.target, '#') == NULL);
		check(u.port != 0);
		url_parts_free(&u);
	} else
		check(err[0] != '\0' && u.host == NULL && u.target == NULL);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct url_parts u, v;
	char err[256], *signed_url, *again, *q;
	const char *last;

	check_split(data, size);
	signed_url = bewit_url((const char *)data, size, "tester", KEY, EXT,
	    1700000000, 3600, err, sizeof(err));
	if (signed_url == NULL) {
		check(err[0] != '\0');
		return 0;
	}
	check(printable(signed_url));
	check(url_split(signed_url, &u, err, sizeof(err)) == 0);
	q = strchr(u.target, '?');
	check(q != NULL);
	last = strrchr(q, '&');
	last = last ? last + 1 : q + 1;
	check(strncmp(last, "bewit=", 6) == 0 && last[6] != '\0');
	check(strspn(last + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
	    "vwxyz0123456789-_") == strlen(last + 6));

	if (strlen(signed_url) <= BEWIT_BODY_MAX) {
		again = bewit_url(signed_url, strlen(signed_url), "tester", KEY,
		    EXT, 1700000000, 3600, err, sizeof(err));
		check(again != NULL && strcmp(again, signed_url) == 0);
		check(url_split(again, &v, err, sizeof(err)) == 0);
		check(strcmp(u.host, v.host) == 0 && u.port == v.port);
		url_parts_free(&v);
		free(again);
	}
	url_parts_free(&u);
	free(signed_url);
	return 0;
}
