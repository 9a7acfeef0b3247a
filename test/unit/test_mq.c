/*
 * test_mq.c -- mailbox behaviour: FIFO order, growth, linking into the run
 * queue exactly once, overload detection, and ordering under concurrent
 * producers (run under ThreadSanitizer by .ci/run).  The wake-up policy of
 * the run queue is test_sched.c's.
 */
#include "skynet_mq.h"
#include "skynet_runq.h"
#include "unit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static struct skynet_message make_msg(uint32_t source, int session) {
	struct skynet_message m = {source, session, NULL, 0};
	return m;
}

/* What skynet_context_push does: link the mailbox when the push says so. */
static void push(struct message_queue *q, struct skynet_message *m) {
	if (skynet_mq_push(q, m))
		skynet_runq_push(q);
}

static void mark_release(struct message_queue *q) {
	if (skynet_mq_mark_release(q))
		skynet_runq_push(q);
}

static void test_fifo_and_growth(void) {
	struct message_queue *q = skynet_mq_create(7);
	skynet_runq_push(q); /* as skynet_context_new does after init */
	CHECK(skynet_runq_pop() == q, "new mailbox is in the run queue after init");
	for (int i = 0; i < 1000; i++) {
		struct skynet_message m = make_msg(1, i);
		push(q, &m);
	}
	CHECK(skynet_mq_length(q) == 1000, "length counts 1000 pushed messages past growth");
	int in_order = 1;
	struct skynet_message m;
	for (int i = 0; i < 1000; i++) {
		if (skynet_mq_pop(q, &m) || m.session != i)
			in_order = 0;
	}
	CHECK(in_order, "messages pop in push order across ring growth");
	CHECK(skynet_mq_pop(q, &m) == 1, "pop on empty mailbox reports empty");
	CHECK(skynet_runq_pop() == NULL, "run queue stays empty while mailbox was being worked");
	struct skynet_message a = make_msg(1, 1);
	push(q, &a);
	CHECK(skynet_runq_pop() == q, "push to an idle mailbox links it into the run queue");
	push(q, &a);
	CHECK(skynet_runq_pop() == NULL, "a linked mailbox is not linked twice");
	skynet_mq_pop(q, &m);
	skynet_mq_pop(q, &m);
	skynet_mq_pop(q, &m);
	mark_release(q);
	CHECK(skynet_runq_pop() == q, "a released idle mailbox is queued so a worker frees it");
	skynet_mq_release(q, NULL, NULL);
}

static int dropped;
static void count_drop(struct skynet_message *m, void *ud) {
	(void)m;
	(void)ud;
	dropped++;
}

/* A mailbox whose handle is gone while its owner still exists (the harbor
 * context at shutdown): release drops what is queued and unlinks it, and
 * the mailbox is not requeued (that made a worker spin forever). */
static void test_release_before_owner_gone(void) {
	struct message_queue *q = skynet_mq_create(9);
	skynet_runq_push(q);
	skynet_runq_pop();
	struct skynet_message m = make_msg(1, 1);
	push(q, &m);
	push(q, &m);
	push(q, &m);
	dropped = 0;
	skynet_mq_release(q, count_drop, NULL);
	CHECK(dropped == 3, "release before the owner is gone drops the queued messages");
	CHECK(skynet_runq_pop() == NULL, "release before the owner is gone does not requeue the mailbox");
	push(q, &m);
	CHECK(skynet_runq_pop() == q, "a later push links the unlinked mailbox again");
	mark_release(q);
	CHECK(skynet_runq_pop() == NULL, "mark_release of a linked mailbox does not link it twice");
	dropped = 0;
	skynet_mq_release(q, count_drop, NULL);
	CHECK(dropped == 1, "the final release drops the rest and frees the mailbox");
}

static void test_overload(void) {
	struct message_queue *q = skynet_mq_create(8);
	skynet_runq_push(q);
	skynet_runq_pop();
	for (int i = 0; i < 2100; i++) {
		struct skynet_message m = make_msg(1, i);
		push(q, &m);
	}
	struct skynet_message m;
	skynet_mq_pop(q, &m);
	int first = skynet_mq_overload(q);
	CHECK(first == 2099, "overload reports the queue length past 1024");
	CHECK(skynet_mq_overload(q) == 0, "overload report is cleared once read");
	skynet_mq_pop(q, &m);
	CHECK(skynet_mq_overload(q) == 0, "threshold doubled: 2098 does not warn again");
	while (skynet_mq_pop(q, &m) == 0) {
	}
	for (int i = 0; i < 1100; i++) {
		struct skynet_message x = make_msg(1, i);
		push(q, &x);
	}
	skynet_runq_pop();
	skynet_mq_pop(q, &m);
	CHECK(skynet_mq_overload(q) == 1099, "threshold resets to 1024 after the queue was empty");
	mark_release(q);
	while (skynet_mq_pop(q, &m) == 0) {
	}
	skynet_runq_pop();
	skynet_mq_release(q, NULL, NULL);
}

#define PRODUCERS 4
#define PER_PRODUCER 50000

struct producer {
	struct message_queue *q;
	uint32_t id;
};

static void *produce(void *p) {
	struct producer *pr = p;
	for (int i = 0; i < PER_PRODUCER; i++) {
		struct skynet_message m = make_msg(pr->id, i);
		push(pr->q, &m);
	}
	return NULL;
}

static void test_concurrent_producers(void) {
	struct message_queue *q = skynet_mq_create(9);
	skynet_runq_push(q);
	skynet_runq_pop();
	pthread_t th[PRODUCERS];
	struct producer pr[PRODUCERS];
	for (int i = 0; i < PRODUCERS; i++) {
		pr[i].q = q;
		pr[i].id = (uint32_t)i + 1;
		pthread_create(&th[i], NULL, produce, &pr[i]);
	}
	int next[PRODUCERS + 1] = {0};
	int total = 0, ordered = 1;
	while (total < PRODUCERS * PER_PRODUCER) {
		struct skynet_message m;
		if (skynet_mq_pop(q, &m) == 0) {
			if (m.session != next[m.source])
				ordered = 0;
			next[m.source] = m.session + 1;
			total++;
		} else {
			/* empty: the mailbox left the run queue; a push relinks it */
			struct message_queue *g = skynet_runq_pop();
			(void)g;
		}
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	CHECK(total == PRODUCERS * PER_PRODUCER, "every message from 4 concurrent producers arrives");
	CHECK(ordered, "messages of each producer keep their order");
	skynet_runq_pop();
	mark_release(q);
	skynet_runq_pop();
	skynet_mq_release(q, NULL, NULL);
}

int main(void) {
	skynet_runq_init();
	test_fifo_and_growth();
	test_release_before_owner_gone();
	test_overload();
	test_concurrent_producers();
	UNIT_EXIT();
}
