/* main.c - options, mounting, and the session loop.
 *
 *   deployfs [-f] [-d] [-s] [-o opt,...] MOUNTPOINT
 *   mount -t fuse.deployfs SOURCE MOUNTPOINT -o opt,...   (SOURCE: a store dir)
 */
#include "history.h"
#include "api.h"
#include "glance.h"
#include "fs.h"
#include "local.h"
#include "log.h"
#include "model.h"
#include "mountpoint.h"
#include "notify.h"
#include "shutdown.h"
#include "events.h"
#include "echo.h"
#include "drift.h"
#include "registry.h"
#include "regopts.h"
#include "tree.h"

#include <errno.h>
#include <limits.h>
#include <fuse_log.h>
#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Worker threads unless max_threads= says otherwise: each write waits on
 * the network holding one. */
#define DFS_MAX_THREADS 64

struct opts {
	char *state, *api, *api_token_file, *glance, *glance_token_file, *cacert, *company;
	char *log;
	char *registry_check;
	char *max_nodes;
	double timeout, poll, drift;
	int show_help, show_version;
	int allow_other;      /* allow_other or allow_root was given */
	int max_threads;      /* max_threads= was given */
	int fsname, subtype;  /* fsname= or subtype= was given */
	char **nonopt;
	int n_nonopt;
	char **mirrors;
	size_t n_mirrors;
	char **insecure;
	size_t n_insecure;
};

enum { KEY_MIRROR, KEY_INSECURE, KEY_HELP, KEY_VERSION, KEY_ALLOW_OTHER, KEY_MAX_THREADS,
       KEY_FSNAME, KEY_SUBTYPE };

#define OPT(t, f) { t, offsetof(struct opts, f), 1 }
static const struct fuse_opt dfs_opts[] = {
	OPT("state=%s", state),
	OPT("api=%s", api),
	OPT("api_token_file=%s", api_token_file),
	OPT("glance=%s", glance),
	OPT("glance_token_file=%s", glance_token_file),
	OPT("cacert=%s", cacert),
	OPT("company=%s", company),
	OPT("registry_check=%s", registry_check),
	OPT("timeout=%lf", timeout),
	OPT("poll=%lf", poll),
	OPT("log=%s", log),
	OPT("max_nodes=%s", max_nodes),
	OPT("drift=%lf", drift),
	FUSE_OPT_KEY("registry_mirror=", KEY_MIRROR),
	FUSE_OPT_KEY("insecure_registry=", KEY_INSECURE),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("allow_root", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static int push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv || !(nv[*n] = strdup(s)))
		return -1;
	*v = nv;
	(*n)++;
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opts *o = data;

	switch (key) {
	case KEY_MIRROR:
		return push(&o->mirrors, &o->n_mirrors, arg + strlen("registry_mirror="));
	case KEY_INSECURE:
		return push(&o->insecure, &o->n_insecure, arg + strlen("insecure_registry="));
	case KEY_ALLOW_OTHER:
		o->allow_other = 1;
		return 1;   /* libfuse needs it too */
	case KEY_MAX_THREADS:
		o->max_threads = 1;
		return 1;
	case KEY_FSNAME:
		o->fsname = 1;
		return 1;
	case KEY_SUBTYPE:
		o->subtype = 1;
		return 1;
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT: {
		/* keep positional arguments: [SOURCE] MOUNTPOINT */
		char **nv = realloc(o->nonopt, (o->n_nonopt + 1) * sizeof(*nv));

		if (!nv)
			return -1;
		o->nonopt = nv;
		o->nonopt[o->n_nonopt++] = strdup(arg);
		return 0;
	}
	}
	return 1;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Everything fuse_opt_parse and opt_proc allocated. */
static void free_opts(struct opts *o)
{
	free(o->state);
	free(o->api);
	free(o->api_token_file);
	free(o->glance);
	free(o->glance_token_file);
	free(o->cacert);
	free(o->company);
	free(o->registry_check);
	free(o->log);
	free(o->max_nodes);
	free_list(o->nonopt, (size_t)o->n_nonopt);
	free_list(o->mirrors, o->n_mirrors);
	free_list(o->insecure, o->n_insecure);
}

/* Every option once, with its default; libfuse's own help is not printed
 * (it would list -V twice and max_threads with libfuse's default, not ours). */
static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "       mount -t fuse.deployfs STORE MOUNTPOINT -o OPTIONS\n\n"
	       "deployfs mounts deployment state as files: environments/<env>/apps/<app>/\n"
	       "{image,tag,ref,registry}, images/<id>/ (Glance properties), registries/.\n"
	       "Writing a file validates the value, checks images in their registry, and\n"
	       "commits it to the store.\n\n"
	       "Options (-o NAME[=VALUE], several comma-separated in one -o):\n"
	       "    state=DIR                  local store; must exist when given (default\n"
	       "                               $XDG_DATA_HOME/deployfs, else ~/.local/share/\n"
	       "                               deployfs, created on first use)\n"
	       "    registry_check=MODE        strict, warn or off (default strict)\n"
	       "    registry_mirror=HOST=URL   send requests for registry HOST to URL;\n"
	       "                               repeatable (default none)\n"
	       "    insecure_registry=HOST[:PORT]  allow plain HTTP / unverified TLS;\n"
	       "                               repeatable (default none)\n"
	       "    cacert=FILE                extra CA bundle (default: system CAs only)\n"
	       "    timeout=SECONDS            deadline of a whole system call (default 10)\n"
	       "    api=URL                    apps API base URL (.../api/v1): environments,\n"
	       "                               apps and registries come from it (default:\n"
	       "                               the local store)\n"
	       "    api_token_file=FILE        its Bearer token (default $DEPLOYFS_API_TOKEN)\n"
	       "    company=ID                 company for registries made by mkdir (default:\n"
	       "                               the environments' common companyIdRef)\n"
	       "    glance=URL                 Glance v2 endpoint (http://HOST:9292): images\n"
	       "                               come from it (default: the local store)\n"
	       "    glance_token_file=FILE     its X-Auth-Token (default $OS_TOKEN)\n"
	       "    poll=SECONDS               how often the APIs are re-read (default 10)\n"
	       "    log=FILE                   append the log to FILE, created 0600\n"
	       "                               (default: see Logs below)\n"
	       "    max_nodes=N                files and directories the kernel is let keep\n"
	       "                               before the least recently used are dropped;\n"
	       "                               0: no bound (default %d)\n"
	       "    drift=SECONDS              re-check each app's tag in its registry this\n"
	       "                               often: one HEAD per image reference (default\n"
	       "                               0: off)\n"
	       "    max_threads=N              FUSE worker threads (default %d)\n"
	       "    max_idle_threads=N         idle worker threads kept (default -1: all)\n"
	       "    clone_fd                   one /dev/fuse fd per thread (default off)\n"
	       "    allow_other                let other users in, with default_permissions\n"
	       "                               (default: only the mounting user and root)\n"
	       "    allow_root                 let root in, with default_permissions (default off)\n"
	       "    auto_unmount               unmount when the daemon dies (default off)\n"
	       "    ro                         read-only mount: writes fail with EROFS\n"
	       "                               (default rw)\n"
	       "    fsname=NAME                the source findmnt shows (default: the store)\n"
	       "    subtype=NAME               the type is fuse.NAME (default deployfs)\n\n"
	       "Flags:\n"
	       "    -f                         stay in the foreground\n"
	       "    -d                         debug: also log every FUSE request (implies -f)\n"
	       "    -s                         single-threaded\n"
	       "    -h, --help                 print this help\n"
	       "    -V, --version              print the version\n\n"
	       "Logs: to log=FILE when given; else with -f or -d to stderr; otherwise to\n"
	       "syslog (facility daemon, tag deployfs), under systemd the journal:\n"
	       "journalctl -t deployfs. With no syslog socket (/dev/log): to stderr when\n"
	       "it is a file (2>>FILE), else to $XDG_STATE_HOME/deployfs/deployfs.log\n"
	       "(default ~/.local/state/deployfs/deployfs.log), and the mount says so.\n"
	       "Lines in a file or on stderr: UTC time, level, deployfs[PID], message.\n",
	       prog, DFS_MAX_NODES, DFS_MAX_THREADS);
}

static char *default_state(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char *p = NULL;

	if (xdg && *xdg) {
		if (asprintf(&p, "%s/deployfs", xdg) < 0)
			return NULL;
	} else if (home && *home) {
		if (asprintf(&p, "%s/.local/share/deployfs", home) < 0)
			return NULL;
	}
	return p;
}

/* mkdir -p for the default store's parents (only what is missing). */
static void make_parents(const char *path)
{
	char *p = strdup(path), *s;

	if (!p)
		return;
	for (s = p + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0700);
		*s = '/';
	}
	free(p);
}

static int parse_config(struct opts *o, struct dfs_config *c)
{
	c->timeout = o->timeout > 0 ? o->timeout : 10;
	c->poll = o->poll > 0 ? o->poll : 10;
	c->max_nodes = DFS_MAX_NODES;
	if (o->max_nodes) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(o->max_nodes, &end, 10);
		if (errno || end == o->max_nodes || *end || o->max_nodes[0] == '-' ||
		    (v && v < DFS_MIN_NODES) || v > 100000000) {
			fprintf(stderr, "deployfs: max_nodes=%s: a number of files, 0 (no bound) or "
				"from %d to 100000000\n", o->max_nodes, DFS_MIN_NODES);
			return -1;
		}
		c->max_nodes = v;
	}
	c->drift = o->drift > 0 ? o->drift : 0;
	if (!o->registry_check || strcmp(o->registry_check, "strict") == 0) {
		c->registry_check = DFS_CHECK_STRICT;
	} else if (strcmp(o->registry_check, "warn") == 0) {
		c->registry_check = DFS_CHECK_WARN;
	} else if (strcmp(o->registry_check, "off") == 0) {
		c->registry_check = DFS_CHECK_OFF;
	} else {
		fprintf(stderr, "deployfs: registry_check=%s: use strict, warn or off\n",
			o->registry_check);
		return -1;
	}
	for (size_t i = 0; i < o->n_mirrors; i++)
		if (!strchr(o->mirrors[i], '=')) {
			fprintf(stderr, "deployfs: registry_mirror=%s: use HOST=URL\n", o->mirrors[i]);
			return -1;
		}
	c->api = o->api;
	c->api_token_file = o->api_token_file;
	c->glance = o->glance;
	c->glance_token_file = o->glance_token_file;
	c->state = o->state ? o->state : default_state();
	if (!c->state) {
		fprintf(stderr, "deployfs: no store: set -o state=DIR (or HOME)\n");
		return -1;
	}
	/* only the default store is made on first use: a mistyped state=
	 * must not mount a new empty store */
	if (o->state && access(o->state, F_OK) < 0 && errno == ENOENT) {
		fprintf(stderr, "deployfs: store %s does not exist; create it (mkdir -m 0700 %s) "
			"or leave state= out for the default store\n", o->state, o->state);
		return -1;
	}
	if (!o->state)
		make_parents(c->state);
	c->cacert = o->cacert;
	c->company = o->company;
	c->mirrors = o->mirrors;
	c->n_mirrors = o->n_mirrors;
	c->insecure = o->insecure;
	c->n_insecure = o->n_insecure;
	return 0;
}

/* libfuse's own messages, into the same log (after the detach, its
 * default, stderr, is /dev/null) */
static void fuse_to_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char text[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	log_line(level <= FUSE_LOG_ERR ? "error" : level <= FUSE_LOG_WARNING ? "warning" :
		 level <= FUSE_LOG_INFO ? "info" : "debug", text);
}

/* Where the log goes (README, Mount options): log=FILE, else stderr with
 * -f, else syslog, else (no syslog socket) a file stderr was redirected
 * to, else a file in the user's state directory: then where[] names it,
 * for the one line that tells the user once the mount is in place (a
 * mount refused says only why). */
static int open_log(const struct opts *o, const struct fuse_cmdline_opts *cmd,
		    char *where, size_t wsz)
{
	int ret;

	where[0] = '\0';
	if (o->log) {
		ret = log_to_file(o->log, cmd->debug);
		if (ret < 0) {
			fprintf(stderr, "deployfs: log=%s: %s\n", o->log, strerror(-ret));
			return -1;
		}
	} else if (cmd->foreground) {
		log_init(1, cmd->debug);
		return 0;
	} else {
		ret = log_for_daemon(cmd->debug, where, wsz);
		if (ret < 0)
			fprintf(stderr, "deployfs: no syslog socket (/dev/log) and no log file (%s): "
				"the log is lost once deployfs detaches; use -o log=FILE\n",
				strerror(-ret));
		if (where[0] != '/')
			where[0] = '\0';
	}
	if (!cmd->debug)   /* -d keeps libfuse's request trace on stderr */
		fuse_set_log_func(fuse_to_log);
	return 0;
}

static int start_registry_client(struct dfs_fs *fs)
{
	struct dfs_registry_opts ro = dfs_registry_opts_of(&fs->cfg);
	struct dfs_error err = { 0 };

	if (fs->cfg.registry_check == DFS_CHECK_OFF)
		return 0;
	fs->registry = dfs_registry_client_new(&ro, &err);
	if (!fs->registry) {
		fprintf(stderr, "deployfs: registry client: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void warm_tree(void *tree)
{
	dfs_tree_warm(tree);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_loop_config *loop = NULL;
	struct dfs_fs fs = { 0 };
	struct opts o = { 0 };
	struct dfs_error err = { 0 };
	struct dfs_backend *local = NULL, *api = NULL, *glance = NULL;
	char log_where[PATH_MAX] = "";   /* the fallback log file, or "" */
	unsigned local_kinds = (1u << DFS_KIND_COUNT) - 1;
	int ret = 1;

	if (fuse_opt_parse(&args, &o, dfs_opts, opt_proc) < 0)
		goto out_args;
	if (o.show_version) {
		printf("deployfs %s\n", DEPLOYFS_VERSION);
		printf("FUSE library version %s\n", fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (o.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out_args;
	}
	/* [SOURCE] MOUNTPOINT: mount(8) passes the source first */
	if (o.n_nonopt == 2 && !o.state)
		o.state = strdup(o.nonopt[0]);
	ret = 2;
	if (o.n_nonopt < 1 || o.n_nonopt > 2) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT (see --help)\n", argv[0]);
		goto out_args;
	}
	fuse_opt_add_arg(&args, o.nonopt[o.n_nonopt - 1]);
	/* Others may reach the files only under the kernel's check of their
	 * modes and owner: value files are 0644 (0200 for secrets) and owned
	 * by the daemon's user, directories 0755. */
	if (o.allow_other)
		fuse_opt_add_arg(&args, "-odefault_permissions");
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (!cmd.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT (see --help)\n", argv[0]);
		goto out_args;
	}
	ret = 1;
	if (open_log(&o, &cmd, log_where, sizeof(log_where)) < 0)
		goto out_args;
	if (dfs_mountpoint_prepare(cmd.mountpoint) < 0)
		goto out_args;
	if (parse_config(&o, &fs.cfg) < 0)
		goto out_args;

	local = dfs_local_new(fs.cfg.state, &err);
	if (!local) {
		fprintf(stderr, "deployfs: %s\n", err.msg);
		goto out_args;
	}
	for (int k = 0; k < DFS_KIND_COUNT; k++)
		fs.backends[k] = local;
	if (fs.cfg.api) {
		/* environments, apps and registries from the API; images stay */
		struct dfs_api_opts ao = {
			.url = fs.cfg.api, .token_file = fs.cfg.api_token_file,
			.company = fs.cfg.company, .cacert = fs.cfg.cacert,
			.timeout = fs.cfg.timeout, .poll = fs.cfg.poll,
		};

		api = dfs_api_new(&ao, &err);
		if (!api) {
			fprintf(stderr, "deployfs: %s\n", err.msg);
			goto out_free;
		}
		local_kinds &= ~(1u << DFS_ENV | 1u << DFS_APP | 1u << DFS_REGISTRY);
		fs.backends[DFS_ENV] = fs.backends[DFS_APP] = fs.backends[DFS_REGISTRY] = api;
	}
	if (fs.cfg.glance) {
		/* images from Glance; the rest stays where it was */
		struct dfs_glance_opts go = {
			.url = fs.cfg.glance, .token_file = fs.cfg.glance_token_file,
			.cacert = fs.cfg.cacert, .timeout = fs.cfg.timeout, .poll = fs.cfg.poll,
		};

		glance = dfs_glance_new(&go, &err);
		if (!glance) {
			fprintf(stderr, "deployfs: %s\n", err.msg);
			goto out_free;
		}
		local_kinds &= ~(1u << DFS_IMAGE);
		fs.backends[DFS_IMAGE] = glance;
	}
	dfs_local_serve_only(local, local_kinds);
	fs.model = dfs_model_new(fs.backends, dfs_on_change, &fs);
	fs.tree = dfs_tree_new(&fs);
	fs.events = dfs_events_new();
	if (!fs.model || !fs.tree || !fs.events)
		goto out_free;
	if (dfs_model_load(fs.model, dfs_deadline_ns(fs.cfg.timeout), &err) < 0) {
		/* remote lines name their server: "Glance HOST:PORT refused the connection" */
		fprintf(stderr, api || glance ? "deployfs: %s\n" :
			"deployfs: cannot read the store: %s\n", err.msg);
		goto out_free;
	}
	if (start_registry_client(&fs) < 0)
		goto out_free;

	/* findmnt's SOURCE is the store (as sshfs shows its host:path), the
	 * type fuse.deployfs also when not started by mount(8) */
	if (!o.fsname || !o.subtype) {
		char *abs = realpath(fs.cfg.state, NULL), *mo = NULL, *opt = NULL;
		int bad = 0;

		if (!o.fsname && asprintf(&opt, "fsname=%s", abs ? abs : fs.cfg.state) >= 0) {
			bad |= fuse_opt_add_opt_escaped(&mo, opt);
			free(opt);
		}
		if (!o.subtype)
			bad |= fuse_opt_add_opt(&mo, "subtype=deployfs");
		if (!bad && mo)
			bad = fuse_opt_add_arg(&args, "-o") | fuse_opt_add_arg(&args, mo);
		free(mo);
		free(abs);
		if (bad)
			goto out_free;
	}
	fs.se = fuse_session_new(&args, &dfs_ops, sizeof(dfs_ops), &fs);
	if (!fs.se)
		goto out_free;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, cmd.mountpoint) != 0)
		goto out_signals;
	/* Before any thread starts: fork() keeps only the calling thread, so
	 * a notifier or store watcher started earlier would not exist in the
	 * daemon (and joining it at exit would hang). */
	if (log_where[0])
		fprintf(stderr, "deployfs: no syslog socket (/dev/log): the log goes to %s "
			"(-o log=FILE to choose)\n", log_where);
	fuse_daemonize(cmd.foreground);
	fs.notifier = dfs_notifier_new(fs.se);
	/* the journals of history: in the store, the remote kinds' apart */
	if (dfs_history_start(&fs, fs.cfg.state,
			      ((1u << DFS_KIND_COUNT) - 1) & ~local_kinds, &err) < 0)
		log_warnx("history: %s; changes are not recorded", err.msg);
	dfs_model_set_loaded(fs.model, warm_tree, fs.tree);
	fs.echo = dfs_echo_new(&fs, cmd.mountpoint);   /* before the watchers feed it */
	if (!fs.notifier || dfs_model_watch(fs.model) < 0) {
		log_warnx("cannot watch the store for changes");
		goto out_unmount;
	}
	if (dfs_shutdown_start(&fs) < 0)
		log_warnx("cannot start the shutdown thread: a signal ends the loop at once");
	if (fs.cfg.drift > 0)
		fs.drift = dfs_drift_new(&fs);
	log_info("mounted %s%s%s on %s (registry_check=%s)", api ? "the apps API and " : "",
		 glance ? "Glance and " : "", fs.cfg.state, cmd.mountpoint,
		 fs.cfg.registry_check == DFS_CHECK_STRICT ? "strict" :
		 fs.cfg.registry_check == DFS_CHECK_WARN ? "warn" : "off");

	if (cmd.singlethread) {
		ret = fuse_session_loop(fs.se);
	} else {
		loop = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
		/* libfuse's default of 10 workers caps writers waiting on a
		 * registry or an API at 10 in parallel */
		if (!o.max_threads)
			cmd.max_threads = DFS_MAX_THREADS;
		if (cmd.max_threads > 0 && cmd.max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(loop, cmd.max_threads);
		/* libfuse's "unset" is UINT_MAX: pass only what was given */
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
		ret = fuse_session_loop_mt(fs.se, loop);
		fuse_loop_cfg_destroy(loop);
	}
	dfs_shutdown_stop();
	dfs_drift_free(fs.drift);   /* it publishes events: before they go */
	fs.drift = NULL;
	/* a signal ends the loop with its number: a clean exit */
	ret = ret < 0 ? 1 : 0;
	/* the watcher feeds the notifier: stop it first (and the reading
	 * of the store, which starts it) */
	dfs_model_stop(fs.model);
	local->ops->free(local);
	local = NULL;
	if (api)
		api->ops->free(api);
	api = NULL;
	if (glance)
		glance->ops->free(glance);
	glance = NULL;
out_unmount:
	/* after the watchers, before the notifier that it still uses */
	dfs_history_stop();
	dfs_notifier_free(fs.notifier);
	/* blocked event readers are answered while the session can still
	 * take replies */
	dfs_events_free(fs.events);
	fs.events = NULL;
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_free:
	if (fs.model)
		dfs_model_stop(fs.model);
	if (local)
		local->ops->free(local);
	if (api)
		api->ops->free(api);
	if (glance)
		glance->ops->free(glance);
	/* after the session's end: a write of its in flight fails then */
	dfs_echo_free(fs.echo);
	dfs_registry_client_free(fs.registry);
	dfs_events_free(fs.events);
	dfs_tree_free(fs.tree);
	dfs_model_free(fs.model);
out_args:
	if (fs.cfg.state != o.state)
		free(fs.cfg.state);   /* the default store's path */
	free_opts(&o);
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
