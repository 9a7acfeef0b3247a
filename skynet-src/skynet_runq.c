/*
 * skynet_runq.c -- the run queue of ready mailboxes, and when idle workers
 * poll, sleep and are woken.  (The mailboxes themselves are skynet_mq.c;
 * the numbers named here are in skynet_tunables.h.)
 *
 * Wake-up policy (why workers sleep less than upstream's and wake less too):
 * a mailbox that becomes ready is appended to the run queue.  If the thread
 * that made it ready is a worker, that worker will take it itself after its
 * current message unless much more work is already waiting, so a sleeping
 * worker is woken only when the run queue holds more than
 * RUNQ_WAKE_THRESHOLD (two) mailboxes.
 * (Waking one for the second cost more than it saved: starting a service
 * is a chain of short messages between the caller, .launcher and the new
 * service, which hopped between the workers at every step, spending 20% of
 * the time in futex calls.)  Pushes from non-worker threads (timer, socket,
 * main) always wake a sleeper.  The timer thread nudges sleepers when work
 * is pending: every STRANDED_CHECK_NS while some workers sleep and others
 * run, which bounds the latency of the case where the pushing worker is
 * stuck in a long handler (skynet_start.c).
 *
 * Exception: a worker still holding a backlog of messages for the service
 * it runs will not get to the new mailbox soon, so it wakes a sleeper even
 * for one, and idle workers poll for a while after such a push (as after
 * pushes from outside, below).  That is what lets a caller with 64 calls in
 * flight and its callee run on two workers at once (call with 64
 * coroutines: ~300k -> ~410k calls/s), while a lone ping-pong stays on one
 * worker.
 *
 * A "quiet" mailbox (the logger's) never wakes anyone when a worker makes
 * it ready, and does not count as waiting work for the next push: a log
 * line is not worth a thread switch.  Starting a service logs LAUNCH, and
 * counting the logger made every start hop between the two workers of a
 * 2-thread node (25% of spawn time went to futex wake-ups and switches).
 */
#include "skynet_runq.h"
#include "skynet.h"
#include "skynet_mq.h"
#include "skynet_tunables.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

/* The run queue: a singly linked FIFO of mailboxes (through their
 * struct mq_link) under one lock. */
struct global_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct message_queue *head;
	struct message_queue *tail;
	atomic_int length; /* written under lock; read without it by spinners */
	int quiet_length;  /* how many of them are quiet */
	atomic_bool outside;            /* last push came from a non-worker thread or a worker with a backlog */
	_Atomic uint64_t outside_ns;    /* when a non-worker thread last pushed */
	_Atomic uint64_t backlog_ns;    /* when a worker with a backlog last pushed */
	int sleepers;
	unsigned pops; /* mailboxes taken so far: progress, for skynet_runq_wake_stranded */
	unsigned signals; /* sleepers signalled so far (skynet_runq_signals) */
	bool quit;
};

static struct global_queue Q;

/* What an idle worker polls besides the run queue (the sockets), set once
 * before workers start. */
static struct {
	int (*poll)(void);
	void (*park)(void);
} IDLE;

void skynet_runq_set_idle_poller(int (*poll)(void), void (*park)(void)) {
	IDLE.poll = poll;
	IDLE.park = park;
}

static _Thread_local int is_worker_thread;
static _Thread_local int worker_backlog; /* messages the worker still has to run */
static _Thread_local struct message_queue *worker_current; /* the mailbox it runs */

void skynet_runq_set_worker(int is_worker) { is_worker_thread = is_worker; }

void skynet_runq_set_backlog(int n) { worker_backlog = n; }

void skynet_runq_set_current(struct message_queue *q) { worker_current = q; }

void skynet_runq_set_quiet(struct message_queue *q) { skynet_mq_link(q)->quiet = true; }

void skynet_runq_init(void) {
	memset(&Q, 0, sizeof(Q));
	pthread_mutex_init(&Q.lock, NULL);
	pthread_cond_init(&Q.cond, NULL);
}

void skynet_runq_push(struct message_queue *q) {
	struct mq_link *link = skynet_mq_link(q);
	/* Backlog: what the pushing worker still has to run (its batch, or new
	 * messages that arrived in its mailbox meanwhile). */
	bool backlog = worker_backlog > 0;
	if (!backlog && worker_current && worker_current != q)
		backlog = skynet_mq_length(worker_current) > 0;
	pthread_mutex_lock(&Q.lock);
	link->next = NULL;
	if (Q.tail) {
		skynet_mq_link(Q.tail)->next = q;
		Q.tail = q;
	} else {
		Q.head = Q.tail = q;
	}
	Q.length++;
	link->queued_quiet = link->quiet;
	Q.quiet_length += link->queued_quiet;
	atomic_store_explicit(&Q.outside, !is_worker_thread || backlog, memory_order_relaxed);
	if (!is_worker_thread)
		atomic_store_explicit(&Q.outside_ns, skynet_hpc(), memory_order_relaxed);
	else if (backlog)
		atomic_store_explicit(&Q.backlog_ns, skynet_hpc(), memory_order_relaxed);
	bool wake = Q.sleepers > 0 &&
	            (!is_worker_thread ||
	             (!link->quiet && (Q.length - Q.quiet_length > RUNQ_WAKE_THRESHOLD || backlog)));
	Q.signals += wake;
	pthread_mutex_unlock(&Q.lock);
	/* Signalled after unlocking, so the woken worker does not block on the
	 * lock we still hold. */
	if (wake)
		pthread_cond_signal(&Q.cond);
}

static struct message_queue *pop_locked(void) {
	struct message_queue *q = Q.head;
	if (q) {
		struct mq_link *link = skynet_mq_link(q);
		Q.head = link->next;
		if (Q.head == NULL)
			Q.tail = NULL;
		link->next = NULL;
		Q.length--;
		Q.pops++;
		Q.quiet_length -= link->queued_quiet;
	}
	return q;
}

struct message_queue *skynet_runq_pop(void) {
	pthread_mutex_lock(&Q.lock);
	struct message_queue *q = pop_locked();
	pthread_mutex_unlock(&Q.lock);
	return q;
}

/* How long an idle worker keeps polling before it sleeps.  Replies and
 * socket events often arrive within tens of microseconds; catching them
 * without a futex sleep and wake-up (several microseconds each, much more
 * when the CPU has halted) is what makes a lone request/response over the
 * network fast.  Polling only pays off while events come from outside the
 * workers (socket, timer) or from a worker with a backlog, so a worker polls
 * only if that happened in the last SPIN_WINDOW_NS; otherwise a node busy
 * with its own messages never polls (the worker that pushed a mailbox takes
 * it next).  While polling (SPIN_ROUNDS rounds), a worker takes a mailbox at
 * once when it came from outside or from a worker with a backlog, or when
 * more than one waits; a single one pushed by a worker about to be free is
 * left to it unless it is still waiting after SPIN_PATIENCE rounds.  A
 * worker that polls the sockets as well (the idle hook, skynet_poller.c)
 * polls for SPIN_ROUNDS whatever the window, and runs what it read at once. */
struct message_queue *skynet_runq_wait(void) {
	int waiting = 0;
	int rounds = SPIN_ROUNDS;
	uint64_t last = atomic_load_explicit(&Q.outside_ns, memory_order_relaxed);
	uint64_t backlog = atomic_load_explicit(&Q.backlog_ns, memory_order_relaxed);
	if (backlog > last)
		last = backlog;
	if (skynet_hpc() - last > SPIN_WINDOW_NS)
		rounds = 0;
	/* A worker that polls the sockets too spins whatever the window says:
	 * the events it reads are its own to run, at once. */
	int polled = IDLE.poll ? IDLE.poll() : -1;
	if (polled >= 0)
		rounds = SPIN_ROUNDS;
	for (int i = 0; i < rounds; i++) {
		if (i > 0 && polled >= 0)
			polled = IDLE.poll();
		if (polled > 0) {
			struct message_queue *q = skynet_runq_pop();
			if (q)
				return q;
		}
		int len = atomic_load_explicit(&Q.length, memory_order_relaxed);
		if (len > 0 && (len > 1 || ++waiting >= SPIN_PATIENCE ||
		                atomic_load_explicit(&Q.outside, memory_order_relaxed))) {
			struct message_queue *q = skynet_runq_pop();
			if (q)
				return q;
		} else if (len == 0) {
			waiting = 0;
		}
		sched_yield();
	}
	if (IDLE.park)
		IDLE.park();
	pthread_mutex_lock(&Q.lock);
	struct message_queue *q;
	while ((q = pop_locked()) == NULL && !Q.quit) {
		Q.sleepers++;
		pthread_cond_wait(&Q.cond, &Q.lock);
		Q.sleepers--;
	}
	pthread_mutex_unlock(&Q.lock);
	return q;
}

void skynet_runq_wake_stranded(void) {
	static unsigned last_pops; /* only the timer thread calls this */
	pthread_mutex_lock(&Q.lock);
	if (Q.sleepers > 0 && Q.length > 0 && Q.pops == last_pops) {
		Q.signals++;
		pthread_cond_signal(&Q.cond);
	}
	last_pops = Q.pops;
	pthread_mutex_unlock(&Q.lock);
}

void skynet_runq_quit(void) {
	pthread_mutex_lock(&Q.lock);
	Q.quit = true;
	pthread_cond_broadcast(&Q.cond);
	pthread_mutex_unlock(&Q.lock);
}

int skynet_runq_sleepers(void) {
	pthread_mutex_lock(&Q.lock);
	int n = Q.sleepers;
	pthread_mutex_unlock(&Q.lock);
	return n;
}

unsigned skynet_runq_signals(void) {
	pthread_mutex_lock(&Q.lock);
	unsigned n = Q.signals;
	pthread_mutex_unlock(&Q.lock);
	return n;
}

int skynet_runq_length(void) { return atomic_load_explicit(&Q.length, memory_order_relaxed); }
