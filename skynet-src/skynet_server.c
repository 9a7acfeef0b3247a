/*
 * skynet_server.c -- service contexts and message delivery.
 *
 * The path of one message: skynet_send() -> skynet_context_push() appends to
 * the destination mailbox (skynet_mq.c) and, if the mailbox was idle, links
 * it into the run queue (skynet_runq.c) -> a worker (skynet_start.c) calls
 * skynet_context_message_dispatch() -> dispatch_message() runs the service
 * callback and frees the payload unless the callback kept it.
 *
 * A context is reference counted: the handle registry holds one reference,
 * each in-flight lookup (skynet_handle_grab) one more.  The context is deleted
 * when the last reference goes, after its handle was retired.
 */
#include "skynet_server.h"
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_harbor.h"
#include "skynet_log.h"
#include "skynet_metrics.h"
#include "skynet_module.h"
#include "skynet_monitor.h"
#include "skynet_mq.h"
#include "skynet_runq.h"
#include "skynet_start.h"
#include "skynet_timer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Owned by the registry.  cb/cb_ud/session_id/message_count/tasks/cpu_* are
 * written only by the thread running the service (one at a time);
 * message_count, tasks and cpu_* are atomics (relaxed plain stores) because
 * the metrics service reads them from another thread; ref, endless and
 * logfile are atomics because other threads read or set them.  `name` is
 * set at creation.  message_count is 64 bits: a busy service passes 2^32
 * messages in hours, and the metrics endpoint exports it as a counter
 * that must not go back to 0. */
struct skynet_context {
	void *instance;
	struct skynet_module *mod;
	void *cb_ud;
	skynet_cb cb;
	struct message_queue *queue;
	_Atomic(FILE *) logfile;
	_Atomic uint64_t cpu_cost; /* microseconds */
	_Atomic uint64_t cpu_start; /* microseconds, 0 when idle */
	char result[64];
	uint32_t handle;
	int session_id;
	atomic_int ref;
	atomic_int pending; /* set by the service itself, read by whichever thread polls the sockets */
	_Atomic uint64_t message_count;
	atomic_int tasks; /* coroutines waiting on a session (its scheduler says) */
	atomic_int exit_reason; /* SKYNET_EXIT_*: set once, by the thread that retires the handle */
	char *name; /* "module args" as launched, for the metrics endpoint */
	bool init;
	atomic_bool endless;
	bool profile;
};

static atomic_int context_total;
static bool G_profile = true;
static atomic_uint logger_handle;
static atomic_uint monitor_exit;
static atomic_bool aborting;
static atomic_int exit_status;
static _Thread_local uint32_t current_handle;
/* Set at boot, before the workers run; read-only afterwards. */
static skynet_dispatch_observer observers[256];

void skynet_set_profile(bool on) { G_profile = on; }
uint32_t skynet_logger_handle(void) { return logger_handle; }
void skynet_set_logger_handle(uint32_t h) { logger_handle = h; }
uint32_t skynet_monitor_exit_handle(void) { return monitor_exit; }
void skynet_set_monitor_exit(uint32_t h) { monitor_exit = h; }

void skynet_initthread(int m) {
	current_handle = (uint32_t)(-m);
	skynet_metrics_thread_kind(m);
}

uint32_t skynet_current_handle(void) { return current_handle; }

void skynet_globalinit(void) {
	current_handle = (uint32_t)-THREAD_MAIN;
	skynet_metrics_thread_kind(THREAD_MAIN);
}

/* Appends to a mailbox and links it into the run queue if it was idle. */
static void mailbox_push(struct message_queue *q, struct skynet_message *message) {
	if (skynet_mq_push(q, message))
		skynet_runq_push(q);
}

const char *skynet_exit_text(int reason) {
	switch (reason) {
	case SKYNET_EXIT_KILLED:
		return "service killed";
	case SKYNET_EXIT_EXITED:
		return "service exited";
	default:
		return "service is gone";
	}
}

void skynet_context_set_exit(struct skynet_context *ctx, int reason) {
	int none = SKYNET_EXIT_NONE;
	if (atomic_compare_exchange_strong(&ctx->exit_reason, &none, reason))
		skynet_mq_set_exit_reason(ctx->queue, reason);
}

int skynet_context_exit_reason(struct skynet_context *ctx) { return atomic_load(&ctx->exit_reason); }

struct drop_t {
	uint32_t handle;
	const char *why; /* skynet_exit_text of the mailbox's reason */
};

static void drop_init(struct drop_t *d, struct message_queue *q, uint32_t handle) {
	d->handle = handle;
	d->why = skynet_exit_text(skynet_mq_exit_reason(q));
}

/* skynet_drop_hook's table, per protocol type (the low byte).  Written by
 * a module's luaopen, read by whichever thread drops a message. */
static _Atomic(skynet_drop_cb) drop_hooks[256];

void skynet_drop_hook(int type, skynet_drop_cb release) {
	atomic_store(&drop_hooks[type & 0xff], release);
}

/* Releases what an unread payload owns, then the payload. */
static void free_unread(void *data, int type, size_t sz) {
	skynet_drop_cb release = atomic_load_explicit(&drop_hooks[type & 0xff], memory_order_acquire);
	if (release && data)
		release(data, sz);
	skynet_free(data);
}

/* A message left in a dead service's mailbox: tell the sender it failed,
 * saying why.  A request fails its own session; a response or an error
 * (whose session belongs to the dead service, not to the sender) tells
 * the sender only that the service is dead (session 0), so it cannot fail
 * an unrelated call of the sender that has the same session number.  A
 * multicast tells nobody: its session is a channel id nobody waits on. */
static void drop_message(struct skynet_message *msg, void *ud) {
	struct drop_t *d = ud;
	int type = (int)(msg->sz >> MESSAGE_TYPE_SHIFT);
	free_unread(msg->data, type, msg->sz & MESSAGE_TYPE_MASK);
	if (msg->source == 0 || type == PTYPE_MULTICAST)
		return;
	int session = (type == PTYPE_RESPONSE || type == PTYPE_ERROR) ? 0 : msg->session;
	skynet_send(NULL, d->handle, msg->source, PTYPE_ERROR, session, (void *)d->why, strlen(d->why));
}

/* Creates and initialises a service.  `handle_out` receives its handle,
 * read while we still hold our own reference: once the mailbox is in the
 * run queue the service may run, exit and be freed at any moment, so the
 * returned pointer is only safe to use when no worker is running yet (boot,
 * unit tests).  Concurrent callers use skynet_context_launch. */
/* "module args", capped: a label for the metrics endpoint, not a record. */
static char *context_name(const char *name, const char *param) {
	char tmp[SKYNET_CONTEXT_NAME_MAX + 1];
	snprintf(tmp, sizeof(tmp), "%s%s%s", name, param && param[0] ? " " : "", param ? param : "");
	return skynet_strdup(tmp);
}

static struct skynet_context *context_create(const char *name, const char *param, uint32_t *handle_out) {
	struct skynet_module *mod = skynet_module_query(name);
	if (mod == NULL)
		return NULL;
	void *inst = skynet_module_instance_create(mod);
	if (inst == NULL)
		return NULL;
	struct skynet_context *ctx = skynet_malloc(sizeof(*ctx));
	memset(ctx, 0, sizeof(*ctx));
	ctx->mod = mod;
	ctx->instance = inst;
	atomic_init(&ctx->ref, 2); /* the registry's and ours */
	ctx->profile = G_profile;
	ctx->name = context_name(name, param);
	ctx->handle = 0;
	ctx->handle = skynet_handle_register(ctx);
	if (ctx->handle == 0) {
		skynet_module_instance_release(mod, inst);
		skynet_free(ctx->name);
		skynet_free(ctx);
		return NULL;
	}
	uint32_t handle = ctx->handle;
	struct message_queue *queue = ctx->queue = skynet_mq_create(handle);
	atomic_fetch_add(&context_total, 1);

	uint32_t saved = current_handle;
	int r = skynet_module_instance_init(mod, inst, ctx, param);
	current_handle = saved;
	if (r == 0) {
		ctx->init = true;
		/* Logged before the service can run, so LAUNCH precedes its lines. */
		skynet_error(ctx, "LAUNCH %s %s", name, param ? param : "");
		if (handle_out)
			*handle_out = handle;
		struct skynet_context *ret = skynet_context_release(ctx);
		skynet_runq_push(queue);
		return ret;
	}
	skynet_error(ctx, "error: launch %s FAILED", name);
	skynet_context_release(ctx);
	skynet_handle_retire(handle);
	struct drop_t d;
	drop_init(&d, queue, handle);
	skynet_mq_release(queue, drop_message, &d);
	return NULL;
}

struct skynet_context *skynet_context_new(const char *name, const char *param) {
	return context_create(name, param, NULL);
}

uint32_t skynet_context_launch(const char *name, const char *param) {
	uint32_t handle = 0;
	context_create(name, param, &handle);
	return handle;
}

int skynet_context_newsession(struct skynet_context *ctx) {
	int session = ++ctx->session_id;
	if (session <= 0) {
		ctx->session_id = 1;
		return 1;
	}
	return session;
}

void skynet_context_grab(struct skynet_context *ctx) { atomic_fetch_add(&ctx->ref, 1); }

/* Keeps a context alive without counting it as a live service, so the
 * node can quit while it exists (used by the harbor service). */
void skynet_context_reserve(struct skynet_context *ctx) {
	skynet_context_grab(ctx);
	atomic_fetch_sub(&context_total, 1);
}

static void delete_context(struct skynet_context *ctx) {
	FILE *f = atomic_exchange(&ctx->logfile, NULL);
	if (f)
		fclose(f);
	skynet_module_instance_release(ctx->mod, ctx->instance);
	if (skynet_mq_mark_release(ctx->queue))
		skynet_runq_push(ctx->queue);
	skynet_free(ctx->name);
	skynet_free(ctx);
	int left = atomic_fetch_sub(&context_total, 1) - 1;
	if (left == 0)
		skynet_start_quit();
}

struct skynet_context *skynet_context_release(struct skynet_context *ctx) {
	if (atomic_fetch_sub(&ctx->ref, 1) == 1) {
		delete_context(ctx);
		return NULL;
	}
	return ctx;
}

uint32_t skynet_context_handle(struct skynet_context *ctx) { return ctx->handle; }

void skynet_context_quiet(struct skynet_context *ctx) { skynet_runq_set_quiet(ctx->queue); }
char *skynet_context_result(struct skynet_context *ctx) { return ctx->result; }
void *skynet_context_instance(struct skynet_context *ctx) { return ctx->instance; }
struct skynet_module *skynet_context_module(struct skynet_context *ctx) { return ctx->mod; }
void skynet_context_setlog(struct skynet_context *ctx, void *f) {
	FILE *old = atomic_exchange(&ctx->logfile, (FILE *)f);
	if (old)
		fclose(old);
}
void *skynet_context_getlog(struct skynet_context *ctx) { return atomic_load(&ctx->logfile); }
void *skynet_context_detachlog(struct skynet_context *ctx) { return atomic_exchange(&ctx->logfile, NULL); }

int skynet_context_push(uint32_t handle, struct skynet_message *message) {
	struct skynet_context *ctx = skynet_handle_grab(handle);
	if (ctx == NULL)
		return -1;
	mailbox_push(ctx->queue, message);
	skynet_context_release(ctx);
	return 0;
}

void skynet_context_pending(struct skynet_context *ctx, int delta) {
	atomic_fetch_add_explicit(&ctx->pending, delta, memory_order_relaxed);
}

int skynet_context_backlog(uint32_t handle) {
	struct skynet_context *ctx = skynet_handle_grab(handle);
	if (ctx == NULL)
		return -1;
	int n = skynet_mq_length(ctx->queue) + atomic_load_explicit(&ctx->pending, memory_order_relaxed);
	skynet_context_release(ctx);
	return n;
}

void skynet_context_observe(int type, skynet_dispatch_observer fn) {
	observers[type & 0xff] = fn;
}

void skynet_context_endless(uint32_t handle) {
	struct skynet_context *ctx = skynet_handle_grab(handle);
	if (ctx == NULL)
		return;
	atomic_store(&ctx->endless, true);
	skynet_context_release(ctx);
}

void skynet_context_stat(struct skynet_context *ctx, struct skynet_context_stat *st, bool clear_endless) {
	st->mqlen = skynet_mq_length(ctx->queue);
	st->message_count = atomic_load_explicit(&ctx->message_count, memory_order_relaxed);
	st->tasks = atomic_load_explicit(&ctx->tasks, memory_order_relaxed);
	st->cpu_cost_us = atomic_load_explicit(&ctx->cpu_cost, memory_order_relaxed);
	st->cpu_start_us = atomic_load_explicit(&ctx->cpu_start, memory_order_relaxed);
	st->profile = ctx->profile;
	st->endless = clear_endless ? atomic_exchange(&ctx->endless, false) : atomic_load(&ctx->endless);
}

void skynet_context_set_tasks(struct skynet_context *ctx, int n) {
	atomic_store_explicit(&ctx->tasks, n, memory_order_relaxed);
}

void skynet_context_set_message_count(struct skynet_context *ctx, uint64_t n) {
	atomic_store_explicit(&ctx->message_count, n, memory_order_relaxed);
}

const char *skynet_context_name(struct skynet_context *ctx) { return ctx->name; }

size_t skynet_context_memory(struct skynet_context *ctx) {
	return skynet_module_instance_memory(ctx->mod, ctx->instance);
}

int skynet_isremote(struct skynet_context *ctx, uint32_t handle, int *harbor) {
	(void)ctx;
	int ret = skynet_harbor_message_isremote(handle);
	if (harbor)
		*harbor = (int)(handle >> HANDLE_REMOTE_SHIFT);
	return ret;
}

/* CPU accounting uses the monotonic clock around each callback: a vDSO read
 * costs ~20 ns where the thread CPU clock is a ~300 ns syscall.  Callbacks
 * must not block, so wall time inside one is CPU time. */
static void dispatch_message(struct skynet_context *ctx, struct skynet_message *msg) {
	current_handle = ctx->handle;
	int type = (int)(msg->sz >> MESSAGE_TYPE_SHIFT);
	size_t sz = msg->sz & MESSAGE_TYPE_MASK;
	FILE *f = atomic_load_explicit(&ctx->logfile, memory_order_relaxed);
	if (f)
		skynet_log_output(f, msg->source, type, msg->session, msg->data, sz);
	atomic_store_explicit(&ctx->message_count,
	                      atomic_load_explicit(&ctx->message_count, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	skynet_metrics_dispatched(type);
	skynet_dispatch_observer observer = observers[type & 0xff];
	char head[SKYNET_OBSERVE_HEAD];
	size_t observed = 0; /* size given to the observer: 0 when there is no payload */
	if (observer && msg->data) {
		observed = sz;
		memcpy(head, msg->data, sz < sizeof(head) ? sz : sizeof(head));
	}
	int reserve_msg;
	if (ctx->cb == NULL) {
		free_unread(msg->data, type, sz);
		return;
	} else if (ctx->profile) {
		uint64_t start = skynet_hpc() / 1000;
		atomic_store_explicit(&ctx->cpu_start, start, memory_order_relaxed);
		reserve_msg = ctx->cb(ctx, ctx->cb_ud, type, msg->session, msg->source, msg->data, sz);
		uint64_t cost = skynet_hpc() / 1000 - start;
		atomic_store_explicit(&ctx->cpu_cost, atomic_load_explicit(&ctx->cpu_cost, memory_order_relaxed) + cost,
		                      memory_order_relaxed);
		atomic_store_explicit(&ctx->cpu_start, 0, memory_order_relaxed);
		skynet_metrics_busy(cost);
	} else {
		reserve_msg = ctx->cb(ctx, ctx->cb_ud, type, msg->session, msg->source, msg->data, sz);
	}
	if (!reserve_msg)
		skynet_free(msg->data);
	if (observer)
		observer(msg->source, head, observed);
}

void skynet_context_dispatchall(struct skynet_context *ctx) {
	struct skynet_message msg;
	while (!skynet_mq_pop(ctx->queue, &msg))
		dispatch_message(ctx, &msg);
}

/* The last step of skynet.abort(): every service but the logger is gone, so
 * the logger is retired once its mailbox is empty; nothing queued is lost. */
static void abort_finish(void) {
	uint32_t logger = logger_handle;
	if (!logger) {
		skynet_handle_retireall();
		return;
	}
	struct skynet_context *ctx = skynet_handle_grab(logger);
	if (ctx == NULL)
		return;
	int len = skynet_mq_length(ctx->queue);
	skynet_context_release(ctx);
	if (len == 0)
		skynet_handle_retire(logger);
}

void skynet_node_abort(int status) {
	if (status != 0)
		atomic_store(&exit_status, status);
	atomic_store(&aborting, true);
	skynet_handle_retireall_except(logger_handle);
	if (skynet_handle_count() <= 1)
		abort_finish();
}

/* Written once by skynet_start before the workers run. */
static atomic_uint bootstrap_handle;

void skynet_context_mark_bootstrap(struct skynet_context *ctx) {
	atomic_store(&bootstrap_handle, skynet_context_handle(ctx));
}

bool skynet_context_is_bootstrap(struct skynet_context *ctx) {
	uint32_t h = atomic_load(&bootstrap_handle);
	return h != 0 && h == skynet_context_handle(ctx);
}

bool skynet_node_quitting(void) { return atomic_load(&aborting); }
int skynet_node_exit_status(void) { return atomic_load(&exit_status); }

void skynet_context_check_abort(void) {
	if (atomic_load(&aborting) && skynet_handle_count() <= 1)
		abort_finish();
}

struct message_queue *skynet_context_message_dispatch(struct skynet_monitor *sm, struct message_queue *q,
                                                      int weight) {
	if (q == NULL) {
		q = skynet_runq_pop();
		if (q == NULL)
			return NULL;
	}
	uint32_t handle = skynet_mq_handle(q);
	struct skynet_context *ctx = skynet_handle_grab(handle);
	if (ctx == NULL) {
		struct drop_t d;
		drop_init(&d, q, handle);
		skynet_mq_release(q, drop_message, &d);
		return skynet_runq_pop();
	}
	int n = 1;
	struct skynet_message msg;
	skynet_runq_set_current(q);
	for (int i = 0; i < n; i++) {
		if (skynet_mq_pop(q, &msg)) {
			skynet_runq_set_backlog(0);
			skynet_runq_set_current(NULL);
			skynet_context_release(ctx);
			return skynet_runq_pop();
		} else if (i == 0 && weight >= 0) {
			n = skynet_mq_length(q) >> weight;
			if (n < 1)
				n = 1;
		}
		int overload = skynet_mq_overload(q);
		if (overload)
			skynet_error(ctx, "error: May overload, message queue length = %d", overload);
		skynet_monitor_trigger(sm, msg.source, handle);
		skynet_runq_set_backlog(n - i - 1);
		dispatch_message(ctx, &msg);
		skynet_monitor_trigger(sm, 0, 0);
	}
	skynet_runq_set_backlog(0);
	skynet_runq_set_current(NULL);
	struct message_queue *nq = skynet_runq_pop();
	if (nq) {
		/* Others are waiting: requeue at the back for fairness. */
		skynet_runq_push(q);
		q = nq;
	}
	skynet_context_release(ctx);
	return q;
}

static void copy_name(char name[GLOBALNAME_LENGTH], const char *addr) {
	int i;
	for (i = 0; i < GLOBALNAME_LENGTH && addr[i]; i++)
		name[i] = addr[i];
	for (; i < GLOBALNAME_LENGTH; i++)
		name[i] = '\0';
}

uint32_t skynet_queryname(struct skynet_context *context, const char *name) {
	switch (name[0]) {
	case ':':
		return (uint32_t)strtoul(name + 1, NULL, 16);
	case '.':
		return skynet_handle_findname(name + 1);
	}
	skynet_error(context, "error: Don't support query global name %s", name);
	return 0;
}

/* Applies the PTYPE_TAG_* flags: allocate a session, copy the payload. */
static void filter_args(struct skynet_context *ctx, int type, int *session, void **data, size_t *sz) {
	int needcopy = !(type & PTYPE_TAG_DONTCOPY);
	int allocsession = type & PTYPE_TAG_ALLOCSESSION;
	type &= 0xff;
	if (allocsession)
		*session = skynet_context_newsession(ctx);
	if (needcopy && *data) {
		char *msg = skynet_malloc(*sz + 1);
		memcpy(msg, *data, *sz);
		msg[*sz] = '\0';
		*data = msg;
	}
	*sz |= (size_t)type << MESSAGE_TYPE_SHIFT;
}

int skynet_send(struct skynet_context *context, uint32_t source, uint32_t destination, int type, int session,
                void *data, size_t sz) {
	if ((sz & MESSAGE_TYPE_MASK) != sz) {
		skynet_error(context, "error: The message to %x is too large", destination);
		if (type & PTYPE_TAG_DONTCOPY)
			skynet_free(data);
		return SKYNET_SEND_TOO_LARGE;
	}
	if (context == NULL && (type & PTYPE_TAG_ALLOCSESSION)) {
		if (type & PTYPE_TAG_DONTCOPY)
			skynet_free(data);
		return SKYNET_SEND_NO_DEST;
	}
	filter_args(context, type, &session, &data, &sz);
	skynet_metrics_sent(type & 0xff);
	if (source == 0)
		source = context ? context->handle : 0;
	if (destination == 0) {
		if (data) {
			skynet_error(context, "error: Destination address can't be 0");
			skynet_free(data);
			return SKYNET_SEND_NO_DEST;
		}
		return session;
	}
	if (skynet_harbor_message_isremote(destination)) {
		struct remote_message *rmsg = skynet_malloc(sizeof(*rmsg));
		rmsg->destination.handle = destination;
		rmsg->message = data;
		rmsg->sz = sz & MESSAGE_TYPE_MASK;
		rmsg->type = (int)(sz >> MESSAGE_TYPE_SHIFT);
		skynet_harbor_send(rmsg, source, session);
	} else {
		struct skynet_message smsg = {source, session, data, sz};
		if (skynet_context_push(destination, &smsg)) {
			skynet_free(data);
			return SKYNET_SEND_NO_DEST;
		}
	}
	return session;
}

int skynet_sendname(struct skynet_context *context, uint32_t source, const char *addr, int type, int session,
                    void *data, size_t sz) {
	if (source == 0)
		source = context ? context->handle : 0;
	uint32_t des = 0;
	if (addr[0] == ':') {
		des = (uint32_t)strtoul(addr + 1, NULL, 16);
	} else if (addr[0] == '.') {
		des = skynet_handle_findname(addr + 1);
		if (des == 0) {
			if (type & PTYPE_TAG_DONTCOPY)
				skynet_free(data);
			return SKYNET_SEND_NO_DEST;
		}
	} else {
		if ((sz & MESSAGE_TYPE_MASK) != sz) {
			skynet_error(context, "error: The message to %s is too large", addr);
			if (type & PTYPE_TAG_DONTCOPY)
				skynet_free(data);
			return SKYNET_SEND_TOO_LARGE;
		}
		filter_args(context, type, &session, &data, &sz);
		skynet_metrics_sent(type & 0xff);
		struct remote_message *rmsg = skynet_malloc(sizeof(*rmsg));
		copy_name(rmsg->destination.name, addr);
		rmsg->destination.handle = 0;
		rmsg->message = data;
		rmsg->sz = sz & MESSAGE_TYPE_MASK;
		rmsg->type = (int)(sz >> MESSAGE_TYPE_SHIFT);
		skynet_harbor_send(rmsg, source, session);
		return session;
	}
	return skynet_send(context, source, des, type, session, data, sz);
}

void skynet_callback(struct skynet_context *context, void *ud, skynet_cb cb) {
	context->cb = cb;
	context->cb_ud = ud;
}

void skynet_context_send(struct skynet_context *ctx, void *msg, size_t sz, uint32_t source, int type,
                         int session) {
	struct skynet_message smsg = {source, session, msg, sz | (size_t)type << MESSAGE_TYPE_SHIFT};
	mailbox_push(ctx->queue, &smsg);
}

uint64_t skynet_now(void) { return skynet_timer_now(); }

void skynet_debug_memory(const char *info) {
	fprintf(stderr, "[:%08x] %s: C memory accounting is not enabled in this build\n",
	        skynet_current_handle(), info ? info : "");
}

char *skynet_strdup(const char *str) {
	size_t sz = strlen(str);
	char *r = skynet_malloc(sz + 1);
	memcpy(r, str, sz + 1);
	return r;
}
