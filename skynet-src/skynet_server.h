/*
 * skynet_server.h -- service contexts: creation, reference counting,
 * message delivery and the per-worker dispatch step.
 */
#ifndef SKYNET_SERVER_H
#define SKYNET_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct skynet_context;
struct skynet_message;
struct skynet_monitor;
struct message_queue;

void skynet_globalinit(void);
void skynet_initthread(int m);

/* Only safe before workers run (boot, tests): see skynet_server.c. */
struct skynet_context *skynet_context_new(const char *name, const char *parm);
/* Launches a service; returns its handle, 0 on failure.  Safe anywhere. */
uint32_t skynet_context_launch(const char *name, const char *parm);
void skynet_context_grab(struct skynet_context *);
void skynet_context_reserve(struct skynet_context *ctx);
struct skynet_context *skynet_context_release(struct skynet_context *);
uint32_t skynet_context_handle(struct skynet_context *);
/* Its mailbox wakes no sleeping worker (the logger's; see skynet_runq.c). */
void skynet_context_quiet(struct skynet_context *);
int skynet_context_push(uint32_t handle, struct skynet_message *message);
void skynet_context_send(struct skynet_context *context, void *msg, size_t sz, uint32_t source,
                         int type, int session);
int skynet_context_newsession(struct skynet_context *);

/* Backpressure (skynet_socket.c stops reading a connection whose frames go
 * to a service with too long a backlog).  A service publishes how many
 * requests it took from its mailbox and has not finished (snlua: its live
 * coroutines, which a mailbox length alone does not see); the backlog of
 * a service is that count plus its mailbox length, -1 if it is gone. */
void skynet_context_pending(struct skynet_context *ctx, int delta);
int skynet_context_backlog(uint32_t handle);

/* Calls fn after each message of `type` was dispatched, with a copy of its
 * first SKYNET_OBSERVE_HEAD bytes (the callback may have freed the message)
 * and its size.  One observer per type, set before the workers start
 * (skynet_socket.c counts the socket data a service has taken). */
#define SKYNET_OBSERVE_HEAD 16
typedef void (*skynet_dispatch_observer)(uint32_t source, const void *head, size_t sz);
void skynet_context_observe(int type, skynet_dispatch_observer fn);
/* Runs one batch of q's messages; returns the mailbox to work on next. */
struct message_queue *skynet_context_message_dispatch(struct skynet_monitor *, struct message_queue *,
                                                      int weight);
void skynet_context_dispatchall(struct skynet_context *context);
void skynet_context_endless(uint32_t handle);
/* During skynet.abort(): retire the logger once it is the last service
 * and its mailbox is empty. */
void skynet_context_check_abort(void);

/* Why a service's handle was retired.  Whoever waits on it is told with
 * this text (skynet_exit_text): the requests left in its mailbox by the
 * core, the requests its suspended handlers had taken by snlua's release. */
#define SKYNET_EXIT_NONE 0   /* retired for another reason (shutdown) */
#define SKYNET_EXIT_KILLED 1 /* KILL from another service (skynet.kill) */
#define SKYNET_EXIT_EXITED 2 /* EXIT: the service ended itself (skynet.exit) */
const char *skynet_exit_text(int reason);
/* Records the reason on the context and its mailbox; call before the retire.
 * The first reason recorded stays. */
void skynet_context_set_exit(struct skynet_context *ctx, int reason);
int skynet_context_exit_reason(struct skynet_context *ctx);

/* Internal accessors used by skynet_command.c. */
struct skynet_context_stat {
	int mqlen;
	int tasks; /* coroutines waiting on a session (Lua services; 0 for C ones) */
	uint64_t message_count;
	uint64_t cpu_cost_us;
	uint64_t cpu_start_us;
	bool endless;
	bool profile;
};
void skynet_context_stat(struct skynet_context *ctx, struct skynet_context_stat *st, bool clear_endless);
/* The service's own scheduler publishes how many of its coroutines wait on
 * a session (debug STAT's `task`), so that the metrics endpoint reads it
 * without a message.  Only the thread running the service calls it. */
void skynet_context_set_tasks(struct skynet_context *ctx, int n);
/* For unit tests: seeds the message counter (to cross 2^32 in a few
 * messages).  Only while no worker runs the service. */
void skynet_context_set_message_count(struct skynet_context *ctx, uint64_t n);
char *skynet_context_result(struct skynet_context *ctx); /* 64-byte scratch */
/* "module args" as launched, cut at SKYNET_CONTEXT_NAME_MAX bytes. */
#define SKYNET_CONTEXT_NAME_MAX 63
const char *skynet_context_name(struct skynet_context *ctx);
/* Bytes the service's module says it holds (snlua: its Lua heap), or 0.
 * Any thread, while holding a reference. */
size_t skynet_context_memory(struct skynet_context *ctx);
void *skynet_context_instance(struct skynet_context *ctx);
struct skynet_module *skynet_context_module(struct skynet_context *ctx);
void skynet_context_setlog(struct skynet_context *ctx, void *logfile);
void *skynet_context_getlog(struct skynet_context *ctx);
/* Takes the message log away from ctx (NULL if none); the caller closes it. */
void *skynet_context_detachlog(struct skynet_context *ctx);

/* The service launched from the config's `bootstrap` line (skynet_start). */
void skynet_context_mark_bootstrap(struct skynet_context *ctx);
bool skynet_context_is_bootstrap(struct skynet_context *ctx);

/* Shutdown: set once every service is gone. */
bool skynet_node_quitting(void);
/* Retires every service; the process then exits with `status`. */
void skynet_node_abort(int status);
int skynet_node_exit_status(void);
void skynet_set_profile(bool on);
uint32_t skynet_logger_handle(void);
void skynet_set_logger_handle(uint32_t);
uint32_t skynet_monitor_exit_handle(void);
void skynet_set_monitor_exit(uint32_t);

#endif
