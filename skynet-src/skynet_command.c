/*
 * skynet_command.c -- skynet_command(): the text command interface services
 * use to talk to the framework (TIMEOUT, REG, QUERY, NAME, EXIT, KILL,
 * LAUNCH, GETENV, SETENV, STARTTIME, ABORT, MONITOR, STAT, LOGON, LOGOFF,
 * SIGNAL).  Results are written into the context's scratch buffer and stay
 * valid until its next command.
 */
#include "skynet.h"
#include "skynet_env.h"
#include "skynet_handle.h"
#include "skynet_log.h"
#include "skynet_module.h"
#include "skynet_mq.h"
#include "skynet_server.h"
#include "skynet_timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESULT_SIZE 64

static uint32_t to_handle(struct skynet_context *ctx, const char *param) {
	if (param == NULL)
		return 0;
	if (param[0] == ':')
		return (uint32_t)strtoul(param + 1, NULL, 16);
	if (param[0] == '.')
		return skynet_handle_findname(param + 1);
	skynet_error(ctx, "error: Can't convert %s to handle", param);
	return 0;
}

/* Retires `handle` (0: the caller itself, which exits).  The reason is
 * recorded first, so whoever waits on the service learns why. */
static void notify_exit(struct skynet_context *ctx, uint32_t handle) {
	if (handle == 0) {
		handle = skynet_context_handle(ctx);
		skynet_error(ctx, "KILL self");
		skynet_context_set_exit(ctx, SKYNET_EXIT_EXITED);
	} else {
		skynet_error(ctx, "KILL :%x", handle);
		struct skynet_context *target = skynet_handle_grab(handle);
		if (target) {
			skynet_context_set_exit(target, SKYNET_EXIT_KILLED);
			skynet_context_release(target);
		}
	}
	uint32_t monitor = skynet_monitor_exit_handle();
	if (monitor)
		skynet_send(ctx, handle, monitor, PTYPE_CLIENT, 0, NULL, 0);
	skynet_handle_retire(handle);
}

static const char *cmd_timeout(struct skynet_context *ctx, const char *param) {
	char *end;
	int ti = (int)strtol(param ? param : "0", &end, 10);
	int session = skynet_context_newsession(ctx);
	skynet_timeout(skynet_context_handle(ctx), ti, session);
	char *r = skynet_context_result(ctx);
	snprintf(r, RESULT_SIZE, "%d", session);
	return r;
}

static const char *cmd_reg(struct skynet_context *ctx, const char *param) {
	char *r = skynet_context_result(ctx);
	if (param == NULL || param[0] == '\0') {
		snprintf(r, RESULT_SIZE, ":%x", skynet_context_handle(ctx));
		return r;
	}
	if (param[0] == '.') {
		const char *name = skynet_handle_namehandle(skynet_context_handle(ctx), param + 1);
		if (name == NULL)
			return NULL;
		snprintf(r, RESULT_SIZE, "%s", name);
		return r;
	}
	skynet_error(ctx, "error: Can't register global name %s in C", param);
	return NULL;
}

static const char *cmd_query(struct skynet_context *ctx, const char *param) {
	if (param && param[0] == '.') {
		uint32_t handle = skynet_handle_findname(param + 1);
		if (handle) {
			char *r = skynet_context_result(ctx);
			snprintf(r, RESULT_SIZE, ":%x", handle);
			return r;
		}
	}
	return NULL;
}

static const char *cmd_name(struct skynet_context *ctx, const char *param) {
	if (param == NULL)
		return NULL;
	size_t size = strlen(param);
	char name[size + 1];
	char handle[size + 1];
	if (sscanf(param, "%s %s", name, handle) != 2 || handle[0] != ':')
		return NULL;
	uint32_t handle_id = (uint32_t)strtoul(handle + 1, NULL, 16);
	if (handle_id == 0)
		return NULL;
	if (name[0] == '.') {
		const char *stored = skynet_handle_namehandle(handle_id, name + 1);
		if (stored == NULL)
			return NULL;
		char *r = skynet_context_result(ctx);
		snprintf(r, RESULT_SIZE, "%s", stored);
		return r;
	}
	skynet_error(ctx, "error: Can't set global name %s in C", name);
	return NULL;
}

/* EXIT ["init failed"]: the parameter is our extension, sent by a service
 * module whose start-up failed.  When that service is the bootstrap one,
 * nothing else will ever start: the node stops with status 1 instead of
 * idling forever with only the logger (a wrong lua_path in the config did
 * that). */
static const char *cmd_exit(struct skynet_context *ctx, const char *param) {
	bool bootstrap_failed = param && strcmp(param, SKYNET_EXIT_INIT_FAILED) == 0 && skynet_context_is_bootstrap(ctx);
	notify_exit(ctx, 0);
	if (bootstrap_failed) {
		skynet_error(NULL, "bootstrap service failed to start (reason above): the node stops");
		skynet_node_abort(1);
	}
	return NULL;
}

static const char *cmd_kill(struct skynet_context *ctx, const char *param) {
	uint32_t handle = to_handle(ctx, param);
	if (handle)
		notify_exit(ctx, handle);
	return NULL;
}

static const char *cmd_launch(struct skynet_context *ctx, const char *param) {
	if (param == NULL)
		return NULL;
	size_t sz = strlen(param);
	char tmp[sz + 1];
	memcpy(tmp, param, sz + 1);
	char *args = tmp;
	char *mod = strsep(&args, " \t\r\n");
	if (args)
		args += strspn(args, " \t\r\n");
	uint32_t handle = skynet_context_launch(mod, args);
	if (handle == 0)
		return NULL;
	char *r = skynet_context_result(ctx);
	snprintf(r, RESULT_SIZE, ":%08X", handle);
	return r;
}

static const char *cmd_getenv(struct skynet_context *ctx, const char *param) {
	(void)ctx;
	return param ? skynet_getenv(param) : NULL;
}

/* Upstream aborts the process on an existing key; we log and refuse. */
static const char *cmd_setenv(struct skynet_context *ctx, const char *param) {
	if (param == NULL)
		return NULL;
	size_t sz = strlen(param);
	char key[sz + 1];
	size_t i;
	for (i = 0; param[i] != ' ' && param[i]; i++)
		key[i] = param[i];
	key[i] = '\0';
	const char *value = param[i] ? param + i + 1 : "";
	if (skynet_setenv(key, value)) {
		skynet_error(ctx, "error: Can't setenv exist key : %s", key);
		return NULL;
	}
	return "";
}

static const char *cmd_starttime(struct skynet_context *ctx, const char *param) {
	(void)param;
	char *r = skynet_context_result(ctx);
	snprintf(r, RESULT_SIZE, "%u", skynet_starttime());
	return r;
}

/* ABORT [status]: the optional exit status is our extension, used by
 * bootstrap when the start service cannot be launched. */
static const char *cmd_abort(struct skynet_context *ctx, const char *param) {
	(void)ctx;
	skynet_node_abort(param ? atoi(param) : 0);
	return NULL;
}

static const char *cmd_monitor(struct skynet_context *ctx, const char *param) {
	if (param == NULL || param[0] == '\0') {
		uint32_t m = skynet_monitor_exit_handle();
		if (m) {
			char *r = skynet_context_result(ctx);
			snprintf(r, RESULT_SIZE, ":%x", m);
			return r;
		}
		return NULL;
	}
	skynet_set_monitor_exit(to_handle(ctx, param));
	return NULL;
}

static const char *cmd_stat(struct skynet_context *ctx, const char *param) {
	char *r = skynet_context_result(ctx);
	if (param == NULL) {
		r[0] = '\0';
		return r;
	}
	struct skynet_context_stat st;
	skynet_context_stat(ctx, &st, strcmp(param, "endless") == 0);
	if (strcmp(param, "mqlen") == 0) {
		snprintf(r, RESULT_SIZE, "%d", st.mqlen);
	} else if (strcmp(param, "endless") == 0) {
		snprintf(r, RESULT_SIZE, "%d", st.endless ? 1 : 0);
	} else if (strcmp(param, "cpu") == 0) {
		uint64_t us = st.profile ? st.cpu_cost_us : 0;
		snprintf(r, RESULT_SIZE, "%d.%06d", (int)(us / 1000000), (int)(us % 1000000));
	} else if (strcmp(param, "time") == 0) {
		uint64_t us = 0;
		if (st.profile && st.cpu_start_us) {
			uint64_t now = skynet_hpc() / 1000;
			us = now > st.cpu_start_us ? now - st.cpu_start_us : 0;
		}
		snprintf(r, RESULT_SIZE, "%d.%06d", (int)(us / 1000000), (int)(us % 1000000));
	} else if (strcmp(param, "task") == 0) {
		/* not in upstream: the count the service's Lua scheduler keeps
		 * (skynet_context_set_tasks); debug STAT reads it here */
		snprintf(r, RESULT_SIZE, "%d", st.tasks);
	} else if (strcmp(param, "message") == 0) {
		snprintf(r, RESULT_SIZE, "%llu", (unsigned long long)st.message_count);
	} else {
		r[0] = '\0';
	}
	return r;
}

/* The context named by param, with a reference the caller releases. */
static struct skynet_context *grab_target(struct skynet_context *ctx, const char *param) {
	uint32_t handle = to_handle(ctx, param);
	return handle ? skynet_handle_grab(handle) : NULL;
}

static const char *cmd_logon(struct skynet_context *ctx, const char *param) {
	struct skynet_context *target = grab_target(ctx, param);
	if (target == NULL)
		return NULL;
	if (skynet_context_getlog(target) == NULL) {
		FILE *f = skynet_log_open(ctx, skynet_context_handle(target));
		if (f)
			skynet_context_setlog(target, f);
	}
	skynet_context_release(target);
	return NULL;
}

static const char *cmd_logoff(struct skynet_context *ctx, const char *param) {
	struct skynet_context *target = grab_target(ctx, param);
	if (target == NULL)
		return NULL;
	FILE *f = skynet_context_detachlog(target);
	if (f)
		skynet_log_close(ctx, f, skynet_context_handle(target));
	skynet_context_release(target);
	return NULL;
}

static const char *cmd_signal(struct skynet_context *ctx, const char *param) {
	struct skynet_context *target = grab_target(ctx, param);
	if (target == NULL)
		return NULL;
	int sig = 0;
	const char *space = strchr(param, ' ');
	if (space)
		sig = (int)strtol(space + 1, NULL, 0);
	skynet_module_instance_signal(skynet_context_module(target), skynet_context_instance(target), sig);
	skynet_context_release(target);
	return NULL;
}

struct command_func {
	const char *name;
	const char *(*func)(struct skynet_context *ctx, const char *param);
};

static const struct command_func cmd_funcs[] = {
	{"TIMEOUT", cmd_timeout}, {"REG", cmd_reg},       {"QUERY", cmd_query},
	{"NAME", cmd_name},       {"EXIT", cmd_exit},     {"KILL", cmd_kill},
	{"LAUNCH", cmd_launch},   {"GETENV", cmd_getenv}, {"SETENV", cmd_setenv},
	{"STARTTIME", cmd_starttime}, {"ABORT", cmd_abort}, {"MONITOR", cmd_monitor},
	{"STAT", cmd_stat},       {"LOGON", cmd_logon},   {"LOGOFF", cmd_logoff},
	{"SIGNAL", cmd_signal},   {NULL, NULL},
};

const char *skynet_command(struct skynet_context *context, const char *cmd, const char *param) {
	for (const struct command_func *m = cmd_funcs; m->name; m++)
		if (strcmp(cmd, m->name) == 0)
			return m->func(context, param);
	return NULL;
}
