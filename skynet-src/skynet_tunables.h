/*
 * skynet_tunables.h -- every number that tunes how the core spends CPU to
 * save latency, in one place.  Each line says what the number trades; the
 * reasoning behind the policy they tune is at the top of the file that uses
 * them (skynet_runq.c for the workers, socket_server.c for the socket
 * thread).  Changing one changes performance, never correctness: nothing
 * here is part of a contract (message formats, limits a user relies on).
 */
#ifndef SKYNET_TUNABLES_H
#define SKYNET_TUNABLES_H

/* ---- Workers: waking and parking (skynet_runq.c) ---------------------- */

/* A worker's push wakes a sleeper only when more than this many (non-quiet)
 * mailboxes wait: higher keeps chains of short messages on one worker (fewer
 * futex wake-ups), lower spreads a burst over more workers sooner. */
#define RUNQ_WAKE_THRESHOLD 2

/* An idle worker polls before sleeping only if an outside (or backlogged)
 * push came within this window: longer catches more replies without a
 * sleep/wake-up, at the price of CPU burnt by idle workers after traffic. */
#define SPIN_WINDOW_NS 2000000ULL

/* Polling rounds (one sched_yield each) before an idle worker sleeps: more
 * rounds catch later arrivals without a wake-up, fewer waste less CPU. */
#define SPIN_ROUNDS 64

/* Rounds a polling worker leaves a lone mailbox pushed by another worker to
 * that worker (which is about to be free) before taking it: higher keeps
 * ping-pongs on one worker, lower runs them sooner if that worker is stuck. */
#define SPIN_PATIENCE 32

/* While some workers sleep and others run, the timer thread checks this
 * often for work stranded behind a busy worker (no mailbox taken since the
 * last check) and wakes a sleeper: shorter bounds that wait more tightly,
 * at the price of more timer-thread wake-ups on a busy node. */
#define STRANDED_CHECK_NS 1000000ULL

/* Messages a worker runs per turn are `queued >> weight`, weight taken by
 * worker index from this table (workers beyond it: 0).  0 drains the whole
 * mailbox (fewer run-queue round trips), larger weights hand the mailbox on
 * sooner (fairer between busy services); -1 would mean one message. */
#define WORKER_WEIGHTS                                                                             \
	{ 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 }

/* ---- Mailboxes (skynet_mq.c) ------------------------------------------ */

/* Initial ring size of a mailbox (doubles when full): smaller saves memory
 * per idle service, larger saves the first few regrowths of a busy one. */
#define MQ_INITIAL_SIZE 16

/* ---- The socket thread (socket_server.c) ------------------------------ */

/* Backpressure: DATA messages of one socket that may wait in its owner's
 * mailbox, not yet dispatched.  Bounds what a connection queues at its
 * owner to INFLIGHT_MAX x 64 KiB reads; lower bounds memory tighter, but a
 * sender that gets that far ahead of its reader costs one pause/resume
 * round trip each time. */
#define INFLIGHT_MAX 4

/* Backpressure: a socket with a sink (the service a gate hands its frames
 * to) is read only while the sink's backlog (mailbox + unfinished
 * requests) plus the frames still on their way stays below this.  Memory
 * per connection grows with it (SINK_BACKLOG x (frame + a parked request));
 * lower also means smaller reads, so more read calls. */
#define SINK_BACKLOG 1024

/* How often a socket held back by its sink's backlog looks again (a sink
 * does not say when it drains): shorter resumes sooner, at the price of
 * socket-thread wake-ups while some socket is held back. */
#define SINK_POLL_NS 1000000ULL

/* Reads / accepts / datagrams taken from one ready socket per event before
 * serving the others: higher is more throughput for a busy socket, lower
 * is fairer to the rest. */
#define READ_ROUNDS 8
#define ACCEPT_ROUNDS 32
#define UDP_ROUNDS 32

/* ---- Who polls the sockets (skynet_poller.c) -------------------------- */

/* The socket thread polls epoll without blocking, and an idle worker takes
 * the polling over, only if an event came within this window: longer saves
 * more wake-ups under light traffic, at the price of CPU spent polling
 * after the traffic stopped. */
#define POLL_WINDOW_NS 2000000ULL

/* Non-blocking epoll polls (one sched_yield each) before blocking: more
 * catch later events without a wake-up, fewer waste less CPU. */
#define POLL_ROUNDS 32

/* A worker that polls the sockets in place of the socket thread polls
 * again between two mailboxes it runs once this long has passed since the
 * last poll: shorter reads sockets sooner while it is busy, at one epoll
 * call per gap. */
#define POLL_DUTY_GAP_NS 20000ULL

/* A worker gives the polling back to the socket thread when the traffic is
 * more than a lone exchange (several events in one poll, or mailboxes
 * waiting for a worker), and no worker takes it again for this long:
 * longer keeps a busy node on the socket thread through short lulls,
 * shorter returns sooner to the cheaper way for lone exchanges. */
#define POLL_BUSY_HOLD_NS 5000000ULL

/* While a worker polls in its place the socket thread looks this often
 * whether it still does (it may be stuck in a long handler) and takes the
 * polling back if not: this bounds how long socket events wait behind a
 * busy worker, at one socket-thread wake-up per period. */
#define POLL_DUTY_CHECK_NS 1000000ULL

/* ---- Metrics (skynet_metrics.c, service-src/service_metrics.c) ---------- */

/* Threads with a counter block of their own; later ones share one block
 * with atomic adds.  A node has `thread` workers plus four others. */
#define METRICS_THREAD_SLOTS 128

/* Series services may publish (cluster peers, harbor links, their own):
 * more costs ~500 bytes each, fewer refuses new series sooner. */
#define METRICS_SERIES_MAX 1024

/* Per-service series are exported for the top N services by CPU time, by
 * mailbox length and by Lua memory (config `metrics_top`): larger shows
 * more services, at up to 3N x 4 series per scrape. */
#define METRICS_TOP_DEFAULT 20

/* HTTP endpoint: the longest request head accepted (larger: 431 and
 * close), the connections held at once (one more closes the oldest), and
 * the seconds a client has to send its request, and then to take the
 * answer (slower ones are cut off).  Bigger limits serve odder clients,
 * smaller ones bound what hostile clients can hold: at most
 * METRICS_HTTP_CONNECTIONS x METRICS_HTTP_HEAD_MAX bytes of buffers. */
#define METRICS_HTTP_HEAD_MAX 8192
#define METRICS_HTTP_CONNECTIONS 64
#define METRICS_HTTP_TIMEOUT_S 5

/* The console's memory chart: one sample every METRICS_HISTORY_STEP_S
 * (a walk over all services), METRICS_HISTORY_LEN samples kept. */
#define METRICS_HISTORY_STEP_S 5
#define METRICS_HISTORY_LEN 120

#endif
