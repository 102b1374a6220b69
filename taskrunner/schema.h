/*
 * A JSON Schema (draft-07) validator for exactly the keywords
 * taskrunner/payload-schema.json uses: type, properties,
 * additionalProperties, required, items, minItems, maxItems, minimum,
 * maximum, maxLength, enum, format (date-time), and the annotations
 * $schema, $id, title, description and default.  A schema using any other
 * keyword is refused when it is loaded, so the schema file cannot ask
 * for a check this code would silently skip.
 *
 * Nothing here knows the payload: paths in messages start from the name
 * the caller gives ("payload.artifacts[1].type: must be one of ...").
 */
#ifndef SEPWORKER_SCHEMA_H
#define SEPWORKER_SCHEMA_H

#include <stddef.h>

struct json_object;
struct schema;
struct strlist;

/* A schema document's own limits: it is ours, but checked like any input. */
#define SCHEMA_MAX_BYTES	(1u << 20)
#define SCHEMA_MAX_DEPTH	32

/*
 * Compile a schema.  Returns NULL with err set if it is not JSON, not an
 * object, or uses a keyword or a keyword value this validator does not
 * implement ("schema #/properties/mounts: unknown keyword \"oneOf\""), or
 * if a "default" does not satisfy its own schema.
 */
struct schema	*schema_load(const char *text, size_t len, char *err,
		    size_t errlen);
void		 schema_free(struct schema *s);

/*
 * Check v against s, v being called name in messages.  Each problem is one
 * line in errs, "<path>: <what is wrong>"; lines stop being added once
 * errs holds max_errors, but every problem is counted.  Returns the count
 * (0: valid).
 */
size_t		 schema_validate(const struct schema *s,
		    struct json_object *v, const char *name,
		    struct strlist *errs, size_t max_errors);

/*
 * Task-controlled text made safe for one log line: quoted, with quotes,
 * backslashes and control characters escaped as in JSON, and cut after
 * SCHEMA_QUOTE_MAX bytes ("...").  malloc'd.
 */
#define SCHEMA_QUOTE_MAX	64
char		*schema_quote(const char *s);
/* parent.key, or parent["key"] quoted as above when key is not a plain
 * identifier.  malloc'd. */
char		*schema_path_key(const char *parent, const char *key);

#endif
