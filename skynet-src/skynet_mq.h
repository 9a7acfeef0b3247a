/*
 * skynet_mq.h -- per-service mailboxes.
 *
 * A mailbox is a growable FIFO ring of messages owned by one service.  It
 * must sit in the run queue (skynet_runq.h) whenever it holds messages and
 * no worker is processing it, so a service never runs on two threads at
 * once.  The mailbox knows when that is (it keeps the "linked or being
 * worked" flag) but does not link itself: push and mark_release return true
 * when the caller must hand the mailbox to skynet_runq_push.  That keeps
 * the ring below the run queue: the run queue calls the mailbox, never the
 * other way round.
 */
#ifndef SKYNET_MQ_H
#define SKYNET_MQ_H

#include <stdbool.h>
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

/* The part of a mailbox that belongs to the run queue: its link to the
 * next mailbox and the quiet flags (skynet_runq.c; guarded by the run
 * queue's lock).  It is the first member of every struct message_queue, so
 * skynet_mq_link converts without knowing the rest of the mailbox. */
struct mq_link {
	struct message_queue *next;
	bool quiet;        /* set once, before the workers start */
	bool queued_quiet; /* `quiet` as the run queue counted it when linking */
};

static inline struct mq_link *skynet_mq_link(struct message_queue *q) { return (struct mq_link *)(void *)q; }

/* A new mailbox counts as linked (messages wait) until its service finished
 * init and the creator hands it to skynet_runq_push. */
struct message_queue *skynet_mq_create(uint32_t handle);
/* The owner is gone: the queue is drained (senders get PTYPE_ERROR) and freed
 * by the next worker that pops it.  True: link it into the run queue. */
bool skynet_mq_mark_release(struct message_queue *q);

/* Why the owner's handle was retired (a SKYNET_EXIT_* of skynet_server.h),
 * set before the retire: the senders of the messages left behind are told. */
void skynet_mq_set_exit_reason(struct message_queue *q, int reason);
int skynet_mq_exit_reason(struct message_queue *q);

typedef void (*message_drop)(struct skynet_message *, void *);
void skynet_mq_release(struct message_queue *q, message_drop drop_func, void *ud);
uint32_t skynet_mq_handle(struct message_queue *q);

/* 0 on success, 1 when the queue is empty (it then counts as unlinked). */
int skynet_mq_pop(struct message_queue *q, struct skynet_message *message);
/* True when the mailbox was idle: the caller links it into the run queue. */
bool skynet_mq_push(struct message_queue *q, struct skynet_message *message);
int skynet_mq_length(struct message_queue *q);
/* Queue length recorded when it crossed its overload threshold, or 0. */
int skynet_mq_overload(struct message_queue *q);

#endif
