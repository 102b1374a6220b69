/*
 * A strict RFC 8259 validating scanner that builds no objects.
 *
 * It answers one question about untrusted bytes: are they exactly one
 * JSON value and nothing else?  The supervisor uses it where it must not
 * parse (a task definition spliced into the chain-of-trust document), and
 * json_parse_strict() runs it before json-c, which is laxer than the RFC
 * (it accepts some invalid input and keeps the last of two duplicate keys).
 *
 * It is iterative (nesting costs heap, bounded by max_depth, never stack),
 * reads nothing outside buf[0..len), and sorts each object's keys when the
 * object closes, so duplicate detection is O(n log n).
 */
#ifndef SEPWORKER_JSONSCAN_H
#define SEPWORKER_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

struct jsonscan_opts {
	unsigned	max_depth;		/* objects + arrays nested */
	bool		require_object;		/* top level must be {...} */
	bool		reject_duplicate_keys;	/* compared after unescaping */
	/*
	 * Refuse keys containing U+0000.  json-c keeps keys as C strings,
	 * so "a\u0000b" would silently become "a" and could collide with
	 * another key after our duplicate check.
	 */
	bool		reject_nul_in_keys;
	/*
	 * NULL, or a NULL-terminated list of keys the top-level object may
	 * not hold, compared after unescaping: what a splice must not let
	 * anyone add beside the keys the caller writes itself.
	 */
	const char *const *refuse_top_keys;
};

/*
 * Return 0 if buf[0..len) is exactly one JSON value, optionally surrounded
 * by JSON whitespace.  Otherwise return -1 with err set to a message that
 * names the problem and the 0-based byte offset where it was found, e.g.
 * "byte 17: duplicate key \"rootURL\"".
 */
int	jsonscan_validate(const char *buf, size_t len,
	    const struct jsonscan_opts *opts, char *err, size_t errlen);

#endif
