/*
 * skynet_runq.h -- the run queue of ready mailboxes and the policy that
 * parks idle workers and wakes them (skynet_runq.c).  The numbers that tune
 * the policy are in skynet_tunables.h.
 */
#ifndef SKYNET_RUNQ_H
#define SKYNET_RUNQ_H

struct message_queue;

void skynet_runq_init(void);
/* Append a ready mailbox (one that skynet_mq_push or skynet_mq_mark_release
 * said to link, or a new one after its service's init); wakes a sleeping
 * worker when the policy says it is worth it. */
void skynet_runq_push(struct message_queue *q);
/* Takes the mailbox at the head, or NULL; never blocks. */
struct message_queue *skynet_runq_pop(void);
/* An idle worker's wait: polls for a while when that is likely to pay, then
 * sleeps until a mailbox is ready or the node quits (returns NULL). */
struct message_queue *skynet_runq_wait(void);
/* The timer thread, periodically: wakes one sleeper if mailboxes wait and
 * none was taken since the previous call, i.e. the work is stranded behind
 * busy workers. */
void skynet_runq_wake_stranded(void);
/* From now on skynet_runq_wait returns NULL once the queue is empty. */
void skynet_runq_quit(void);
int skynet_runq_sleepers(void);
/* Mailboxes waiting for a worker now (read without the lock). */
int skynet_runq_length(void);
/* How many times the policy signalled a sleeping worker so far (not
 * counting quit): tells a test whether a push woke anyone. */
unsigned skynet_runq_signals(void);

/* Something else an idle worker polls while it polls the run queue (the
 * sockets; set before workers start): poll() returns -1 when this worker
 * has nothing to poll there, else how many events it handled (pushing
 * their mailboxes); park() is called before the worker sleeps. */
void skynet_runq_set_idle_poller(int (*poll)(void), void (*park)(void));
/* Marks the calling thread as a worker (affects wake-up decisions). */
void skynet_runq_set_worker(int is_worker);
/* A quiet mailbox made ready by a worker wakes no sleeping worker and does
 * not count as waiting work (the logger's).  Call before workers start. */
void skynet_runq_set_quiet(struct message_queue *q);
/* The calling worker still has n messages of its current service to run
 * after this one (see the wake-up policy in skynet_runq.c). */
void skynet_runq_set_backlog(int n);
/* The mailbox the calling worker is running now, or NULL. */
void skynet_runq_set_current(struct message_queue *q);

#endif
