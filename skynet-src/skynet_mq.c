/*
 * skynet_mq.c -- mailboxes and the global run queue.
 *
 * Wake-up policy (why workers sleep less than upstream's and wake less too):
 * a mailbox that becomes ready is appended to the run queue.  If the thread
 * that made it ready is a worker, that worker will take it itself after its
 * current message unless much more work is already waiting, so a sleeping
 * worker is woken only when the run queue holds more than two mailboxes.
 * (Waking one for the second cost more than it saved: starting a service
 * is a chain of short messages between the caller, .launcher and the new
 * service, which hopped between the workers at every step, spending 20% of
 * the time in futex calls.)  Pushes from non-worker threads (timer, socket,
 * main) always wake a sleeper.  The timer thread nudges sleepers when work
 * is pending: every millisecond while some workers sleep and others run,
 * which bounds the latency of the case where the pushing worker is stuck in
 * a long handler (skynet_start.c).
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
#include "skynet_mq.h"
#include "skynet.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#define DEFAULT_QUEUE_SIZE 16
#define OVERLOAD_THRESHOLD 1024

/* Owned by its service; fields below `lock` are protected by it, `next` by
 * the global queue lock while the mailbox is linked there. */
struct message_queue {
	pthread_mutex_t lock;
	uint32_t handle;
	int cap;
	int head;
	int tail;
	bool release;
	bool in_global;
	bool quiet;        /* set once, before the workers start */
	bool queued_quiet; /* `quiet` as counted in Q.quiet_length (under Q.lock) */
	int overload;
	int overload_threshold;
	struct skynet_message *queue;
	struct message_queue *next;
};

/* The run queue: a singly linked FIFO of mailboxes under one lock. */
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
	unsigned pops; /* mailboxes taken so far: progress, for skynet_globalmq_wakeup */
	bool quit;
};

static struct global_queue Q;

static uint64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
static _Thread_local int is_worker_thread;
static _Thread_local int worker_backlog; /* messages the worker still has to run */
static _Thread_local struct message_queue *worker_current; /* the mailbox it runs */

void skynet_mq_set_worker_thread(int is_worker) { is_worker_thread = is_worker; }

void skynet_mq_set_backlog(int n) { worker_backlog = n; }

void skynet_mq_set_current(struct message_queue *q) { worker_current = q; }

void skynet_mq_set_quiet(struct message_queue *q) { q->quiet = true; }

void skynet_globalmq_init(void) {
	memset(&Q, 0, sizeof(Q));
	pthread_mutex_init(&Q.lock, NULL);
	pthread_cond_init(&Q.cond, NULL);
}

void skynet_globalmq_exit(void) {
	pthread_mutex_destroy(&Q.lock);
	pthread_cond_destroy(&Q.cond);
}

void skynet_globalmq_push(struct message_queue *q) {
	/* Backlog: what the pushing worker still has to run (its batch, or new
	 * messages that arrived in its mailbox meanwhile). */
	bool backlog = worker_backlog > 0;
	if (!backlog && worker_current && worker_current != q)
		backlog = skynet_mq_length(worker_current) > 0;
	pthread_mutex_lock(&Q.lock);
	q->next = NULL;
	if (Q.tail) {
		Q.tail->next = q;
		Q.tail = q;
	} else {
		Q.head = Q.tail = q;
	}
	Q.length++;
	q->queued_quiet = q->quiet;
	Q.quiet_length += q->queued_quiet;
	atomic_store_explicit(&Q.outside, !is_worker_thread || backlog, memory_order_relaxed);
	if (!is_worker_thread)
		atomic_store_explicit(&Q.outside_ns, mono_ns(), memory_order_relaxed);
	else if (backlog)
		atomic_store_explicit(&Q.backlog_ns, mono_ns(), memory_order_relaxed);
	bool wake = Q.sleepers > 0 &&
	            (!is_worker_thread || (!q->quiet && (Q.length - Q.quiet_length > 2 || backlog)));
	pthread_mutex_unlock(&Q.lock);
	/* Signalled after unlocking, so the woken worker does not block on the
	 * lock we still hold. */
	if (wake)
		pthread_cond_signal(&Q.cond);
}

static struct message_queue *pop_locked(void) {
	struct message_queue *q = Q.head;
	if (q) {
		Q.head = q->next;
		if (Q.head == NULL)
			Q.tail = NULL;
		q->next = NULL;
		Q.length--;
		Q.pops++;
		Q.quiet_length -= q->queued_quiet;
	}
	return q;
}

struct message_queue *skynet_globalmq_pop(void) {
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
 * it next).  While polling, a worker takes a mailbox at once when it came
 * from outside or from a worker with a backlog, or when more than one
 * waits; a single one pushed by a worker about to be free is left to it
 * unless it is still waiting after a few rounds. */
#define SPIN_ROUNDS 64
#define SPIN_PATIENCE 32
#define SPIN_WINDOW_NS 2000000ULL

struct message_queue *skynet_globalmq_wait(void) {
	int waiting = 0;
	int rounds = SPIN_ROUNDS;
	uint64_t last = atomic_load_explicit(&Q.outside_ns, memory_order_relaxed);
	uint64_t backlog = atomic_load_explicit(&Q.backlog_ns, memory_order_relaxed);
	if (backlog > last)
		last = backlog;
	if (mono_ns() - last > SPIN_WINDOW_NS)
		rounds = 0;
	for (int i = 0; i < rounds; i++) {
		int len = atomic_load_explicit(&Q.length, memory_order_relaxed);
		if (len > 0 && (len > 1 || ++waiting >= SPIN_PATIENCE ||
		                atomic_load_explicit(&Q.outside, memory_order_relaxed))) {
			struct message_queue *q = skynet_globalmq_pop();
			if (q)
				return q;
		} else if (len == 0) {
			waiting = 0;
		}
		sched_yield();
	}
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

void skynet_globalmq_wakeup(int all) {
	static unsigned last_pops; /* only the timer thread calls with all == 0 */
	pthread_mutex_lock(&Q.lock);
	if (Q.sleepers > 0) {
		if (all)
			pthread_cond_broadcast(&Q.cond);
		else if (Q.length > 0 && Q.pops == last_pops)
			pthread_cond_signal(&Q.cond);
	}
	last_pops = Q.pops;
	pthread_mutex_unlock(&Q.lock);
}

void skynet_globalmq_quit(void) {
	pthread_mutex_lock(&Q.lock);
	Q.quit = true;
	pthread_cond_broadcast(&Q.cond);
	pthread_mutex_unlock(&Q.lock);
}

int skynet_globalmq_sleepers(void) {
	pthread_mutex_lock(&Q.lock);
	int n = Q.sleepers;
	pthread_mutex_unlock(&Q.lock);
	return n;
}

int skynet_globalmq_length(void) {
	pthread_mutex_lock(&Q.lock);
	int n = Q.length;
	pthread_mutex_unlock(&Q.lock);
	return n;
}

struct message_queue *skynet_mq_create(uint32_t handle) {
	struct message_queue *q = skynet_malloc(sizeof(*q));
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	q->handle = handle;
	q->cap = DEFAULT_QUEUE_SIZE;
	/* A new mailbox counts as "in the run queue" until its service finished
	 * init: messages sent meanwhile wait, and skynet_context_new pushes it. */
	q->in_global = true;
	q->overload_threshold = OVERLOAD_THRESHOLD;
	q->queue = skynet_malloc(sizeof(struct skynet_message) * q->cap);
	return q;
}

uint32_t skynet_mq_handle(struct message_queue *q) { return q->handle; }

int skynet_mq_length(struct message_queue *q) {
	pthread_mutex_lock(&q->lock);
	int n = q->tail - q->head;
	if (n < 0)
		n += q->cap;
	pthread_mutex_unlock(&q->lock);
	return n;
}

int skynet_mq_overload(struct message_queue *q) {
	if (q->overload) {
		int n = q->overload;
		q->overload = 0;
		return n;
	}
	return 0;
}

int skynet_mq_pop(struct message_queue *q, struct skynet_message *message) {
	int ret = 1;
	pthread_mutex_lock(&q->lock);
	if (q->head != q->tail) {
		*message = q->queue[q->head++];
		ret = 0;
		int head = q->head, tail = q->tail, cap = q->cap;
		if (head >= cap)
			q->head = head = 0;
		int length = tail - head;
		if (length < 0)
			length += cap;
		while (length > q->overload_threshold) {
			q->overload = length;
			q->overload_threshold *= 2;
		}
	} else {
		q->overload_threshold = OVERLOAD_THRESHOLD;
	}
	if (ret)
		q->in_global = false;
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static void expand_queue(struct message_queue *q) {
	struct skynet_message *nq = skynet_malloc(sizeof(struct skynet_message) * q->cap * 2);
	for (int i = 0; i < q->cap; i++)
		nq[i] = q->queue[(q->head + i) % q->cap];
	q->head = 0;
	q->tail = q->cap;
	q->cap *= 2;
	skynet_free(q->queue);
	q->queue = nq;
}

void skynet_mq_push(struct message_queue *q, struct skynet_message *message) {
	pthread_mutex_lock(&q->lock);
	q->queue[q->tail] = *message;
	if (++q->tail >= q->cap)
		q->tail = 0;
	if (q->head == q->tail)
		expand_queue(q);
	bool link = !q->in_global;
	q->in_global = true;
	pthread_mutex_unlock(&q->lock);
	if (link)
		skynet_globalmq_push(q);
}

void skynet_mq_mark_release(struct message_queue *q) {
	pthread_mutex_lock(&q->lock);
	bool link = !q->in_global;
	q->release = true;
	q->in_global = true;
	pthread_mutex_unlock(&q->lock);
	if (link)
		skynet_globalmq_push(q);
}

/* Called by the worker that popped a mailbox whose handle is gone.
 *
 * If the owner was deleted (`release`), every message left is handed to
 * drop_func and the mailbox is freed.  If the owner still exists (the
 * harbor context outlives its handle until the very end, and an in-flight
 * lookup can hold any context a moment longer), nobody will ever run these
 * messages either: they are dropped now and the mailbox leaves the run
 * queue.  It is linked again by the next push, or by mark_release when the
 * owner goes, and then freed.  (Requeueing it instead made a worker spin on
 * it forever at shutdown, and main wait in pthread_join.) */
void skynet_mq_release(struct message_queue *q, message_drop drop_func, void *ud) {
	struct skynet_message msg;
	for (;;) {
		pthread_mutex_lock(&q->lock);
		if (q->release) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		if (q->head == q->tail) {
			q->in_global = false;
			pthread_mutex_unlock(&q->lock);
			return;
		}
		msg = q->queue[q->head];
		if (++q->head >= q->cap)
			q->head = 0;
		pthread_mutex_unlock(&q->lock);
		drop_func(&msg, ud);
	}
	while (!skynet_mq_pop(q, &msg))
		drop_func(&msg, ud);
	pthread_mutex_destroy(&q->lock);
	skynet_free(q->queue);
	skynet_free(q);
}
