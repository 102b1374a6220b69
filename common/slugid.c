#include <regex.h>

#include "common/log.h"
#include "common/slugid.h"

#define SLUGID_PATTERN	"^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-]" \
			"[CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$"

bool
slugid_valid(const char *s)
{
	regex_t re;
	bool ok;

	if (regcomp(&re, SLUGID_PATTERN, REG_EXTENDED | REG_NOSUB) != 0)
		fatalx("compiling the slugid pattern");
	ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}
