/*
 * test_sched.c -- the scheduler end to end in C: worker threads run
 * skynet_context_message_dispatch over real contexts whose callbacks bounce
 * messages.  Checks delivery counts, per-pair ordering, that a service never
 * runs on two threads at once, and that messages left in a retired service's
 * mailbox come back to their senders as PTYPE_ERROR.  Run under TSan by CI.
 */
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_harbor.h"
#include "skynet_module.h"
#include "skynet_monitor.h"
#include "skynet_mq.h"
#include "skynet_server.h"
#include "skynet_timer.h"
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define PAIRS 8
#define BOUNCES 20000
#define WORKERS 4

struct player {
	uint32_t self;
	uint32_t peer;
	atomic_int inside; /* >1 would mean two threads in one service */
	atomic_int overlap;
	int received;
	int next_expected;
	int out_of_order;
	atomic_int errors;
};

static struct player players[PAIRS * 2];
static atomic_int finished_pairs;
static atomic_bool stop;

static int player_cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source,
                     const void *msg, size_t sz) {
	(void)source;
	(void)msg;
	(void)sz;
	struct player *p = ud;
	if (atomic_fetch_add(&p->inside, 1) != 0)
		atomic_store(&p->overlap, 1);
	if (type == PTYPE_ERROR) {
		atomic_fetch_add(&p->errors, 1);
	} else {
		p->received++;
		if (session != p->next_expected)
			p->out_of_order = 1;
		p->next_expected = session + 2; /* the peer answers with +1 */
		if (session < BOUNCES)
			skynet_send(ctx, 0, p->peer, PTYPE_TEXT, session + 1, NULL, 0);
		else
			atomic_fetch_add(&finished_pairs, 1);
	}
	atomic_fetch_sub(&p->inside, 1);
	return 0;
}

static void *worker(void *arg) {
	struct skynet_monitor *m = arg;
	skynet_mq_set_worker_thread(1);
	struct message_queue *q = NULL;
	while (!atomic_load(&stop)) {
		q = skynet_context_message_dispatch(m, q, -1);
		if (q == NULL)
			usleep(100);
	}
	return NULL;
}

int main(void) {
	skynet_globalinit();
	skynet_harbor_init(0);
	skynet_handle_init(0);
	skynet_globalmq_init();
	skynet_timer_init();
	if (skynet_module_init("./cservice/?.so") != 0)
		return 1;
	struct skynet_context *logger = skynet_context_new("logger", "/dev/null");
	skynet_handle_namehandle(skynet_context_handle(logger), "logger");
	struct skynet_context *ctx[PAIRS * 2];
	for (int i = 0; i < PAIRS * 2; i++) {
		ctx[i] = skynet_context_new("logger", "/dev/null");
		skynet_callback(ctx[i], &players[i], player_cb);
		players[i].self = skynet_context_handle(ctx[i]);
	}
	for (int i = 0; i < PAIRS; i++) {
		players[2 * i].peer = players[2 * i + 1].self;
		players[2 * i + 1].peer = players[2 * i].self;
		players[2 * i + 1].next_expected = 1;
		players[2 * i].next_expected = 2;
	}
	pthread_t th[WORKERS];
	struct skynet_monitor *mon[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		mon[i] = skynet_monitor_new();
		pthread_create(&th[i], NULL, worker, mon[i]);
	}
	for (int i = 0; i < PAIRS; i++)
		skynet_send(NULL, players[2 * i].self, players[2 * i + 1].self, PTYPE_TEXT, 1, NULL, 0);
	for (int i = 0; i < 3000 && atomic_load(&finished_pairs) < PAIRS; i++)
		usleep(10000);
	CHECK(atomic_load(&finished_pairs) == PAIRS, "8 pairs each bounce 20,000 messages to the end");
	int total = 0, order_ok = 1, overlap = 0;
	for (int i = 0; i < PAIRS * 2; i++) {
		total += players[i].received;
		order_ok &= !players[i].out_of_order;
		overlap |= atomic_load(&players[i].overlap);
	}
	CHECK(total == PAIRS * BOUNCES, "every bounced message was delivered exactly once");
	CHECK(order_ok, "messages between two services arrive in sending order");
	CHECK(!overlap, "no service ever ran on two workers at once");

	/* Queue messages to a service, retire it: senders get PTYPE_ERROR. */
	struct player *victim = &players[0], *sender = &players[1];
	atomic_store(&stop, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 5; i++)
		skynet_send(NULL, sender->self, victim->self, PTYPE_TEXT, 100 + i, NULL, 0);
	skynet_handle_retire(victim->self);
	struct message_queue *q = NULL;
	do {
		q = skynet_context_message_dispatch(mon[0], q, 0);
	} while (q != NULL);
	CHECK(atomic_load(&sender->errors) == 5, "5 messages stranded in a retired mailbox bounce as errors");
	CHECK(skynet_send(NULL, sender->self, victim->self, PTYPE_TEXT, 1, NULL, 0) == -1,
	      "sending to the retired service fails at once");
	for (int i = 0; i < WORKERS; i++)
		skynet_monitor_delete(mon[i]);
	UNIT_EXIT();
}
