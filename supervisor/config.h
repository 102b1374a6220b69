/*
 * The worker's one config file: generic-worker's JSON keys as they are
 * (matched case-insensitively, as Go's decoder does), plus sepworker's own
 * settings in a "sepworker" object.  Unknown keys are refused by name.
 * Every key, its type, default and meaning live in one table in config.c;
 * `sepworker config-reference` prints it, and docs/config.md is that
 * output (a test keeps them equal).
 */
#ifndef SEPWORKER_CONFIG_H
#define SEPWORKER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Largest config file accepted. */
#define CONFIG_MAX_BYTES	(1u << 20)

/* config_load_* results, mapped to generic-worker's exit codes. */
#define CONFIG_OK		0
#define CONFIG_ERR_LOAD		-1	/* unreadable or not JSON: exit 64 */
#define CONFIG_ERR_INVALID	-2	/* a key or value is wrong: exit 73 */

enum task_network {
	TASK_NET_HOST,		/* generic-worker's: proxy on loopback */
	TASK_NET_ISOLATED,	/* own network namespace, only lo */
};

struct sw_config {
	/* generic-worker keys sepworker uses */
	char		*root_url;
	char		*client_id;
	char		*access_token;		/* secret, see config.c */
	char		*certificate;		/* secret, see config.c */
	char		*provisioner_id;
	char		*worker_type;
	char		*worker_pool_id;	/* as given; split into the two */
	char		*worker_group;
	char		*worker_id;
	char		*ed25519_signing_key_location;
	char		*tasks_dir;
	char		*public_ip;
	char		*private_ip;
	char		*instance_id;
	char		*instance_type;
	char		*region;
	char		*availability_zone;
	char		*worker_location;
	char		*worker_type_metadata;	/* JSON object text, or NULL */
	uint32_t	 capacity;
	uint32_t	 taskcluster_proxy_port;
	uint32_t	 max_task_run_time;
	uint32_t	 number_of_tasks_to_run;
	uint32_t	 idle_timeout_secs;
	bool		 clean_up_task_dirs;
	bool		 create_object_artifacts;
	bool		 enable_chain_of_trust;
	bool		 enable_taskcluster_proxy;
	bool		 enable_live_log;
	bool		 shutdown_machine_on_idle;
	bool		 shutdown_machine_on_internal_error;

	/* sepworker's own, under "sepworker" */
	uint32_t	 keyholder_uid;
	uint32_t	 proxyd_uid;
	uint32_t	 taskrunner_uid;
	uint32_t	 taskproxy_uid;
	uint32_t	 proxy_retry_seconds;
	char		*proxy_limits;	/* --limits, "" for the defaults */
	char		*run_dir;		/* task uid lock files */
	char		*work_dir;		/* the worker's own state */
	uint32_t	 proxy_credentials_margin_seconds;
	char		*proxy_allowed_hosts;	/* ','-separated; NULL: unset */
	uint32_t	 task_uid_first;
	uint32_t	 task_uid_count;
	enum task_network task_network;
	uint64_t	 task_max_processes;
	uint64_t	 task_max_memory_bytes;		/* 0: no limit */
	uint64_t	 task_max_open_files;
	uint64_t	 task_max_file_size_bytes;	/* 0: no limit */
	uint64_t	 artifact_max_total_bytes;
	uint64_t	 artifact_max_count;
	uint64_t	 task_log_max_bytes;
	uint32_t	 artifact_collection_secs;
	char		*task_read_only_paths;	/* '\n'-separated */
	bool		 allow_task_ptrace_ns;	/* weakens the task sandbox */

	/* The file it was loaded from (NULL: none): a restarted proxyd's
	 * credentials are read from it again. */
	const char	*config_path;
};

/* Fill cfg with every default. */
void	config_defaults(struct sw_config *cfg);

/*
 * Load path over the defaults.  Returns CONFIG_OK, or CONFIG_ERR_LOAD /
 * CONFIG_ERR_INVALID with err set to a message naming the file, the key
 * and what is wrong.  Non-fatal notes (a generic-worker key sepworker
 * ignores) are logged with log_warnx().
 */
int	config_load_file(const char *path, struct sw_config *cfg, char *err,
	    size_t errlen);
int	config_load_buf(const char *buf, size_t len, struct sw_config *cfg,
	    char *err, size_t errlen);

/* What worker mode needs on top of a valid file: generic-worker's
 * required settings.  CONFIG_ERR_INVALID with generic-worker's message,
 * `Config setting "X" has not been defined`, for the first missing. */
int	config_check_worker(const struct sw_config *cfg, char *err,
	    size_t errlen);

/*
 * tasksDir as task users will meet it: "/", each directory on the way and
 * tasksDir itself, as far as they exist, owned by root, not writable by
 * group or others (an ancestor may be if it is sticky, like /var/tmp),
 * and searchable by others.  CONFIG_ERR_INVALID (exit 73) with err
 * naming the directory and what is wrong with it.
 */
int	config_check_tasks_dir(const struct sw_config *cfg, char *err,
	    size_t errlen);

/*
 * workerTypeMetadata as the task log's header shows it: the config's
 * object (or {}) with a "sepworker" entry saying what runs the task, as
 * generic-worker adds its own "generic-worker" entry.  Compact JSON,
 * malloc'd, at most TASK_METADATA_MAX bytes (the loader sees to that).
 */
char	*config_worker_type_metadata(const struct sw_config *cfg);

/* True if uid is in the task uid range. */
bool	config_is_task_uid(const struct sw_config *cfg, uint32_t uid);

/* Overwrite and free the secrets (after forwarding them), then NULL. */
void	config_wipe_secrets(struct sw_config *cfg);
void	config_free(struct sw_config *cfg);

/* Markdown reference of every key: docs/config.md is this output. */
void	config_print_reference(FILE *out);
/* The effective config as JSON, secrets shown as "(set)". */
void	config_print_effective(const struct sw_config *cfg, FILE *out);

#endif
