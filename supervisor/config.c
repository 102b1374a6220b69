/*
 * The config file: one table of every key, a loader that applies a file
 * over the defaults, and the two printers (reference and effective).
 *
 * Secrets (accessToken, certificate) are read with read(2) into
 * sodium_malloc'd memory, parsed by json_parse_strict (whose tokener
 * buffer never reallocs and is wiped), copied into sodium_malloc'd
 * strings, and every string in the parsed document is wiped before it is
 * freed: a secret under a misspelt key is wiped too.  sodium_free() wipes
 * what it frees.  The secret fields of struct sw_config are therefore
 * always sodium_malloc'd or NULL; every other string is malloc'd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "common/chan_taskrunner.h"
#include "common/json.h"
#include "common/jsonscan.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "common/version.h"
#include "proxyd/limits.h"
#include "supervisor/config.h"

/* Deep enough for workerTypeMetadata and d2gConfig, far from the stack. */
#define CONFIG_MAX_DEPTH	64

/* workerTypeMetadata as compact JSON, leaving room in TASK_ASSIGN's
 * TASK_METADATA_MAX for the "sepworker" entry added to it. */
#define METADATA_MAX_BYTES	(TASK_METADATA_MAX - 1024)

#define UID_MAX_VALID		2147483646u	/* (uid_t)-1 and INT_MAX+ are
						   special to many tools */
#define UID_NOBODY		65534u

enum key_type {
	KEY_STRING,
	KEY_IP,		/* a string holding an IPv4 or IPv6 address, or "" */
	KEY_BOOL,
	KEY_UINT,
	KEY_OBJECT,	/* kept as its JSON text */
	KEY_NETWORK,	/* "host" or "isolated" */
	KEY_PATHS,	/* array of absolute paths, stored joined by '\n' */
	KEY_HOSTS,	/* array of host patterns, stored joined by ','; NULL
			   when absent (the rootURL's host) */
};

enum key_scope {
	SCOPE_GW,		/* top level, generic-worker's keys */
	SCOPE_SEPWORKER,	/* inside the "sepworker" object */
};

#define NOT_STORED	SIZE_MAX

struct key_spec {
	const char	*name;		/* canonical spelling */
	enum key_scope	 scope;
	enum key_type	 type;
	size_t		 off;		/* in struct sw_config, or NOT_STORED */
	size_t		 size;		/* of that field */
	uint64_t	 min;		/* KEY_UINT bounds */
	uint64_t	 max;
	const char	*def_str;	/* KEY_STRING, KEY_IP */
	uint64_t	 def_num;	/* KEY_UINT, KEY_BOOL, KEY_NETWORK */
	bool		 secret;
	bool		 required;	/* by config_check_worker */
	const char	*doc;
};

#define STORED(field)	.off = offsetof(struct sw_config, field),	\
			.size = sizeof(((struct sw_config *)0)->field)
#define IGNORED		.off = NOT_STORED
#define STR(d)		.type = KEY_STRING, .def_str = (d)
#define BOOL(d)		.type = KEY_BOOL, .def_num = (d)
#define UINT(lo, hi, d)	.type = KEY_UINT, .min = (lo), .max = (hi), \
			.def_num = (d)
#define SW		.scope = SCOPE_SEPWORKER

static const struct key_spec config_keys[] = {
	/* generic-worker's keys, alphabetically, as in its documentation. */
	{ "accessToken", STR(""), STORED(access_token), .secret = true,
	  .required = true,
	  .doc = "Access token of the worker's Taskcluster credentials. "
	  "Handed to proxyd, then wiped. Required in worker mode." },
	{ "allowedHighMemoryDurationSecs", UINT(0, UINT64_MAX, 5), IGNORED,
	  .doc = "generic-worker: how long memory use may stay above the "
	  "limit before the task is aborted." },
	{ "availabilityZone", STR(""), STORED(availability_zone),
	  .doc = "Availability zone of the worker's instance (from "
	  "worker-runner's provider metadata)." },
	{ "cachesDir", STR("caches"), IGNORED,
	  .doc = "generic-worker: directory for task caches." },
	{ "capacity", UINT(1, 255, 1), STORED(capacity),
	  .doc = "Tasks run at once. sepworker runs one task at a time, "
	  "so it must be 1." },
	{ "certificate", STR(""), STORED(certificate), .secret = true,
	  .doc = "Certificate of temporary Taskcluster credentials; empty "
	  "for permanent ones. Handed to proxyd, then wiped." },
	{ "cleanUpTaskDirs", BOOL(true), STORED(clean_up_task_dirs),
	  .doc = "Delete each task's directory once the task is resolved." },
	{ "clientId", STR(""), STORED(client_id), .required = true,
	  .doc = "Client ID of the worker's Taskcluster credentials. "
	  "Required in worker mode." },
	{ "createObjectArtifacts", BOOL(false),
	  STORED(create_object_artifacts),
	  .doc = "Upload artifacts through the object service instead of "
	  "as S3 artifacts." },
	{ "d2gConfig", .type = KEY_OBJECT, IGNORED,
	  .doc = "generic-worker: how docker-worker payloads are "
	  "translated and run." },
	{ "disableNativePayloads", BOOL(false), IGNORED,
	  .doc = "generic-worker: accept only docker-worker payloads." },
	{ "disableOOMProtection", BOOL(false), IGNORED,
	  .doc = "generic-worker: do not shield the worker from the OOM "
	  "killer." },
	{ "disableReboots", BOOL(false), IGNORED,
	  .doc = "generic-worker: never reboot between tasks." },
	{ "downloadsDir", STR("downloads"), IGNORED,
	  .doc = "generic-worker: directory for downloaded mounts." },
	{ "ed25519SigningKeyLocation", STR(""),
	  STORED(ed25519_signing_key_location), .required = true,
	  .doc = "File holding the base64 ed25519 seed that chain-of-trust "
	  "documents are signed with; only the keyholder opens it. "
	  "Required in worker mode." },
	{ "enableChainOfTrust", BOOL(true), STORED(enable_chain_of_trust),
	  .doc = "Allow tasks to ask for chain-of-trust signing "
	  "(`features.chainOfTrust`)." },
	{ "enableInteractive", BOOL(true), IGNORED,
	  .doc = "generic-worker: allow interactive shells "
	  "(`features.interactive`)." },
	{ "enableLiveLog", BOOL(true), STORED(enable_live_log),
	  .doc = "Allow tasks to use the live log (`features.liveLog`)." },
	{ "enableLoopbackAudio", BOOL(true), IGNORED,
	  .doc = "generic-worker: allow a loopback sound device "
	  "(`features.loopbackAudio`)." },
	{ "enableLoopbackVideo", BOOL(true), IGNORED,
	  .doc = "generic-worker: allow a loopback video device "
	  "(`features.loopbackVideo`)." },
	{ "enableMetadata", BOOL(true), IGNORED,
	  .doc = "generic-worker: write a metadata file for each task." },
	{ "enableMounts", BOOL(true), IGNORED,
	  .doc = "generic-worker: allow `mounts` in payloads." },
	{ "enableOSGroups", BOOL(true), IGNORED,
	  .doc = "generic-worker: allow `osGroups` in payloads." },
	{ "enableResourceMonitor", BOOL(true), IGNORED,
	  .doc = "generic-worker: sample each task's memory and CPU use." },
	{ "enableRunTaskAsCurrentUser", BOOL(true), IGNORED,
	  .doc = "generic-worker: allow `features.runTaskAsCurrentUser`." },
	{ "enableTaskclusterProxy", BOOL(true),
	  STORED(enable_taskcluster_proxy),
	  .doc = "Allow tasks to use the Taskcluster proxy "
	  "(`features.taskclusterProxy`)." },
	{ "headlessTasks", BOOL(false), IGNORED,
	  .doc = "generic-worker: run tasks without a graphical session." },
	{ "idleTimeoutSecs", UINT(0, UINT32_MAX, 0),
	  STORED(idle_timeout_secs),
	  .doc = "Exit with code 68 after this many seconds without a "
	  "task; 0 waits for ever." },
	{ "instanceId", STR(""), STORED(instance_id),
	  .doc = "Cloud instance ID, recorded in the chain-of-trust "
	  "environment." },
	{ "instanceType", STR(""), STORED(instance_type),
	  .doc = "Cloud instance type, recorded in the chain-of-trust "
	  "environment and given to tasks as TASKCLUSTER_INSTANCE_TYPE." },
	{ "interactivePort", UINT(0, 65535, 53654), IGNORED,
	  .doc = "generic-worker: port of the interactive shell server." },
	{ "livelogExecutable", STR("livelog"), IGNORED,
	  .doc = "generic-worker: path of the livelog program." },
	{ "livelogExposePort", UINT(0, 65535, 0), IGNORED,
	  .doc = "generic-worker: port the live log is exposed on." },
	{ "livelogPortBase", UINT(0, 65535, 60098), IGNORED,
	  .doc = "generic-worker: first of the live log's local ports." },
	{ "loopbackAudioDeviceNumber", UINT(0, 255, 16), IGNORED,
	  .doc = "generic-worker: ALSA card number of the loopback sound "
	  "device." },
	{ "loopbackVideoDeviceNumber", UINT(0, 255, 0), IGNORED,
	  .doc = "generic-worker: /dev/videoN number of the loopback video "
	  "device." },
	{ "maxMemoryUsagePercent", UINT(0, UINT64_MAX, 90), IGNORED,
	  .doc = "generic-worker: memory use, in percent, that aborts a "
	  "task." },
	{ "maxTaskRunTime", UINT(0, UINT32_MAX, 86400),
	  STORED(max_task_run_time),
	  .doc = "Largest `maxRunTime`, in seconds, a payload may ask "
	  "for." },
	{ "minAvailableMemoryBytes", UINT(0, UINT64_MAX, 524288000), IGNORED,
	  .doc = "generic-worker: free memory below which a task is "
	  "aborted." },
	{ "numberOfTasksToRun", UINT(0, UINT32_MAX, 0),
	  STORED(number_of_tasks_to_run),
	  .doc = "Exit with code 0 after this many tasks; 0 means no "
	  "limit." },
	{ "privateIP", .type = KEY_IP, .def_str = "", STORED(private_ip),
	  .doc = "Private IP address, recorded in the chain-of-trust "
	  "environment." },
	{ "provisionerId", STR("test-provisioner"), STORED(provisioner_id),
	  .required = true,
	  .doc = "First half of the worker pool ID "
	  "(`provisionerId/workerType`)." },
	{ "publicIP", .type = KEY_IP, .def_str = "", STORED(public_ip),
	  .doc = "Public IP address, recorded in the chain-of-trust "
	  "environment." },
	{ "region", STR(""), STORED(region),
	  .doc = "Cloud region, recorded in the chain-of-trust "
	  "environment." },
	{ "requiredDiskSpaceMegabytes", UINT(0, UINT64_MAX, 10240), IGNORED,
	  .doc = "generic-worker: free disk space to make before each "
	  "task." },
	{ "rootURL", STR(""), STORED(root_url), .required = true,
	  .doc = "Root URL of the Taskcluster deployment, starting with "
	  "https:// or http://. Required in worker mode." },
	{ "runAfterUserCreation", STR(""), IGNORED,
	  .doc = "generic-worker: program run after each task user is "
	  "created." },
	{ "sentryProject", STR("generic-worker"), IGNORED,
	  .doc = "generic-worker: Sentry project for crash reports." },
	{ "shutdownMachineOnIdle", BOOL(false),
	  STORED(shutdown_machine_on_idle),
	  .doc = "After the idle timeout (exit 68), ask worker-runner to "
	  "shut the worker down (its shutdown message; without "
	  "worker-runner sepworker only logs it: it never powers the "
	  "machine off itself)." },
	{ "shutdownMachineOnInternalError", BOOL(false),
	  STORED(shutdown_machine_on_internal_error),
	  .doc = "After an internal error (exit 69), ask worker-runner to "
	  "shut the worker down, as shutdownMachineOnIdle." },
	{ "taskclusterProxyExecutable", STR("taskcluster-proxy"), IGNORED,
	  .doc = "generic-worker: path of the taskcluster-proxy program "
	  "(sepworker's proxy is proxyd)." },
	{ "taskclusterProxyPort", UINT(1, 65535, 80),
	  STORED(taskcluster_proxy_port),
	  .doc = "Loopback port of the per-task proxy "
	  "(TASKCLUSTER_PROXY_URL)." },
	{ "tasksDir", STR("/var/lib/sepworker/tasks"), STORED(tasks_dir),
	  .required = true,
	  .doc = "Directory under which each task gets its own "
	  "directory. Not below /tmp, /dev, /run, /proc or /sys, which "
	  "tasks get private copies of; made (mode 0711) if missing." },
	{ "workerGroup", STR("test-worker-group"), STORED(worker_group),
	  .required = true,
	  .doc = "Worker group reported to the Queue." },
	{ "workerId", STR(""), STORED(worker_id), .required = true,
	  .doc = "Worker ID reported to the Queue. Required in worker "
	  "mode." },
	{ "workerLocation", STR(""), STORED(worker_location),
	  .doc = "JSON text saying where the worker runs (worker-runner "
	  "writes it); given to tasks as TASKCLUSTER_WORKER_LOCATION." },
	{ "workerPoolId", STR(""), STORED(worker_pool_id),
	  .doc = "Not a generic-worker key (its config has provisionerId and "
	  "workerType only); worker-runner's name for the pair, accepted so "
	  "a static config can say `\"workerPoolId\": \"proj/linux\"` as "
	  "worker-runner's own config does. Split at the first `/` into "
	  "provisionerId and workerType, as worker-runner splits it; one "
	  "without a `/`, or with an empty half, or one that disagrees with "
	  "a provisionerId or workerType given beside it, is refused (exit "
	  "73)." },
	{ "workerType", STR(""), STORED(worker_type), .required = true,
	  .doc = "Second half of the worker pool ID. Required in worker "
	  "mode." },
	{ "workerTypeMetadata", .type = KEY_OBJECT,
	  STORED(worker_type_metadata),
	  .doc = "Free-form object printed at the top of every task "
	  "log." },
	{ "wstAudience", STR(""), IGNORED,
	  .doc = "generic-worker: websocktunnel audience." },
	{ "wstServerURL", STR(""), IGNORED,
	  .doc = "generic-worker: websocktunnel server URL." },

	/* sepworker's own, inside "sepworker". */
	{ "keyholderUid", SW, UINT(1, UID_MAX_VALID, 64501),
	  STORED(keyholder_uid),
	  .doc = "Numeric uid, and gid, the keyholder runs as. Needs no "
	  "passwd entry; must differ from the other two and lie outside "
	  "the task uid range." },
	{ "proxydUid", SW, UINT(1, UID_MAX_VALID, 64502), STORED(proxyd_uid),
	  .doc = "Numeric uid, and gid, proxyd runs as (no passwd entry "
	  "needed)." },
	{ "taskrunnerUid", SW, UINT(1, UID_MAX_VALID, 64503),
	  STORED(taskrunner_uid),
	  .doc = "Numeric uid, and gid, the taskrunner runs as (no passwd "
	  "entry needed)." },
	{ "taskProxyUid", SW, UINT(1, UID_MAX_VALID, 64504),
	  STORED(taskproxy_uid),
	  .doc = "Numeric uid, and gid, each task's own proxy runs as (no "
	  "passwd entry needed): not proxyd's, so a task that broke its "
	  "proxy could not signal or read the long-lived proxyd." },
	{ "proxyRetrySeconds", SW, UINT(0, 3600, 900),
	  STORED(proxy_retry_seconds),
	  .doc = "How long the task proxy keeps retrying a request that "
	  "fails with a network error or a 5xx (exponential backoff with "
	  "jitter, as the Taskcluster clients; 900 s is the Go client's "
	  "budget). 0 makes one attempt." },
	{ "proxyLimits", SW, STR(""), STORED(proxy_limits),
	  .doc = "What a task's proxy allows its task, as comma-separated "
	  "`name=value` pairs; each name left out keeps its default. "
	  "`connections` (1024, at most 1700): the task's connections at "
	  "once; at the limit the one waiting longest for a request head is "
	  "closed to make room. `head-bytes` (32768) and `headers` (100): "
	  "a request head's size and header count, else 431. `head-timeout` "
	  "(30 s, from the head's first byte: 408), `idle-timeout` (60 s "
	  "between requests), `body-timeout` (60 s without a byte of a "
	  "request body), `send-timeout` (300 s in which the task takes none "
	  "of its response), `upstream-timeout` (300 s without a byte from "
	  "upstream: 504 before the response, a cut response after). "
	  "`retry-body` (1048576): request bodies up to this size are held "
	  "so that a failed attempt can be retried; larger ones are streamed "
	  "and sent once. Example: `\"connections=256,head-timeout=10\"`." },
	{ "runDir", SW, STR("/run/sepworker"), STORED(run_dir),
	  .doc = "Directory (made 0700, root's) of the lock files that "
	  "lease each task uid to the worker running a task as it "
	  "(`task-uid-<N>.lock`). Workers sharing a host and a task uid "
	  "range must share it: a start cleans up after a crashed run only "
	  "the uids no live worker holds." },
	{ "workDir", SW, STR("/var/lib/sepworker"), STORED(work_dir),
	  .doc = "The worker's own state, root's alone: in worker mode, the "
	  "files the worker keeps for each task while it runs (the backing "
	  "log, certified.log, the chain-of-trust files, the task proxy's "
	  "upload spool) and `tasks-resolved-count.txt`, the count of tasks "
	  "resolved across restarts that `numberOfTasksToRun` is compared "
	  "with (generic-worker keeps it in its working directory). Made "
	  "mode 0711 if missing, so that a tasksDir below it (the default) "
	  "stays reachable by task users; everything the worker puts in it "
	  "is mode 0700 or 0600." },
	{ "proxyCredentialsMarginSeconds", SW, UINT(0, 3600, 300),
	  STORED(proxy_credentials_margin_seconds),
	  .doc = "When the worker's credentials are permanent, a task's "
	  "proxy gets temporary credentials issued by proxyd instead, for "
	  "the task's scopes, expiring at the task's deadline or this many "
	  "seconds after maxRunTime from the proxy's start, whichever is "
	  "first. The margin covers the sandbox's set-up before the task's "
	  "clock starts and its kill at maxRunTime; it also bounds how long "
	  "a signed URL (`/bewit`) outlives its task." },
	{ "proxyAllowedHosts", SW, .type = KEY_HOSTS,
	  STORED(proxy_allowed_hosts),
	  .doc = "Hosts the task proxy's `/<host.with.dot>/<path>` route "
	  "may reach (as `https://<host>/<path>`): host names, `*.domain` "
	  "for any host below a domain, or `*` for any host (what "
	  "taskcluster-proxy does). Unset: the rootURL's host alone; `[]`: "
	  "none. Any other host answers 403 without a connection being "
	  "tried, in `host` and `isolated` networking alike." },
	{ "taskUidFirst", SW, UINT(1, UID_MAX_VALID, 64600),
	  STORED(task_uid_first),
	  .doc = "First uid of the task range: each task runs as a fresh "
	  "uid from it, so nothing one task leaves behind can touch the "
	  "next. The range must not hold 65534 (nobody)." },
	{ "taskUidCount", SW, UINT(1, UID_MAX_VALID, 400),
	  STORED(task_uid_count),
	  .doc = "Number of uids in the task range; its last uid must not "
	  "pass 2147483646." },
	{ "taskNetwork", SW, .type = KEY_NETWORK, .def_num = TASK_NET_HOST,
	  STORED(task_network),
	  .doc = "`host`: tasks share the host's network and reach the "
	  "proxy on loopback, as with generic-worker. `isolated`: each task "
	  "gets its own network namespace with only `lo`, where the proxy "
	  "is its only way out." },
	{ "taskMaxProcesses", SW, UINT(1, 4194304, 4096),
	  STORED(task_max_processes),
	  .doc = "Process limit (RLIMIT_NPROC) of every task." },
	{ "taskMaxMemoryBytes", SW, UINT(0, INT64_MAX, 0),
	  STORED(task_max_memory_bytes),
	  .doc = "Memory limit of every task, in bytes; 0 means no "
	  "limit." },
	{ "taskMaxOpenFiles", SW, UINT(3, 1048576, 4096),
	  STORED(task_max_open_files),
	  .doc = "Open file limit (RLIMIT_NOFILE) of every task." },
	{ "taskMaxFileSizeBytes", SW, UINT(0, INT64_MAX, 0),
	  STORED(task_max_file_size_bytes),
	  .doc = "Largest file a task may write (RLIMIT_FSIZE), in bytes; "
	  "0 means no limit." },
	{ "artifactMaxTotalBytes", SW, UINT(1, INT64_MAX, 64ull << 30),
	  STORED(artifact_max_total_bytes),
	  .doc = "Most bytes of artifacts one task may have the worker "
	  "write (run-task) or upload, counted by each file's apparent "
	  "size (a sparse file counts what it would take written out; a "
	  "file hard-linked under several names counts once). An "
	  "artifact that would take the total past it is refused before "
	  "a byte of it is written (error `too-large-file-on-worker`) and "
	  "the task fails. 64 GiB: several times the largest release "
	  "build outputs (multi-GiB archives, symbols), small enough that "
	  "a task cannot turn a few MiB of sparse or hard-linked files "
	  "into a full disk written as root." },
	{ "artifactMaxCount", SW, UINT(1, 10000000, 250000),
	  STORED(artifact_max_count),
	  .doc = "Most artifacts, and artifact errors, one task may have "
	  "(every file of a directory artifact is one). Past it, artifacts "
	  "are not collected and the task fails, with one artifact error "
	  "saying how many were left out. 250000: well above a directory "
	  "artifact of 100000 files (`make bench`), while the records of "
	  "one task stay within tens of MiB of the supervisor's memory." },
	{ "taskLogMaxBytes", SW, UINT(65536, INT64_MAX, 512ull << 20),
	  STORED(task_log_max_bytes),
	  .doc = "Largest task log, in bytes. When the task's output takes "
	  "the log there, one line says so (naming this key) and the rest "
	  "of the task's output is read and discarded: the task goes on "
	  "running and resolves as it otherwise would. The worker's own "
	  "lines (artifact errors, the resolution) may add up to 1 MiB "
	  "past it. 512 MiB: above the largest logs of real test suites, "
	  "far below what fills a worker's disk." },
	{ "artifactCollectionSeconds", SW, UINT(1, 86400, 3600),
	  STORED(artifact_collection_secs),
	  .doc = "How long collecting a task's artifacts may take, from its "
	  "last command's end (walking directory artifacts and writing or "
	  "uploading every file). What is not collected by then becomes "
	  "an artifact error naming this key, and the task fails. 3600 s: "
	  "tens of GiB at disk or network speed, while a task cannot hold "
	  "a worker for ever with millions of files." },
	{ "allowTaskPtraceAndNamespaces", SW, BOOL(false),
	  STORED(allow_task_ptrace_ns),
	  .doc = "Let tasks use ptrace, process_vm_readv/writev, "
	  "perf_event_open and create namespaces (debuggers such as rr, "
	  "browser sandboxes). This weakens the sandbox: every task log "
	  "says so, and chain of trust is refused on such a worker." },
	{ "taskReadOnlyPaths", SW, .type = KEY_PATHS,
	  STORED(task_read_only_paths),
	  .doc = "Directories (or files) tasks may read and execute from, "
	  "besides the system's: `/usr`, `/bin`, `/sbin`, `/lib*`, `/opt` "
	  "(read and execute), `/etc` (read). Each is mounted read-only at its "
	  "own path in the task's root; one the task user could not reach on "
	  "the host is left out, and the task log says so. Nothing else of "
	  "the host but the task's own directory is in a task's root." },
};

#define NKEYS	nitems(config_keys)

/* One load in progress: values go to next, and reach cfg only if the
 * whole file is valid. */
struct load {
	struct sw_config	 next;
	const char		*spelling[NKEYS];	/* as written in the file */
	bool			 replaced[NKEYS];	/* next owns a new string */
	const char		*sepworker_spelling;
	char			*why;
	size_t			 whylen;
};

static bool
is_stored(const struct key_spec *k)
{
	return k->off != NOT_STORED;
}

static bool
holds_string(const struct key_spec *k)
{
	return is_stored(k) && (k->type == KEY_STRING || k->type == KEY_IP ||
	    k->type == KEY_OBJECT || k->type == KEY_PATHS ||
	    k->type == KEY_HOSTS);
}

static void *
field(const struct sw_config *cfg, const struct key_spec *k)
{
	return (char *)(uintptr_t)cfg + k->off;
}

static char **
string_field(const struct sw_config *cfg, const struct key_spec *k)
{
	return field(cfg, k);
}

static uint64_t
get_uint(const struct sw_config *cfg, const struct key_spec *k)
{
	uint32_t v32;
	uint64_t v64;

	if (k->size == sizeof(v32)) {
		memcpy(&v32, field(cfg, k), sizeof(v32));
		return v32;
	}
	memcpy(&v64, field(cfg, k), sizeof(v64));
	return v64;
}

static void
set_uint(struct sw_config *cfg, const struct key_spec *k, uint64_t v)
{
	uint32_t v32 = (uint32_t)v;

	/* The table's bounds keep v within a 4-byte field's range. */
	if (k->size == sizeof(v32))
		memcpy(field(cfg, k), &v32, sizeof(v32));
	else
		memcpy(field(cfg, k), &v, sizeof(v));
}

static void
free_string(const struct key_spec *k, char **p)
{
	if (k->secret)
		secmem_free(*p);
	else
		free(*p);
	*p = NULL;
}

/* Name a key for messages: "capacity", "sepworker.taskNetwork". */
static const char *
display_name(const struct key_spec *k, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s%s", k->scope == SCOPE_SEPWORKER ?
	    "sepworker." : "", k->name);
	return buf;
}

static void
ensure_sodium(void)
{
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
}

void
config_defaults(struct sw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *k = &config_keys[i];

		if (!is_stored(k))
			continue;
		switch (k->type) {
		case KEY_STRING:
		case KEY_IP:
			/* An unset secret is NULL: nothing to forward. */
			if (!k->secret)
				*string_field(cfg, k) = xstrdup(k->def_str);
			break;
		case KEY_PATHS:
			*string_field(cfg, k) = xstrdup("");
			break;
		case KEY_OBJECT:
		case KEY_HOSTS:
			break;
		case KEY_BOOL:
			*(bool *)field(cfg, k) = k->def_num != 0;
			break;
		case KEY_UINT:
			set_uint(cfg, k, k->def_num);
			break;
		case KEY_NETWORK:
			*(enum task_network *)field(cfg, k) =
			    (enum task_network)k->def_num;
			break;
		}
	}
}

/*
 * generic-worker's two kinds of refusal: what its JSON decoder rejects
 * (an unknown key, a value of the wrong type, an IP address that does not
 * parse) means the file cannot be loaded, exit 64; a value of the right
 * type that is out of range or inconsistent fails validation, exit 73.
 * A key given twice, which Go's decoder would take, is refused as the
 * decoder's kind: the file says two things at once.
 */
static int __attribute__((format(printf, 3, 0)))
fail(struct load *l, int rc, const char *fmt, va_list ap)
{
	vsnprintf(l->why, l->whylen, fmt, ap);
	return rc;
}

static int
invalid_fail(struct load *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
decode_fail(struct load *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Validation: exit 73. */
static int
invalid_fail(struct load *l, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail(l, CONFIG_ERR_INVALID, fmt, ap);
	va_end(ap);
	return rc;
}

/* What a JSON decoder into generic-worker's types rejects: exit 64. */
static int
decode_fail(struct load *l, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail(l, CONFIG_ERR_LOAD, fmt, ap);
	va_end(ap);
	return rc;
}

/* A copy of a secret in locked memory that sodium_free() wipes. */
static char *
secret_dup(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return NULL;
	ensure_sodium();
	return secmem_strndup(s, n);
}

static int
check_ip(struct load *l, const char *name, const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (*s == '\0' || inet_pton(AF_INET, s, addr) == 1 ||
	    inet_pton(AF_INET6, s, addr) == 1)
		return 0;
	return decode_fail(l, "\"%s\" must be an IPv4 or IPv6 address",
	    name);
}

static int
set_string(struct load *l, const struct key_spec *k, const char *name,
    struct json_object *v)
{
	const char *s;
	char *copy;
	int rc;

	if (!json_object_is_type(v, json_type_string))
		return decode_fail(l, "\"%s\" must be a string", name);
	if (json_as_string(v, name, &s, l->why, l->whylen) == -1)
		return CONFIG_ERR_INVALID;
	if (k->type == KEY_IP && (rc = check_ip(l, name, s)) != 0)
		return rc;
	if (k->off == offsetof(struct sw_config, root_url) && *s != '\0' &&
	    strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return invalid_fail(l, "\"%s\" must start with https:// or "
		    "http://", name);
	if (!is_stored(k))
		return CONFIG_OK;
	if (k->secret) {
		copy = secret_dup(s);
		json_wipe_string(v);
	} else {
		copy = xstrdup(s);
	}
	*string_field(&l->next, k) = copy;
	l->replaced[k - config_keys] = true;
	return CONFIG_OK;
}

/* A path a task may be given: absolute, plain, one line. */
static const char *
path_problem(const char *p)
{
	if (p[0] != '/' || p[1] == '\0')
		return "must be an absolute path other than /";
	if (strchr(p, '\n') != NULL || strlen(p) > 4095)
		return "must be one line of at most 4095 bytes";
	if (strstr(p, "/../") != NULL || strstr(p, "/./") != NULL ||
	    strstr(p, "//") != NULL || (strlen(p) >= 3 &&
	    strcmp(p + strlen(p) - 3, "/..") == 0) || (strlen(p) >= 2 &&
	    strcmp(p + strlen(p) - 2, "/.") == 0))
		return "must not contain \".\", \"..\" or empty segments";
	return NULL;
}

static int
set_paths(struct load *l, const struct key_spec *k, const char *name,
    struct json_object *v)
{
	size_t n, used = 0, cap = 1;
	char *joined;

	if (!json_object_is_type(v, json_type_array))
		return decode_fail(l, "\"%s\" must be an array of paths",
		    name);
	n = json_object_array_length(v);
	if (n > 64)
		return invalid_fail(l, "\"%s\" has %zu paths; at most 64", name,
		    n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const char *s, *why;
		char item[80];

		snprintf(item, sizeof(item), "%s[%zu]", name, i);
		if (!json_object_is_type(e, json_type_string))
			return decode_fail(l, "\"%s\" must be a string", item);
		if (json_as_string(e, item, &s, l->why, l->whylen) == -1)
			return CONFIG_ERR_INVALID;
		if ((why = path_problem(s)) != NULL)
			return invalid_fail(l, "\"%s\" %s", item, why);
		cap += strlen(s) + 1;
	}
	if (cap > 4096)
		return invalid_fail(l, "\"%s\": the paths together take more "
		    "than 4096 bytes", name);
	joined = xmalloc(cap);
	joined[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(joined + used, cap - used, "%s%s",
		    i ? "\n" : "", json_object_get_string(
		    json_object_array_get_idx(v, i)));
	*string_field(&l->next, k) = joined;
	l->replaced[k - config_keys] = true;
	return CONFIG_OK;
}

/*
 * A host the task proxy's /<host>/... route may reach: a name as that
 * route takes it (labels of letters, digits and '-', joined by dots;
 * taskcluster-proxy's hostname pattern), "*." and such a name (any host
 * below it), or "*" (any host).  The route carries no port, so a
 * pattern has none either.
 */
static const char *
host_pattern_problem(const char *p)
{
	size_t label = 0;

	if (strcmp(p, "*") == 0)
		return NULL;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (*p == '\0' || strlen(p) > 253)
		return "must be a host name of 1 to 253 characters, \"*.\" "
		    "and one, or \"*\"";
	for (const char *c = p; *c != '\0'; c++) {
		if (*c == '.') {
			if (label == 0 || c[-1] == '-')
				return "has an empty label or one ending in "
				    "'-'";
			label = 0;
		} else if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' &&
		    *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    (*c == '-' && label > 0)) {
			label++;
		} else {
			return "must be a host name (letters, digits, '-' and "
			    "dots; no port, no scheme), \"*.\" and one, or "
			    "\"*\"";
		}
	}
	if (label == 0 || p[strlen(p) - 1] == '-')
		return "has an empty label or one ending in '-'";
	return NULL;
}

static int
set_hosts(struct load *l, const struct key_spec *k, const char *name,
    struct json_object *v)
{
	struct strbuf b = { 0 };
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return decode_fail(l, "\"%s\" must be an array of host "
		    "names", name);
	n = json_object_array_length(v);
	if (n > 64)
		return invalid_fail(l, "\"%s\" has %zu hosts; at most 64", name,
		    n);
	strbuf_puts(&b, "");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		const char *s, *why;
		char item[80];

		snprintf(item, sizeof(item), "%s[%zu]", name, i);
		if (!json_object_is_type(e, json_type_string)) {
			free(strbuf_take(&b, NULL));
			return decode_fail(l, "\"%s\" must be a string", item);
		}
		if (json_as_string(e, item, &s, l->why, l->whylen) == -1) {
			free(strbuf_take(&b, NULL));
			return CONFIG_ERR_INVALID;
		}
		if ((why = host_pattern_problem(s)) != NULL) {
			free(strbuf_take(&b, NULL));
			return invalid_fail(l, "\"%s\" %s", item, why);
		}
		if (i > 0)
			strbuf_puts(&b, ",");
		strbuf_puts(&b, s);
	}
	*string_field(&l->next, k) = strbuf_take(&b, NULL);
	l->replaced[k - config_keys] = true;
	return CONFIG_OK;
}

static int
set_value(struct load *l, const struct key_spec *k, struct json_object *v)
{
	char name[64];
	const char *s;
	uint64_t u;
	bool b;

	display_name(k, name, sizeof(name));
	switch (k->type) {
	case KEY_STRING:
	case KEY_IP:
		return set_string(l, k, name, v);
	case KEY_PATHS:
		return set_paths(l, k, name, v);
	case KEY_HOSTS:
		return set_hosts(l, k, name, v);
	case KEY_BOOL:
		if (json_as_bool(v, name, &b, l->why, l->whylen) == -1)
			return CONFIG_ERR_LOAD;
		if (is_stored(k))
			*(bool *)field(&l->next, k) = b;
		return CONFIG_OK;
	case KEY_UINT:
		/* Not a whole number at all: the decoder's refusal. */
		if (json_as_uint(v, name, k->min, k->max, &u, l->why,
		    l->whylen) == -1)
			return json_object_is_type(v, json_type_int) &&
			    json_object_get_int64(v) >= 0 ? CONFIG_ERR_INVALID :
			    CONFIG_ERR_LOAD;
		if (is_stored(k))
			set_uint(&l->next, k, u);
		return CONFIG_OK;
	case KEY_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return decode_fail(l, "\"%s\" must be an object",
			    name);
		if (is_stored(k)) {
			*string_field(&l->next, k) = xstrdup(
			    json_object_to_json_string_ext(v,
			    JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
			l->replaced[k - config_keys] = true;
		}
		return CONFIG_OK;
	case KEY_NETWORK:
		if (json_as_string(v, name, &s, l->why, l->whylen) == -1)
			return CONFIG_ERR_LOAD;
		if (strcmp(s, "host") == 0)
			*(enum task_network *)field(&l->next, k) =
			    TASK_NET_HOST;
		else if (strcmp(s, "isolated") == 0)
			*(enum task_network *)field(&l->next, k) =
			    TASK_NET_ISOLATED;
		else
			return invalid_fail(l, "\"%s\" must be \"host\" or "
			    "\"isolated\"", name);
		return CONFIG_OK;
	}
	return decode_fail(l, "\"%s\" has no known type", name);
}

static const struct key_spec *
find_key(enum key_scope scope, const char *key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (config_keys[i].scope == scope &&
		    strcasecmp(config_keys[i].name, key) == 0)
			return &config_keys[i];
	return NULL;
}

/* Quote a key from the file for a message: it may hold anything. */
static const char *
quote_key(const char *prefix, const char *key, char *buf, size_t bufsz)
{
	size_t n = strlen(prefix);

	snprintf(buf, bufsz, "%s", prefix);
	if (n < bufsz)
		log_escape(buf + n, bufsz - n, key, strlen(key), 1);
	return buf;
}

static int
same_key(struct load *l, const char *prefix, const char *first,
    const char *second)
{
	char a[160], b[160];

	return decode_fail(l, "\"%s\" and \"%s\" are the same key",
	    quote_key(prefix, first, a, sizeof(a)),
	    quote_key(prefix, second, b, sizeof(b)));
}

static int
apply_key(struct load *l, enum key_scope scope, const char *key,
    struct json_object *v)
{
	const char *prefix = scope == SCOPE_SEPWORKER ? "sepworker." : "";
	const struct key_spec *k = find_key(scope, key);
	char quoted[160];
	size_t i;

	if (k == NULL)
		return decode_fail(l, "unknown key \"%s\"",
		    quote_key(prefix, key, quoted, sizeof(quoted)));
	i = (size_t)(k - config_keys);
	if (l->spelling[i] != NULL)
		return same_key(l, prefix, l->spelling[i], key);
	l->spelling[i] = key;
	return set_value(l, k, v);
}

static int
apply_sepworker(struct load *l, const char *key, struct json_object *obj)
{
	int rc;

	if (l->sepworker_spelling != NULL)
		return same_key(l, "", l->sepworker_spelling, key);
	l->sepworker_spelling = key;
	if (!json_object_is_type(obj, json_type_object))
		return decode_fail(l, "\"sepworker\" must be an object");
	json_object_object_foreach(obj, k, v) {
		if ((rc = apply_key(l, SCOPE_SEPWORKER, k, v)) != CONFIG_OK)
			return rc;
	}
	return CONFIG_OK;
}

static int
apply_document(struct load *l, struct json_object *root)
{
	int rc;

	if (!json_object_is_type(root, json_type_object))
		return decode_fail(l, "the top level must be a JSON object");
	json_object_object_foreach(root, key, v) {
		if (strcasecmp(key, "sepworker") == 0)
			rc = apply_sepworker(l, key, v);
		else
			rc = apply_key(l, SCOPE_GW, key, v);
		if (rc != CONFIG_OK)
			return rc;
	}
	return CONFIG_OK;
}

static int
check_child_uids(struct load *l, const struct sw_config *c)
{
	static const char *const names[] = {
		"sepworker.keyholderUid", "sepworker.proxydUid",
		"sepworker.taskrunnerUid", "sepworker.taskProxyUid",
	};
	const uint32_t uids[] = { c->keyholder_uid, c->proxyd_uid,
	    c->taskrunner_uid, c->taskproxy_uid };

	for (size_t i = 0; i < nitems(uids); i++) {
		/* nobody owns files of other services (NFS, overflow ids). */
		if (uids[i] == UID_NOBODY)
			return invalid_fail(l, "\"%s\" must not be %u (nobody)",
			    names[i], UID_NOBODY);
		if (config_is_task_uid(c, uids[i]))
			return invalid_fail(l, "\"%s\" (%u) lies in the task uid "
			    "range %u-%u", names[i], uids[i],
			    c->task_uid_first,
			    c->task_uid_first + c->task_uid_count - 1);
		for (size_t j = 0; j < i; j++)
			if (uids[i] == uids[j])
				return invalid_fail(l, "\"%s\" and \"%s\" must "
				    "differ", names[j], names[i]);
	}
	return CONFIG_OK;
}

/*
 * Each task gets private /tmp, /dev, /run and /proc: a task directory
 * below one of them would be hidden from its own task.
 */
static const char *
tasks_dir_problem(const char *dir)
{
	static const char *const hidden[] = { "/tmp", "/dev", "/run", "/proc",
	    "/sys" };

	if (dir[0] != '/')
		return "must be an absolute path";
	if (path_problem(dir) != NULL)
		return path_problem(dir);
	for (size_t i = 0; i < nitems(hidden); i++) {
		size_t n = strlen(hidden[i]);

		if (strncmp(dir, hidden[i], n) == 0 &&
		    (dir[n] == '\0' || dir[n] == '/'))
			return "must not be below /tmp, /dev, /run, /proc or "
			    "/sys: each task gets its own of those, and would "
			    "not see its directory";
	}
	return NULL;
}

static size_t
key_index(size_t off)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (config_keys[i].off == off)
			return i;
	fatalx("config: no key stored at offset %zu", off);
}

/* One half of workerPoolId against the key it fills, if the file gave
 * that key too; then the half replaces the key's value. */
static int
take_pool_half(struct load *l, size_t off, const char *half, size_t len)
{
	size_t i = key_index(off);
	const struct key_spec *k = &config_keys[i];
	char **p = string_field(&l->next, k);

	if (l->spelling[i] != NULL && (strlen(*p) != len ||
	    strncmp(*p, half, len) != 0))
		return invalid_fail(l, "\"workerPoolId\" (\"%s\") and \"%s\" "
		    "(\"%s\") disagree", l->next.worker_pool_id, k->name, *p);
	if (l->replaced[i])
		free(*p);
	*p = xasprintf("%.*s", (int)len, half);
	l->replaced[i] = true;
	return CONFIG_OK;
}

/* worker-runner's workerPoolId: provisionerId/workerType, split at the
 * first '/' (a workerType may not hold one, a provisionerId neither). */
static int
split_pool_id(struct load *l)
{
	const char *id = l->next.worker_pool_id, *slash;
	int rc;

	if (l->spelling[key_index(offsetof(struct sw_config,
	    worker_pool_id))] == NULL)
		return CONFIG_OK;
	slash = strchr(id, '/');
	if (slash == NULL || slash == id || slash[1] == '\0')
		return invalid_fail(l, "\"workerPoolId\" (\"%s\") must be "
		    "<provisionerId>/<workerType>, both non-empty", id);
	if ((rc = take_pool_half(l, offsetof(struct sw_config,
	    provisioner_id), id, (size_t)(slash - id))) != CONFIG_OK)
		return rc;
	return take_pool_half(l, offsetof(struct sw_config, worker_type),
	    slash + 1, strlen(slash + 1));
}

/* What no single value shows: rules across keys. */
static int
check_values(struct load *l)
{
	const struct sw_config *c = &l->next;
	uint64_t last = (uint64_t)c->task_uid_first + c->task_uid_count - 1;
	int rc;

	if (c->capacity != 1)
		return invalid_fail(l, "\"capacity\" must be 1: sepworker runs "
		    "one task at a time");
	if (c->worker_type_metadata != NULL &&
	    strlen(c->worker_type_metadata) > METADATA_MAX_BYTES)
		return invalid_fail(l, "\"workerTypeMetadata\" takes %zu bytes "
		    "as compact JSON; at most %u (it heads every task log)",
		    strlen(c->worker_type_metadata), METADATA_MAX_BYTES);
	if (last > UID_MAX_VALID)
		return invalid_fail(l, "the task uid range (\"sepworker."
		    "taskUidFirst\" %u, \"sepworker.taskUidCount\" %u) goes "
		    "past %u", c->task_uid_first, c->task_uid_count,
		    UID_MAX_VALID);
	if (config_is_task_uid(c, UID_NOBODY))
		return invalid_fail(l, "the task uid range %u-%ju includes %u "
		    "(nobody)", c->task_uid_first, (uintmax_t)last,
		    UID_NOBODY);
	if (path_problem(c->run_dir) != NULL)
		return invalid_fail(l, "\"sepworker.runDir\" %s",
		    path_problem(c->run_dir));
	if (path_problem(c->work_dir) != NULL)
		return invalid_fail(l, "\"sepworker.workDir\" %s",
		    path_problem(c->work_dir));
	/* Empty is for config_check_worker() to refuse, as "required". */
	if (*c->tasks_dir != '\0' && tasks_dir_problem(c->tasks_dir) != NULL)
		return invalid_fail(l, "\"tasksDir\" %s", tasks_dir_problem(
		    c->tasks_dir));
	if (*c->proxy_limits != '\0') {
		struct tp_limits lim = tp_default_limits;
		char why[320];

		if (limits_parse(c->proxy_limits, &lim, why,
		    sizeof(why)) == -1)
			return invalid_fail(l, "\"sepworker.proxyLimits\": %s",
			    why);
	}
	if ((rc = check_child_uids(l, c)) != CONFIG_OK)
		return rc;
	return split_pool_id(l);
}

static void
finish(struct load *l, struct sw_config *cfg, bool ok)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *k = &config_keys[i];

		if (!l->replaced[i])
			continue;
		/* The value that loses: the old one on success, else ours. */
		free_string(k, string_field(ok ? cfg : &l->next, k));
	}
	if (!ok)
		return;
	*cfg = l->next;
	for (size_t i = 0; i < NKEYS; i++)
		if (l->spelling[i] != NULL && !is_stored(&config_keys[i]))
			log_warnx("config: \"%s\" is a generic-worker setting "
			    "sepworker does not implement; ignored",
			    config_keys[i].name);
}

/* Load buf; what names it in messages (a path), or is NULL. */
static int
load(const char *buf, size_t len, struct sw_config *cfg, const char *what,
    char *err, size_t errlen)
{
	const struct jsonscan_opts syntax = { .max_depth = CONFIG_MAX_DEPTH };
	struct json_object *root;
	struct load *l;
	char why[512];
	int rc;

	/* A file that is not JSON cannot be loaded (exit 64); nor can one
	 * that gives a key twice, found by the strict parse below. */
	if (len > CONFIG_MAX_BYTES) {
		snprintf(why, sizeof(why), "larger than %u bytes",
		    CONFIG_MAX_BYTES);
		rc = CONFIG_ERR_LOAD;
	} else if (jsonscan_validate(buf, len, &syntax, why,
	    sizeof(why)) == -1) {
		rc = CONFIG_ERR_LOAD;
	} else if ((root = json_parse_strict(buf, len, CONFIG_MAX_BYTES,
	    CONFIG_MAX_DEPTH, why, sizeof(why))) == NULL) {
		rc = CONFIG_ERR_LOAD;
	} else {
		l = xcalloc(1, sizeof(*l));
		l->next = *cfg;
		l->why = why;
		l->whylen = sizeof(why);
		rc = apply_document(l, root);
		if (rc == CONFIG_OK)
			rc = check_values(l);
		json_wipe_strings(root);
		json_object_put(root);
		finish(l, cfg, rc == CONFIG_OK);
		free(l);
	}
	if (rc != CONFIG_OK)
		snprintf(err, errlen, "config: %s%s%s", what ? what : "",
		    what ? ": " : "", why);
	return rc;
}

int
config_load_buf(const char *buf, size_t len, struct sw_config *cfg,
    char *err, size_t errlen)
{
	return load(buf, len, cfg, NULL, err, errlen);
}

int
config_load_file(const char *path, struct sw_config *cfg, char *err,
    size_t errlen)
{
	char why[256], *buf;
	size_t len;
	int rc;

	/* Straight into locked memory that is wiped when freed: the file
	 * may hold the worker's access token. */
	ensure_sodium();
	buf = secmem_read_file(path, CONFIG_MAX_BYTES, &len, why, sizeof(why));
	if (buf == NULL) {
		snprintf(err, errlen, "config: %s", why);
		return CONFIG_ERR_LOAD;
	}
	rc = load(buf, len, cfg, path, err, errlen);
	secmem_free(buf);
	return rc;
}

/*
 * generic-worker's Validate(), for the settings sepworker uses.  Not its
 * cachesDir, downloadsDir and livelogExecutable: sepworker has no caches,
 * no mounts and no livelog yet, so it needs none of them.
 */
int
config_check_worker(const struct sw_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *k = &config_keys[i];
		const char *v;

		if (!k->required)
			continue;
		v = *string_field(cfg, k);
		if (v == NULL || *v == '\0') {
			snprintf(err, errlen, "Config setting \"%s\" has not "
			    "been defined", k->name);
			return CONFIG_ERR_INVALID;
		}
	}
	return CONFIG_OK;
}

/* What is wrong with one existing directory on the way to tasksDir. */
static const char *
tasks_dir_step_problem(const struct stat *st, bool last)
{
	if (!S_ISDIR(st->st_mode))
		return "is not a directory";
	if (st->st_uid != 0)
		return "is not owned by root: its owner could replace what "
		    "lies below it";
	/* A sticky directory (/var/tmp) lets nobody but root rename or
	 * remove root's directory in it; tasksDir itself must not be one,
	 * or others could make names among the task directories. */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (last || !(st->st_mode & S_ISVTX)))
		return "is writable by group or others: they could replace "
		    "what lies below it";
	if (!(st->st_mode & S_IXOTH))
		return "is not searchable by others (o+x): task users could "
		    "not reach their directories below it";
	return NULL;
}

int
config_check_tasks_dir(const struct sw_config *cfg, char *err,
    size_t errlen)
{
	const char *dir = cfg->tasks_dir, *why;
	size_t n = strlen(dir);
	struct stat st;
	char *step;

	if (*dir != '/') {
		snprintf(err, errlen, "config: \"tasksDir\" must be an "
		    "absolute path");
		return CONFIG_ERR_INVALID;
	}
	/* "/", then each longer prefix, ending with tasksDir itself. */
	for (size_t end = 1; end <= n; end++) {
		if (end > 1 && end < n && dir[end] != '/')
			continue;
		step = xasprintf("%.*s", (int)end, dir);
		if (stat(step, &st) == -1) {
			/* What is missing, the worker makes: root's, 0755
			 * and tasksDir 0711. */
			if (errno == ENOENT) {
				free(step);
				return CONFIG_OK;
			}
			snprintf(err, errlen, "tasksDir %s: %s: %s", dir, step,
			    strerror(errno));
			free(step);
			return CONFIG_ERR_INVALID;
		}
		if ((why = tasks_dir_step_problem(&st, end == n)) != NULL) {
			snprintf(err, errlen, "tasksDir %s: %s (uid %u, mode "
			    "%04o) %s", dir, step, (unsigned)st.st_uid,
			    (unsigned)(st.st_mode & 07777), why);
			free(step);
			return CONFIG_ERR_INVALID;
		}
		free(step);
	}
	return CONFIG_OK;
}

/* What runs the task.  No "engine": generic-worker's engines are ways
 * of using OS users, and sepworker's sandbox is neither of them. */
static struct json_object *
sepworker_metadata(const struct sw_config *cfg)
{
	struct json_object *o = json_object_new_object();
	struct utsname u;

	if (o == NULL || uname(&u) == -1)
		fatalx("describing the worker for the task log");
	json_object_object_add(o, "arch", json_object_new_string(u.machine));
	json_object_object_add(o, "os", json_object_new_string("linux"));
	json_object_object_add(o, "revision",
	    json_object_new_string(SEPWORKER_REVISION));
	json_object_object_add(o, "taskNetwork", json_object_new_string(
	    cfg->task_network == TASK_NET_HOST ? "host" : "isolated"));
	json_object_object_add(o, "version",
	    json_object_new_string(SEPWORKER_VERSION));
	return o;
}

char *
config_worker_type_metadata(const struct sw_config *cfg)
{
	struct json_object *md;
	char *out;

	/* Our own serialization of an object that parsed. */
	md = cfg->worker_type_metadata != NULL ?
	    json_tokener_parse(cfg->worker_type_metadata) :
	    json_object_new_object();
	if (md == NULL)
		fatalx("workerTypeMetadata no longer parses");
	json_object_object_add(md, "sepworker", sepworker_metadata(cfg));
	out = xstrdup(json_object_to_json_string_ext(md,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(md);
	return out;
}

bool
config_is_task_uid(const struct sw_config *cfg, uint32_t uid)
{
	return uid >= cfg->task_uid_first &&
	    uid - cfg->task_uid_first < cfg->task_uid_count;
}

void
config_wipe_secrets(struct sw_config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (config_keys[i].secret)
			free_string(&config_keys[i],
			    string_field(cfg, &config_keys[i]));
}

void
config_free(struct sw_config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (holds_string(&config_keys[i]))
			free_string(&config_keys[i],
			    string_field(cfg, &config_keys[i]));
}

static void
print_type(FILE *out, const struct key_spec *k)
{
	switch (k->type) {
	case KEY_STRING:
		fputs("string", out);
		break;
	case KEY_IP:
		fputs("string (IP address)", out);
		break;
	case KEY_BOOL:
		fputs("boolean", out);
		break;
	case KEY_UINT:
		if (k->max == UINT64_MAX)
			fprintf(out, "integer, %ju or more", (uintmax_t)k->min);
		else
			fprintf(out, "integer, %ju to %ju", (uintmax_t)k->min,
			    (uintmax_t)k->max);
		break;
	case KEY_OBJECT:
		fputs("object", out);
		break;
	case KEY_NETWORK:
		fputs("`host` or `isolated`", out);
		break;
	case KEY_PATHS:
		fputs("array of absolute paths", out);
		break;
	case KEY_HOSTS:
		fputs("array of host names", out);
		break;
	}
}

static void
print_default(FILE *out, const struct key_spec *k)
{
	switch (k->type) {
	case KEY_STRING:
	case KEY_IP:
		fprintf(out, "`\"%s\"`", k->def_str);
		break;
	case KEY_BOOL:
		fputs(k->def_num ? "`true`" : "`false`", out);
		break;
	case KEY_UINT:
		fprintf(out, "`%ju`", (uintmax_t)k->def_num);
		break;
	case KEY_OBJECT:
		fputs("(none)", out);
		break;
	case KEY_NETWORK:
		fputs(k->def_num == TASK_NET_HOST ? "`host`" : "`isolated`",
		    out);
		break;
	case KEY_PATHS:
		fputs("`[]`", out);
		break;
	case KEY_HOSTS:
		fputs("the rootURL's host", out);
		break;
	}
}

static void
print_table(FILE *out, enum key_scope scope)
{
	fputs("| key | type | default | meaning |\n"
	    "|---|---|---|---|\n", out);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *k = &config_keys[i];

		if (k->scope != scope)
			continue;
		fprintf(out, "| `%s` | ", k->name);
		print_type(out, k);
		fputs(" | ", out);
		print_default(out, k);
		fprintf(out, " | %s%s%s |\n", k->secret ? "**Secret.** " : "",
		    is_stored(k) ? "" : "Ignored; ", k->doc);
	}
}

void
config_print_reference(FILE *out)
{
	fputs("# sepworker configuration\n"
	    "\n"
	    "sepworker reads one JSON file, given with `--config FILE`: "
	    "generic-worker's\n"
	    "configuration keys, as worker-runner writes them, and "
	    "sepworker's own settings\n"
	    "in a top-level object named `\"sepworker\"`. Values are "
	    "applied over the\n"
	    "defaults below.\n"
	    "\n"
	    "Key names are matched case-insensitively, as generic-worker's "
	    "Go decoder\n"
	    "matches them (`rootUrl` is `rootURL`), at the top level and "
	    "inside\n"
	    "`\"sepworker\"`; two spellings of one key in the same object "
	    "are refused, and\n"
	    "so is a key given twice. Unknown keys are refused by name. "
	    "The generic-worker\n"
	    "keys marked \"Ignored\" are accepted for compatibility: "
	    "their values are\n"
	    "type-checked, a warning names each one present, and they have "
	    "no effect.\n"
	    "\n", out);
	fprintf(out, "Exit codes are generic-worker's. A file that cannot be "
	    "loaded makes\n"
	    "sepworker exit with code 64: one that cannot be read, is larger "
	    "than %u\n"
	    "bytes or is not JSON, gives a key twice, or holds an unknown key, "
	    "a value of\n"
	    "the wrong JSON type (a string where a boolean is expected, a "
	    "fraction or a\n"
	    "negative number where a count is) or an IP address that does not "
	    "parse. A\n"
	    "file that loads but fails validation makes it exit with code 73: "
	    "a value out\n"
	    "of range or inconsistent with another, a tasksDir that task "
	    "users cannot reach\n"
	    "or others could change (`check-config` and `run-task` check "
	    "every directory on\n"
	    "the way: owned by root, not writable by group or others unless "
	    "sticky, like\n"
	    "`/var/tmp`, and searchable by others), and in worker mode "
	    "(`check-config\n"
	    "--worker`) a required setting left empty (`Config setting \"X\" "
	    "has not been\n"
	    "defined`). generic-worker also requires `cachesDir`, "
	    "`downloadsDir` and\n"
	    "`livelogExecutable`; sepworker has no caches, mounts or livelog "
	    "yet, so it does\n"
	    "not.\n"
	    "\n", CONFIG_MAX_BYTES);
	fputs("`accessToken` and `certificate` are secrets. The file is read "
	    "into locked\n"
	    "memory that is wiped after parsing, the values are kept in "
	    "locked memory only\n"
	    "until they are handed to proxyd and then wiped, and they are "
	    "never logged:\n"
	    "`sepworker check-config` shows them as `\"(set)\"`. Make the "
	    "file readable by\n"
	    "root only.\n"
	    "\n"
	    "Every key below is validated today. Those that configure running "
	    "tasks, the\n"
	    "proxy, chain of trust and the worker loop take effect as those "
	    "parts of\n"
	    "sepworker land (README.md, \"What works today\").\n"
	    "\n"
	    "## generic-worker keys\n"
	    "\n", out);
	print_table(out, SCOPE_GW);
	fputs("\n"
	    "## sepworker keys\n"
	    "\n"
	    "These go inside the top-level `\"sepworker\"` object, for "
	    "example\n"
	    "`\"sepworker\": {\"taskNetwork\": \"isolated\"}`. The four "
	    "child uids and the task\n"
	    "uid range must be distinct, none may be 0 or 65534 (nobody), "
	    "and the limits\n"
	    "apply to every task.\n"
	    "\n", out);
	print_table(out, SCOPE_SEPWORKER);
}

static void
add_value(struct json_object *obj, const struct sw_config *cfg,
    const struct key_spec *k)
{
	struct json_object *v = NULL;
	const char *s;

	switch (k->type) {
	case KEY_STRING:
	case KEY_IP:
		s = *string_field(cfg, k);
		if (k->secret) {
			/* Say whether it is there, never what it is. */
			if (s == NULL)
				return;
			s = "(set)";
		}
		v = json_object_new_string(s != NULL ? s : "");
		break;
	case KEY_OBJECT:
		/* Our own serialization of an object that parsed. */
		if ((s = *string_field(cfg, k)) == NULL)
			return;
		v = json_tokener_parse(s);
		break;
	case KEY_BOOL:
		v = json_object_new_boolean(*(bool *)field(cfg, k));
		break;
	case KEY_UINT:
		v = json_object_new_uint64(get_uint(cfg, k));
		break;
	case KEY_NETWORK:
		v = json_object_new_string(cfg->task_network == TASK_NET_HOST ?
		    "host" : "isolated");
		break;
	case KEY_PATHS:
	case KEY_HOSTS:
		/* Unset hosts: the rootURL's, which the task proxy works out. */
		if ((s = *string_field(cfg, k)) == NULL)
			return;
		v = json_object_new_array();
		for (const char *p = s; v != NULL && *p;) {
			size_t len = strcspn(p, k->type == KEY_PATHS ? "\n" :
			    ",");

			json_object_array_add(v,
			    json_object_new_string_len(p, (int)len));
			p += len + (p[len] != '\0');
		}
		break;
	}
	if (v == NULL)
		fatalx("out of memory printing the config");
	json_object_object_add(obj, k->name, v);
}

void
config_print_effective(const struct sw_config *cfg, FILE *out)
{
	struct json_object *root = json_object_new_object();
	struct json_object *own = json_object_new_object();

	if (root == NULL || own == NULL)
		fatalx("out of memory printing the config");
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *k = &config_keys[i];

		if (is_stored(k))
			add_value(k->scope == SCOPE_SEPWORKER ? own : root,
			    cfg, k);
	}
	json_object_object_add(root, "sepworker", own);
	fprintf(out, "%s\n", json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}
