/*
 * skynet_mq.c -- mailboxes: one growable FIFO ring of messages per service.
 *
 * A mailbox tracks whether it is in the run queue (or being worked by a
 * worker), so it is linked exactly once while it holds messages; linking it
 * is the caller's job (skynet_mq.h).  When and which worker runs it is the
 * run queue's policy (skynet_runq.c).
 */
#include "skynet_mq.h"
#include "skynet.h"
#include "skynet_tunables.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#define OVERLOAD_THRESHOLD 1024 /* the first "May overload" warning (upstream's) */

/* Owned by its service; fields below `lock` are protected by it; `link`
 * belongs to the run queue (under its lock) and must stay first. */
struct message_queue {
	struct mq_link link;
	pthread_mutex_t lock;
	uint32_t handle;
	int cap;
	int head;
	int tail;
	bool release;
	bool in_global;
	int overload;
	int overload_threshold;
	atomic_int exit_reason; /* written by whoever retires the owner, read by the worker that drains */
	struct skynet_message *queue;
};

_Static_assert(offsetof(struct message_queue, link) == 0, "skynet_mq_link needs the link first");

struct message_queue *skynet_mq_create(uint32_t handle) {
	struct message_queue *q = skynet_malloc(sizeof(*q));
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	q->handle = handle;
	q->cap = MQ_INITIAL_SIZE;
	/* A new mailbox counts as "in the run queue" until its service finished
	 * init: messages sent meanwhile wait, and skynet_context_new links it. */
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

bool skynet_mq_push(struct message_queue *q, struct skynet_message *message) {
	pthread_mutex_lock(&q->lock);
	q->queue[q->tail] = *message;
	if (++q->tail >= q->cap)
		q->tail = 0;
	if (q->head == q->tail)
		expand_queue(q);
	bool link = !q->in_global;
	q->in_global = true;
	pthread_mutex_unlock(&q->lock);
	return link;
}

void skynet_mq_set_exit_reason(struct message_queue *q, int reason) { atomic_store(&q->exit_reason, reason); }

int skynet_mq_exit_reason(struct message_queue *q) { return atomic_load(&q->exit_reason); }

bool skynet_mq_mark_release(struct message_queue *q) {
	pthread_mutex_lock(&q->lock);
	bool link = !q->in_global;
	q->release = true;
	q->in_global = true;
	pthread_mutex_unlock(&q->lock);
	return link;
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
