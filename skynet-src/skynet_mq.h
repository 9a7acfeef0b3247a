/*
 * skynet_mq.h -- per-service mailboxes and the global run queue.
 *
 * A mailbox is a growable FIFO ring of messages owned by one service.  It is
 * linked into the global run queue whenever it holds messages and no worker
 * is processing it, so a service never runs on two threads at once.
 */
#ifndef SKYNET_MQ_H
#define SKYNET_MQ_H

#include <stddef.h>
#include <stdint.h>

struct skynet_message {
	uint32_t source;
	int session;
	void *data;
	size_t sz; /* payload size in the low bits, type in the top 8 bits */
};

#define MESSAGE_TYPE_SHIFT ((sizeof(size_t) - 1) * 8)
#define MESSAGE_TYPE_MASK (SIZE_MAX >> 8)

struct message_queue;

void skynet_globalmq_init(void);
void skynet_globalmq_exit(void);
/* Append a mailbox to the run queue; wakes a sleeping worker when useful. */
void skynet_globalmq_push(struct message_queue *q);
struct message_queue *skynet_globalmq_pop(void);
/* Block until the run queue has a mailbox or the node quits (returns NULL). */
struct message_queue *skynet_globalmq_wait(void);
/* all: wake every sleeping worker (shutdown).  Otherwise (the timer
 * thread, periodically): wake one if mailboxes wait and none was taken
 * since the previous call, i.e. the work is stranded behind busy workers. */
void skynet_globalmq_wakeup(int all);
void skynet_globalmq_quit(void);
int skynet_globalmq_sleepers(void);
int skynet_globalmq_length(void);

struct message_queue *skynet_mq_create(uint32_t handle);
/* The owner is gone: the queue is drained (senders get PTYPE_ERROR) and freed
 * by the next worker that pops it. */
void skynet_mq_mark_release(struct message_queue *q);

typedef void (*message_drop)(struct skynet_message *, void *);
void skynet_mq_release(struct message_queue *q, message_drop drop_func, void *ud);
uint32_t skynet_mq_handle(struct message_queue *q);

/* 0 on success, 1 when the queue is empty (it then leaves the run queue). */
int skynet_mq_pop(struct message_queue *q, struct skynet_message *message);
void skynet_mq_push(struct message_queue *q, struct skynet_message *message);
int skynet_mq_length(struct message_queue *q);
/* Queue length recorded when it crossed its overload threshold, or 0. */
int skynet_mq_overload(struct message_queue *q);

/* Marks the calling thread as a worker (affects wake-up decisions). */
void skynet_mq_set_worker_thread(int is_worker);
/* A quiet mailbox made ready by a worker wakes no sleeping worker (see
 * skynet_mq.c).  Call before the worker threads start. */
void skynet_mq_set_quiet(struct message_queue *q);
/* The calling worker still has n messages of its current service to run
 * after this one (see the wake-up policy in skynet_mq.c). */
void skynet_mq_set_backlog(int n);
/* The mailbox the calling worker is running now, or NULL. */
void skynet_mq_set_current(struct message_queue *q);

#endif
