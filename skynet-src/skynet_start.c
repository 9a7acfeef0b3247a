/*
 * skynet_start.c -- brings a node up and down.
 *
 * Threads: `thread` workers, one timer thread, one monitor thread and the
 * socket thread (an idle worker may stand in for it while traffic flows:
 * skynet_poller.c).  Nothing else.  Workers sleep on the run queue's
 * condition variable; the timer thread sleeps until the next centisecond
 * boundary; the monitor sleeps 5 s between checks.  Every sleep is a
 * condition wait, so when the last service is gone
 * (skynet_start_quit) the whole process exits within milliseconds.
 */
#include "skynet_start.h"
#include "skynet.h"
#include "skynet_daemon.h"
#include "skynet_handle.h"
#include "skynet_harbor.h"
#include "skynet_module.h"
#include "skynet_monitor.h"
#include "skynet_mq.h"
#include "skynet_poller.h"
#include "skynet_runq.h"
#include "skynet_server.h"
#include "skynet_socket.h"
#include "skynet_timer.h"
#include "skynet_tunables.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MONITOR_INTERVAL_S 5

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on skynet_hpc()'s clock; the timer and monitor wait here */
	bool quit;
} S = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};

static volatile sig_atomic_t SIG_HUP;

static void handle_hup(int signal) {
	if (signal == SIGHUP)
		SIG_HUP = 1;
}

void skynet_start_quit(void) {
	pthread_mutex_lock(&S.lock);
	S.quit = true;
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.lock);
	skynet_runq_quit();
	skynet_socket_exit();
}

/* Waits until `ns` from now or quit; returns true when quitting. */
static bool sleep_or_quit(uint64_t ns) {
	struct timespec ts = skynet_hpc_deadline(ns);
	pthread_mutex_lock(&S.lock);
	while (!S.quit) {
		if (pthread_cond_timedwait(&S.cond, &S.lock, &ts) != 0)
			break;
	}
	bool quit = S.quit;
	pthread_mutex_unlock(&S.lock);
	return quit;
}

/* SIGHUP: the logger reopens its file (PTYPE_SYSTEM, source 0, no data). */
static void signal_hup(void) {
	uint32_t logger = skynet_handle_findname("logger");
	if (logger) {
		struct skynet_message msg = {0, 0, NULL, (size_t)PTYPE_SYSTEM << MESSAGE_TYPE_SHIFT};
		skynet_context_push(logger, &msg);
	}
}

/* While some workers sleep and others run, work can be stranded behind a
 * busy worker (skynet_runq.c wakes no sleeper for up to RUNQ_WAKE_THRESHOLD
 * ready mailboxes): the timer thread then looks every STRANDED_CHECK_NS
 * instead of every tick and wakes a sleeper if nothing was taken from the
 * run queue meanwhile, which bounds that wait to about two checks. */

static void *thread_timer(void *p) {
	int workers = *(const int *)p;
	skynet_initthread(THREAD_TIMER);
	for (;;) {
		uint64_t wait_ns = skynet_timer_update();
		if (SIG_HUP) {
			SIG_HUP = 0;
			signal_hup();
		}
		/* Work stranded behind a busy worker gets a sleeper's attention. */
		skynet_runq_wake_stranded();
		int sleepers = skynet_runq_sleepers();
		if (sleepers > 0 && sleepers < workers && wait_ns > STRANDED_CHECK_NS)
			wait_ns = STRANDED_CHECK_NS;
		if (sleep_or_quit(wait_ns))
			break;
	}
	return NULL;
}

struct monitor_set {
	int count;
	struct skynet_monitor **m;
};

static void *thread_monitor(void *p) {
	struct monitor_set *ms = p;
	skynet_initthread(THREAD_MONITOR);
	while (!sleep_or_quit((uint64_t)MONITOR_INTERVAL_S * 1000000000ULL)) {
		for (int i = 0; i < ms->count; i++)
			skynet_monitor_check(ms->m[i]);
	}
	return NULL;
}

static void *thread_socket(void *p) {
	(void)p;
	skynet_initthread(THREAD_SOCKET);
	skynet_poller_socket_thread();
	return NULL;
}

struct worker_parm {
	struct skynet_monitor *monitor;
	int weight;
};

static void *thread_worker(void *p) {
	struct worker_parm *wp = p;
	skynet_initthread(THREAD_WORKER);
	skynet_runq_set_worker(1);
	struct message_queue *q = NULL;
	for (;;) {
		q = skynet_context_message_dispatch(wp->monitor, q, wp->weight);
		skynet_poller_between();
		if (q == NULL) {
			skynet_context_check_abort();
			q = skynet_runq_wait();
			if (q == NULL)
				break;
		}
	}
	return NULL;
}

/* A worker runs `queued >> weight` messages of a mailbox per turn
 * (WORKER_WEIGHTS).  Upstream gives workers 0-3 weight -1 (one message per
 * turn); ours start at 0: the first eight workers drain what is queued
 * before touching the shared run queue again (fewer lock round trips;
 * fairness still comes from requeueing at the back), workers 8-15 take
 * half, 16-23 a quarter, 24-31 an eighth, any further worker all of it.
 * 8 pairs bouncing sends: ~0.9M -> ~1.2M msg/s. */
static int worker_weight(int i) {
	static const int weight[] = WORKER_WEIGHTS;
	return i < (int)(sizeof(weight) / sizeof(weight[0])) ? weight[i] : 0;
}

static void run_threads(int thread) {
	pthread_t timer, monitor, socket;
	pthread_t *workers = skynet_malloc(sizeof(pthread_t) * thread);
	struct worker_parm *wp = skynet_malloc(sizeof(*wp) * thread);
	struct monitor_set ms = {thread, skynet_malloc(sizeof(struct skynet_monitor *) * thread)};
	for (int i = 0; i < thread; i++)
		ms.m[i] = skynet_monitor_new();
	pthread_create(&timer, NULL, thread_timer, &thread);
	pthread_create(&monitor, NULL, thread_monitor, &ms);
	pthread_create(&socket, NULL, thread_socket, NULL);
	for (int i = 0; i < thread; i++) {
		wp[i].monitor = ms.m[i];
		wp[i].weight = worker_weight(i);
		pthread_create(&workers[i], NULL, thread_worker, &wp[i]);
	}
	for (int i = 0; i < thread; i++)
		pthread_join(workers[i], NULL);
	pthread_join(timer, NULL);
	pthread_join(monitor, NULL);
	pthread_join(socket, NULL);
	for (int i = 0; i < thread; i++)
		skynet_monitor_delete(ms.m[i]);
	skynet_free(ms.m);
	skynet_free(wp);
	skynet_free(workers);
}

/* Launches `<module> <args>` from the bootstrap config line; on failure the
 * logger is drained by hand so the reason reaches the log, and we exit 1. */
static int bootstrap(struct skynet_context *logger, const char *cmdline) {
	size_t sz = strlen(cmdline);
	char name[sz + 1];
	char args[sz + 1];
	name[0] = args[0] = '\0';
	int n = sscanf(cmdline, "%s %[^\n]", name, args);
	struct skynet_context *ctx = n < 1 ? NULL : skynet_context_new(name, n > 1 ? args : NULL);
	if (ctx == NULL) {
		skynet_error(NULL, "Bootstrap error : %s", cmdline);
		skynet_context_dispatchall(logger);
		return 1;
	}
	skynet_context_mark_bootstrap(ctx);
	return 0;
}

int skynet_start(struct skynet_config *config) {
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_hup;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);

	if (config->daemon && skynet_daemon_init(config->daemon))
		return 1;

	pthread_cond_destroy(&S.cond);
	skynet_hpc_cond_init(&S.cond);

	skynet_harbor_init(config->harbor);
	skynet_handle_init(config->harbor);
	skynet_runq_init();
	if (skynet_module_init(config->module_path))
		return 1;
	skynet_timer_init();
	skynet_socket_init();
	skynet_poller_init();
	skynet_runq_set_idle_poller(skynet_poller_idle, skynet_poller_park);
	skynet_set_profile(config->profile);

	struct skynet_context *ctx = skynet_context_new(config->logservice, config->logger);
	if (ctx == NULL) {
		fprintf(stderr, "Can't launch %s service\n", config->logservice);
		return 1;
	}
	skynet_handle_namehandle(skynet_context_handle(ctx), "logger");
	skynet_context_quiet(ctx);
	skynet_set_logger_handle(skynet_context_handle(ctx));

	if (bootstrap(ctx, config->bootstrap))
		return 1;

	run_threads(config->thread);

	skynet_harbor_exit();
	skynet_socket_free();
	skynet_timer_exit();
	skynet_handle_exit();
	if (config->daemon)
		skynet_daemon_exit(config->daemon);
	return skynet_node_exit_status();
}
