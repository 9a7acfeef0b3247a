/*
 * test_sched.c -- the scheduler in C, through the production functions.
 *
 * First the run queue's wake/park policy (skynet_runq.c) on its own: real
 * threads asleep in skynet_runq_wait, real pushes, and the count of signals
 * sent (skynet_runq_signals) to see a wake-up the policy decided against.
 * Then end to end: worker threads run the loop of skynet_start.c
 * (skynet_context_message_dispatch, then skynet_runq_wait when idle) over
 * real contexts whose callbacks bounce messages.  Checks delivery counts,
 * per-pair ordering, that a service never runs on two threads at once, that
 * quitting wakes and ends every idle worker, and that messages left in a
 * retired service's mailbox come back to their senders as PTYPE_ERROR.
 * Run under TSan by CI.  Nothing depends on the machine being fast: every
 * wait is for a condition, bounded by WAIT_LIMIT_MS.
 */
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_harbor.h"
#include "skynet_module.h"
#include "skynet_monitor.h"
#include "skynet_mq.h"
#include "skynet_runq.h"
#include "skynet_server.h"
#include "skynet_timer.h"
#include "skynet_tunables.h"
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_LIMIT_MS 20000

/* Polls cond() every millisecond until true or WAIT_LIMIT_MS passed. */
static bool wait_until(bool (*cond)(void *), void *arg) {
	for (int ms = 0; ms < WAIT_LIMIT_MS; ms++) {
		if (cond(arg))
			return true;
		usleep(1000);
	}
	return cond(arg);
}

/* ---- The wake/park policy ------------------------------------------- */

/* An idle worker: one skynet_runq_wait, then it reports what it got. */
struct sleeper {
	pthread_t th;
	struct message_queue *got;
	atomic_bool done;
};

static void *sleeper_main(void *p) {
	struct sleeper *s = p;
	skynet_runq_set_worker(1);
	s->got = skynet_runq_wait();
	atomic_store(&s->done, true);
	return NULL;
}

static bool sleepers_are(void *n) { return skynet_runq_sleepers() == *(int *)n; }
static bool sleeper_done(void *s) { return atomic_load(&((struct sleeper *)s)->done); }

/* Starts n sleepers and returns once all n are asleep (past any polling). */
static void start_sleepers(struct sleeper *s, int n) {
	for (int i = 0; i < n; i++) {
		s[i].got = NULL;
		atomic_store(&s[i].done, false);
		pthread_create(&s[i].th, NULL, sleeper_main, &s[i]);
	}
	wait_until(sleepers_are, &n);
}

/* Waits for the sleeper to return; false if it did not within the limit
 * (it is then left running: the test fails anyway). */
static bool sleeper_returns(struct sleeper *s) {
	if (!wait_until(sleeper_done, s))
		return false;
	pthread_join(s->th, NULL);
	return true;
}

/* The pushes below come from the main thread, playing either a non-worker
 * thread (timer, socket) or a worker, as skynet_runq_set_worker says. */
static void test_policy(void) {
	struct message_queue *a = skynet_mq_create(101), *b = skynet_mq_create(102);
	struct message_queue *c = skynet_mq_create(103), *quiet = skynet_mq_create(105);
	skynet_runq_set_quiet(quiet);
	struct sleeper s[1];

	/* A push from outside the workers always wakes a sleeper. */
	start_sleepers(s, 1);
	CHECK(skynet_runq_sleepers() == 1, "policy: an idle worker parks in skynet_runq_wait");
	unsigned sig = skynet_runq_signals();
	skynet_runq_push(a);
	CHECK(skynet_runq_signals() == sig + 1, "policy: a push from a non-worker thread signals a sleeper");
	CHECK(sleeper_returns(&s[0]) && s[0].got == a, "policy: the woken sleeper returns the pushed mailbox");

	/* A worker's push with up to RUNQ_WAKE_THRESHOLD mailboxes waiting
	 * wakes nobody (the worker takes them itself); one more wakes one. */
	skynet_runq_set_worker(1);
	start_sleepers(s, 1);
	sig = skynet_runq_signals();
	skynet_runq_push(a);
	skynet_runq_push(b);
	_Static_assert(RUNQ_WAKE_THRESHOLD == 2, "the pushes below assume a threshold of 2");
	CHECK(skynet_runq_signals() == sig && skynet_runq_sleepers() == 1 && !atomic_load(&s[0].done),
	      "policy: a worker's push with 2 mailboxes ready wakes nobody");
	skynet_runq_push(c);
	CHECK(skynet_runq_signals() == sig + 1, "policy: a worker's push with 3 mailboxes ready wakes a sleeper");
	CHECK(sleeper_returns(&s[0]) && s[0].got == a, "policy: the woken sleeper takes the oldest mailbox");
	CHECK(skynet_runq_pop() == b && skynet_runq_pop() == c && skynet_runq_pop() == NULL,
	      "policy: the run queue is first in, first out");

	/* A worker with a backlog will not get to the mailbox soon: it wakes
	 * a sleeper even for one. */
	start_sleepers(s, 1);
	sig = skynet_runq_signals();
	skynet_runq_set_backlog(1);
	skynet_runq_push(a);
	skynet_runq_set_backlog(0);
	CHECK(skynet_runq_signals() == sig + 1, "policy: a worker with a backlog wakes a sleeper for one mailbox");
	CHECK(sleeper_returns(&s[0]) && s[0].got == a, "policy: the sleeper a backlogged worker woke takes the mailbox");

	/* So does a worker whose current mailbox got new messages meanwhile. */
	struct message_queue *cur = skynet_mq_create(106);
	struct skynet_message msg = {1, 1, NULL, 0};
	skynet_mq_push(cur, &msg); /* a new mailbox counts as linked: not queued */
	start_sleepers(s, 1);
	sig = skynet_runq_signals();
	skynet_runq_set_current(cur);
	skynet_runq_push(a);
	skynet_runq_set_current(NULL);
	CHECK(skynet_runq_signals() == sig + 1,
	      "policy: a worker whose own mailbox filled up meanwhile wakes a sleeper for one");
	CHECK(sleeper_returns(&s[0]) && s[0].got == a, "policy: the sleeper woken for a filled-up mailbox takes the new one");
	skynet_mq_pop(cur, &msg);

	/* A quiet mailbox (the logger's) wakes nobody when a worker readies it,
	 * even with a backlog, and does not count toward the threshold. */
	start_sleepers(s, 1);
	sig = skynet_runq_signals();
	skynet_runq_set_backlog(5);
	skynet_runq_push(quiet);
	skynet_runq_set_backlog(0);
	CHECK(skynet_runq_signals() == sig, "policy: a quiet mailbox pushed by a busy worker wakes nobody");
	skynet_runq_push(a);
	skynet_runq_push(b);
	CHECK(skynet_runq_signals() == sig && skynet_runq_sleepers() == 1,
	      "policy: a quiet mailbox does not count toward the wake threshold");
	skynet_runq_push(c);
	CHECK(skynet_runq_signals() == sig + 1 && sleeper_returns(&s[0]) && s[0].got == quiet,
	      "policy: the third ordinary mailbox wakes a sleeper");

	/* Work stranded behind busy workers: the timer thread's periodic call
	 * wakes a sleeper only if no mailbox was taken since its last call. */
	CHECK(skynet_runq_pop() == a && skynet_runq_pop() == b && skynet_runq_pop() == c, "policy: queue drained");
	start_sleepers(s, 1);
	skynet_runq_wake_stranded(); /* the timer's previous call: nothing waits */
	sig = skynet_runq_signals();
	skynet_runq_push(a);
	CHECK(skynet_runq_pop() == a && skynet_runq_signals() == sig,
	      "policy: a mailbox pushed by a worker is left to that worker");
	skynet_runq_push(b);
	skynet_runq_wake_stranded();
	CHECK(skynet_runq_signals() == sig && skynet_runq_sleepers() == 1,
	      "policy: no stranded-work wake-up while mailboxes are being taken");
	skynet_runq_wake_stranded();
	CHECK(skynet_runq_signals() == sig + 1, "policy: a mailbox left waiting a whole period wakes a sleeper");
	CHECK(sleeper_returns(&s[0]) && s[0].got == b, "policy: the sleeper woken for stranded work takes it");
	skynet_runq_set_worker(0);
	CHECK(skynet_runq_pop() == NULL && skynet_runq_sleepers() == 0, "policy: nothing left behind");

	struct message_queue *all[] = {a, b, c, quiet, cur};
	for (int i = 0; i < 5; i++) {
		skynet_mq_mark_release(all[i]);
		skynet_mq_release(all[i], NULL, NULL);
	}
}

/* ---- End to end: workers, contexts, dispatch ------------------------- */

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

/* skynet_start.c's worker loop.  Even workers drain a mailbox per turn
 * (weight 0, as production's first eight), odd ones run one message per
 * turn (weight -1), which hands mailboxes between workers more often. */
struct worker_arg {
	struct skynet_monitor *m;
	int weight;
};

static void *worker(void *p) {
	struct worker_arg *w = p;
	skynet_runq_set_worker(1);
	struct message_queue *q = NULL;
	for (;;) {
		q = skynet_context_message_dispatch(w->m, q, w->weight);
		if (q == NULL) {
			q = skynet_runq_wait();
			if (q == NULL)
				break;
		}
	}
	return NULL;
}

static bool all_pairs_finished(void *unused) {
	(void)unused;
	return atomic_load(&finished_pairs) == PAIRS;
}

/* Joins the thread, giving up (false) after WAIT_LIMIT_MS. */
static bool join_within_limit(pthread_t th) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_LIMIT_MS / 1000;
	return pthread_timedjoin_np(th, NULL, &ts) == 0;
}

int main(void) {
	skynet_globalinit();
	skynet_harbor_init(0);
	skynet_handle_init(0);
	skynet_runq_init();
	skynet_timer_init();
	test_policy();

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
	struct worker_arg wa[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		mon[i] = skynet_monitor_new();
		wa[i].m = mon[i];
		wa[i].weight = i % 2 ? -1 : 0;
		pthread_create(&th[i], NULL, worker, &wa[i]);
	}
	for (int i = 0; i < PAIRS; i++)
		skynet_send(NULL, players[2 * i].self, players[2 * i + 1].self, PTYPE_TEXT, 1, NULL, 0);
	wait_until(all_pairs_finished, NULL);
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

	/* Idle workers park; quitting wakes every one and each loop ends. */
	int workers = WORKERS;
	CHECK(wait_until(sleepers_are, &workers), "all 4 workers park when the work is done");
	skynet_runq_quit();
	int joined = 0;
	for (int i = 0; i < WORKERS; i++)
		joined += join_within_limit(th[i]);
	CHECK(joined == WORKERS, "quitting wakes every parked worker and its loop ends");

	/* Queue messages to a service, retire it: senders get PTYPE_ERROR. */
	struct player *victim = &players[0], *sender = &players[1];
	for (int i = 0; i < 5; i++)
		skynet_send(NULL, sender->self, victim->self, PTYPE_TEXT, 100 + i, NULL, 0);
	skynet_handle_retire(victim->self);
	struct message_queue *q = NULL;
	do {
		q = skynet_context_message_dispatch(mon[0], q, 0);
	} while (q != NULL);
	CHECK(atomic_load(&sender->errors) == 5, "5 messages stranded in a retired mailbox bounce as errors");
	CHECK(skynet_send(NULL, sender->self, victim->self, PTYPE_TEXT, 1, NULL, 0) == SKYNET_SEND_NO_DEST,
	      "sending to the retired service fails at once");
	for (int i = 0; i < WORKERS; i++)
		skynet_monitor_delete(mon[i]);
	UNIT_EXIT();
}
