/*
 * The task definition and its generic-worker payload: parsed, validated
 * against taskrunner/payload-schema.json and the rules the schema cannot
 * express, defaulted, and turned into a typed struct.  Only the
 * taskrunner parses task-controlled JSON (it holds nothing worth
 * stealing); the supervisor gets the typed summary and the definition as
 * re-encoded here.
 */
#ifndef SEPWORKER_PAYLOAD_H
#define SEPWORKER_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Largest task definition accepted, before any parsing; the re-encoding
 * must fit too. */
#define PAYLOAD_MAX_BYTES	(4u << 20)
/* Containers nested in a definition; a bare payload gets one less, so
 * that it still fits once wrapped in its definition. */
#define PAYLOAD_MAX_DEPTH	64
/* Error lines listed; one more line says how many were left out. */
#define PAYLOAD_MAX_ERRORS	100

/*
 * generic-worker's wording for a malformed payload in the task log: the
 * first line, then the schema (payload_schema_json); then the second
 * line, then "- <error>" for each line payload_parse gave.
 */
#define PAYLOAD_SCHEMA_INTRO \
	"Task payload for this worker type must conform to the following " \
	"jsonschema:"
#define PAYLOAD_ERRORS_INTRO \
	"TASK FAIL since the task payload is invalid. See errors:"

/* A growable list of strings: validation errors, one per problem. */
struct strlist {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

void	strlist_add(struct strlist *l, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	strlist_free(struct strlist *l);

enum artifact_type {
	ARTIFACT_FILE,
	ARTIFACT_DIRECTORY,
};

struct task_artifact {
	enum artifact_type	 type;
	char			*path;		/* as given, relative to the task dir */
	char			*name;		/* defaults to path */
	int64_t			 expires_ms;	/* defaults to the task's expires */
	char			*content_type;	/* NULL: decided per file by name */
	char			*content_encoding; /* NULL: decided per file by name */
	bool			 optional;
};

struct task_features {
	bool	chain_of_trust;
	bool	taskcluster_proxy;
	bool	live_log;
	bool	backing_log;
};

/* What the validator needs to know that is not in the task. */
struct payload_ctx {
	const char	*task_id;	/* for defaults of a bare payload */
	const char	*provisioner_id;
	const char	*worker_type;
	int64_t		 now_ms;
	uint32_t	 max_task_run_time;	/* config maxTaskRunTime */
	bool		 enable_chain_of_trust;	/* config enable* switches */
	bool		 enable_taskcluster_proxy;
	/* Why this worker cannot sign chain of trust now (no key, a weakened
	 * sandbox, an exposed key), NULL if it can. */
	const char	*chain_of_trust_refusal;
	/* Why this worker cannot give the task a proxy (no credentials),
	 * NULL if it can. */
	const char	*taskcluster_proxy_refusal;
};

struct task_def {
	/* the definition */
	char			*task_group_id;
	char			*scheduler_id;
	char			*provisioner_id;
	char			*worker_type;
	char			*project_id;
	char			*name;		/* metadata.name */
	char			*owner;		/* metadata.owner */
	int64_t			 created_ms;
	int64_t			 deadline_ms;
	int64_t			 expires_ms;
	char			**scopes;
	size_t			  nscopes;
	/* the payload */
	char			***commands;	/* NULL-terminated argv each */
	size_t			  ncommands;
	char			**env;		/* "KEY=value", payload's only */
	size_t			  nenv;
	uint32_t		  max_run_time;	/* seconds */
	struct task_artifact	 *artifacts;
	size_t			  nartifacts;
	int64_t			 *retry_codes;	/* onExitStatus.retry */
	size_t			  nretry;
	struct task_features	  features;
	char			 *live_log_name;	/* logs.live */
	char			 *backing_log_name;	/* logs.backing */
	/* the definition, parsed, for re-encoding */
	struct json_object	 *json;
};

/*
 * Parse and validate a task definition, or a bare payload (an object
 * with "command" and no "payload"), which is wrapped in a definition with
 * defaults from ctx.  Returns 0 and fills *out, or -1 with one line per
 * problem in errs ("payload.env.FOO: must be a string"), nothing half
 * filled in *out.
 */
int	payload_parse(const char *buf, size_t len, const struct payload_ctx *ctx,
	    struct task_def *out, struct strlist *errs);
void	task_def_free(struct task_def *t);

/*
 * The definition re-encoded as generic-worker's client does
 * (TaskDefinitionResponse: its key order, times as
 * YYYY-MM-DDTHH:MM:SS.mmmZ, payload and extra kept as given), two-space
 * indented.  malloc'd, *len set.
 */
char	*payload_reencode(const struct task_def *t, size_t *len);
/* Any JSON value, encoded the same way. */
char	*payload_encode(struct json_object *o, size_t *len);

/* The schema file, embedded: what `sepworker show-payload-schema` prints. */
extern const char payload_schema_json[];

/* Content type and encoding for an artifact file, by the extension of
 * its path in the task directory (not its artifact name), when the
 * payload does not say: generic-worker's rules, the type's extension
 * matched in any case, the encoding's identity list case-sensitively. */
const char *artifact_content_type(const char *path);
const char *artifact_content_encoding(const char *path);

#endif
