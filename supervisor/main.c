/*
 * sepworker: the supervisor and the command-line entry point.
 */
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/log.h"
#include "common/slugid.h"
#include "common/version.h"
#include "supervisor/config.h"
#include "common/util.h"
#include "supervisor/exitcodes.h"
#include "supervisor/keys.h"
#include "supervisor/runtask.h"
#include "supervisor/selfcheck.h"
#include "supervisor/verify.h"
#include "supervisor/worker.h"
#include "supervisor/wrproto.h"
#include "taskrunner/payload.h"


static void
usage(FILE *out)
{
	fprintf(out,
"usage: sepworker COMMAND [OPTIONS]\n"
"\n"
"commands:\n"
"  run --config FILE [--with-worker-runner]\n"
"        work the Queue as worker workerId of pool provisionerId/workerType:\n"
"        claim tasks, run each in the sandbox, upload its artifacts, its\n"
"        chain of trust and its log, resolve it; until numberOfTasksToRun\n"
"        (exit 0), idleTimeoutSecs (68), SIGINT (71: the running task\n"
"        finishes first) or SIGTERM (72: it is aborted, worker-shutdown).\n"
"        With --with-worker-runner, speak worker-runner's protocol on\n"
"        stdin/stdout (nothing else is written to stdout): its\n"
"        graceful-termination (exit 72), new-credentials, log,\n"
"        error-report and shutdown; worker-manager's should-terminate is\n"
"        asked before each claim (exit 70)\n"
"  run-task TASK.json --out DIR [--config FILE] [--task-id ID] [--run-id N]\n"
"        run one task (a task definition, or a bare generic-worker payload)\n"
"        in the sandbox and write its artifacts, its log and result.json to\n"
"        DIR, which must not exist or be empty; exit 0 completed, 1 failed,\n"
"        2 exception\n"
"  selfcheck [--config FILE] [--hold]\n"
"        start keyholder, proxyd and taskrunner, show from /proc how each\n"
"        is confined, check they are separated, ping them, stop them;\n"
"        with --hold, keep them running until SIGTERM or SIGINT\n"
"  check-config --config FILE [--worker]\n"
"        validate FILE and tasksDir and print the effective configuration;\n"
"        with --worker, also check what worker mode needs (credentials,\n"
"        the worker's identity, the signing key location)\n"
"  config-reference\n"
"        print every configuration key (docs/config.md)\n"
"  show-payload-schema\n"
"        print the JSON schema task payloads are validated against\n"
"  new-ed25519-keypair --file FILE\n"
"        write a new chain-of-trust signing key (base64 of a 32-byte seed,\n"
"        mode 0600; never over an existing file) and print its public key\n"
"  show-public-key --file FILE\n"
"        print the public key of an existing signing key\n"
"  verify-cot DIR --public-key KEY [--task-id ID]\n"
"        check DIR's public/chain-of-trust.json: its signature (KEY is a\n"
"        base64 public key or a file holding one), its taskId (result.json's\n"
"        or ID) and every artifact's sha256; exit 0 only if all hold\n"
"  version\n"
"\n"
"options for every command:\n"
"  --log-format text|json   how log lines on stderr look (default text)\n"
"  --verbose                debug messages too\n"
"\n"
"exit status: 0 ok, 1 a selfcheck check failed (run-task: the task\n"
"failed), 2 run-task: the task ended in an exception, 68 run: idle, 70\n"
"run: worker-manager said terminate, 71 run: SIGINT, 72 run: SIGTERM or\n"
"graceful termination, 64 bad usage or a\n"
"config file that cannot be loaded (unreadable, not JSON, an unknown key,\n"
"a value of the wrong type), 69 internal error (a child died), 73 invalid\n"
"config (a setting missing, out of range or inconsistent, an unusable\n"
"tasksDir), 75 cannot create a key, 77 a config holding credentials is\n"
"exposed, 82 the signing key is missing, unreadable, malformed or exposed\n");
}

struct options {
	const char	*config;
	bool		 hold;
	bool		 worker;	/* check-config --worker */
	bool		 with_runner;	/* run --with-worker-runner */
	bool		 verbose;
	enum log_format	 log_format;
	const char	*positional;	/* run-task's TASK.json */
	const char	*out;
	const char	*task_id;
	uint32_t	 run_id;
	const char	*file;		/* --file, for the key commands */
	const char	*public_key;	/* verify-cot */
};

/* Which options a command takes, beyond --config, --log-format, --verbose. */
#define OPT_HOLD	0x1
#define OPT_RUNTASK	0x2
#define OPT_FILE	0x4
#define OPT_VERIFY	0x8
#define OPT_WORKER	0x10
#define OPT_RUNNER	0x20

static int
parse_options(int argc, char **argv, int allowed, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "hold", no_argument, NULL, 'H' },
		{ "worker", no_argument, NULL, 'W' },
		{ "with-worker-runner", no_argument, NULL, 'R' },
		{ "out", required_argument, NULL, 'o' },
		{ "task-id", required_argument, NULL, 't' },
		{ "run-id", required_argument, NULL, 'r' },
		{ "file", required_argument, NULL, 'F' },
		{ "public-key", required_argument, NULL, 'k' },
		{ "log-format", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'H':
			if (!(allowed & OPT_HOLD))
				goto bad;
			o->hold = true;
			break;
		case 'W':
			if (!(allowed & OPT_WORKER))
				goto bad;
			o->worker = true;
			break;
		case 'R':
			if (!(allowed & OPT_RUNNER))
				goto bad;
			o->with_runner = true;
			break;
		case 'o':
			if (!(allowed & OPT_RUNTASK))
				goto bad;
			o->out = optarg;
			break;
		case 't':
			if (!(allowed & (OPT_RUNTASK | OPT_VERIFY)))
				goto bad;
			if (!slugid_valid(optarg)) {
				fprintf(stderr, "sepworker: --task-id \"%s\" is "
				    "not a Taskcluster taskId (a slugid)\n",
				    optarg);
				return -1;
			}
			o->task_id = optarg;
			break;
		case 'r':
			if (!(allowed & OPT_RUNTASK))
				goto bad;
			if (parse_u64(optarg, 0, 1000, &v) == -1) {
				fprintf(stderr, "sepworker: --run-id must be a "
				    "number from 0 to 1000, not \"%s\"\n",
				    optarg);
				return -1;
			}
			o->run_id = (uint32_t)v;
			break;
		case 'F':
			if (!(allowed & OPT_FILE))
				goto bad;
			o->file = optarg;
			break;
		case 'k':
			if (!(allowed & OPT_VERIFY))
				goto bad;
			o->public_key = optarg;
			break;
		case 'f':
			if (log_format_parse(optarg, &o->log_format) == -1) {
				fprintf(stderr, "sepworker: --log-format must be "
				    "text or json, not \"%s\"\n", optarg);
				return -1;
			}
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			goto bad;
		}
	}
	if ((allowed & (OPT_RUNTASK | OPT_VERIFY)) && optind < argc)
		o->positional = argv[optind++];
	if (optind != argc) {
		fprintf(stderr, "sepworker: unexpected argument \"%s\"\n",
		    argv[optind]);
		goto bad;
	}
	log_init_supervisor("supervisor", o->log_format, o->verbose);
	return 0;
bad:
	usage(stderr);
	return -1;
}

static int
load_config(const struct options *o, struct sw_config *cfg)
{
	char err[512];
	int rc;

	config_defaults(cfg);
	if (o->config == NULL)
		return EXIT_OK;
	cfg->config_path = o->config;
	rc = config_load_file(o->config, cfg, err, sizeof(err));
	/* Credentials in a file a task could read, or anyone but root:
	 * generic-worker's "cannot secure config". */
	if (rc == CONFIG_OK && (cfg->access_token != NULL ||
	    cfg->certificate != NULL) && secret_file_problem(cfg, o->config,
	    0, err, sizeof(err)) != NULL) {
		log_errorx("the config file holds credentials: %s", err);
		config_free(cfg);
		return EXIT_CANNOT_SECURE;
	}
	if (rc == CONFIG_OK)
		return EXIT_OK;
	log_errorx("%s", err);
	config_free(cfg);
	return rc == CONFIG_ERR_LOAD ? EXIT_CANT_LOAD_CONFIG :
	    EXIT_INVALID_CONFIG;
}

/*
 * What a loaded config must hold before a task runs: a tasksDir that task
 * users can reach and nobody but root can change and, in worker mode
 * (`run`, `check-config --worker`), generic-worker's required settings.
 * EXIT_OK or EXIT_INVALID_CONFIG, having said why.
 */
static int
validate_config(const struct sw_config *cfg, bool worker)
{
	char err[PATH_MAX + 512];

	if ((worker && config_check_worker(cfg, err, sizeof(err)) !=
	    CONFIG_OK) || config_check_tasks_dir(cfg, err, sizeof(err)) !=
	    CONFIG_OK) {
		log_errorx("%s", err);
		return EXIT_INVALID_CONFIG;
	}
	return EXIT_OK;
}

/* Time for worker-runner's welcome, which it sends as it starts us. */
#define WELCOME_TIMEOUT_MS	60000

/* `run`: with worker-runner, the handshake comes first, so that even a
 * config that cannot be loaded is reported to it (error-report). */
static int
run_worker(const struct options *o)
{
	struct sw_config cfg;
	char err[256];
	int rc;

	if (o->with_runner && wrproto_start(WELCOME_TIMEOUT_MS, err,
	    sizeof(err)) == -1) {
		log_errorx("--with-worker-runner: %s", err);
		return EXIT_INTERNAL_ERROR;
	}
	if ((rc = load_config(o, &cfg)) != EXIT_OK) {
		wrproto_error_report(rc);
		return rc;
	}
	if ((rc = validate_config(&cfg, true)) == EXIT_OK)
		rc = worker_main(&cfg);
	config_free(&cfg);
	wrproto_error_report(rc);
	return rc;
}

int
main(int argc, char **argv)
{
	struct sw_config cfg;
	struct options o;
	const char *cmd;
	int rc;

	/* The supervisor may briefly hold a credential from the config:
	 * keep its memory out of other uids' reach and out of core files. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Reports on stdout interleave with log lines on stderr in the
	 * order they happen, even when both go to one file. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init_supervisor("supervisor", LOG_FORMAT_TEXT, 0);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	argc--;
	argv++;
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	if (strcmp(cmd, "run-task") == 0) {
		struct runtask_opts ro;

		if (parse_options(argc, argv, OPT_RUNTASK, &o) == -1)
			return EXIT_USAGE;
		if (o.positional == NULL || o.out == NULL) {
			fprintf(stderr, "sepworker: run-task needs TASK.json and "
			    "--out DIR\n");
			return EXIT_USAGE;
		}
		if ((rc = load_config(&o, &cfg)) != EXIT_OK)
			return rc;
		if ((rc = validate_config(&cfg, false)) != EXIT_OK) {
			config_free(&cfg);
			return rc;
		}
		ro = (struct runtask_opts){ .task_file = o.positional,
		    .out_dir = o.out, .task_id = o.task_id,
		    .run_id = o.run_id };
		rc = runtask_main(&cfg, &ro);
		config_free(&cfg);
		return rc;
	}
	if (strcmp(cmd, "run") == 0) {
		if (parse_options(argc, argv, OPT_RUNNER, &o) == -1)
			return EXIT_USAGE;
		if (o.config == NULL) {
			fprintf(stderr, "sepworker: run needs --config FILE\n");
			return EXIT_USAGE;
		}
		return run_worker(&o);
	}
	if (strcmp(cmd, "selfcheck") == 0) {
		if (parse_options(argc, argv, OPT_HOLD, &o) == -1)
			return EXIT_USAGE;
		if ((rc = load_config(&o, &cfg)) != EXIT_OK)
			return rc;
		rc = selfcheck_run(&cfg, o.hold);
		config_free(&cfg);
		return rc;
	}
	if (strcmp(cmd, "check-config") == 0) {
		if (parse_options(argc, argv, OPT_WORKER, &o) == -1)
			return EXIT_USAGE;
		if (o.config == NULL) {
			fprintf(stderr, "sepworker: check-config needs "
			    "--config FILE\n");
			return EXIT_USAGE;
		}
		if ((rc = load_config(&o, &cfg)) != EXIT_OK)
			return rc;
		if ((rc = validate_config(&cfg, o.worker)) == EXIT_OK)
			config_print_effective(&cfg, stdout);
		config_free(&cfg);
		return rc;
	}
	if (strcmp(cmd, "config-reference") == 0) {
		config_print_reference(stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "new-ed25519-keypair") == 0 ||
	    strcmp(cmd, "show-public-key") == 0) {
		if (parse_options(argc, argv, OPT_FILE, &o) == -1)
			return EXIT_USAGE;
		if (o.file == NULL) {
			fprintf(stderr, "sepworker: %s needs --file FILE\n", cmd);
			return EXIT_USAGE;
		}
		return cmd[0] == 'n' ? keys_new_keypair(o.file) :
		    keys_show_public(o.file);
	}
	if (strcmp(cmd, "verify-cot") == 0) {
		if (parse_options(argc, argv, OPT_VERIFY, &o) == -1)
			return EXIT_USAGE;
		if (o.positional == NULL || o.public_key == NULL) {
			fprintf(stderr, "sepworker: verify-cot needs DIR and "
			    "--public-key KEY\n");
			return EXIT_USAGE;
		}
		return verify_cot(o.positional, o.public_key, o.task_id);
	}
	if (strcmp(cmd, "show-payload-schema") == 0) {
		fputs(payload_schema_json, stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "version") == 0) {
		printf("sepworker %s\n", SEPWORKER_VERSION);
		return EXIT_OK;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "sepworker: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
