/*
 * skynet_poller.c -- which thread polls the socket server, and when it
 * spins rather than blocks.  (The numbers named here are in
 * skynet_tunables.h.)
 *
 * Why a worker may stand in for the socket thread.  A lone request and its
 * answer over the network (cluster.call with one coroutine) used to hand
 * the work from thread to thread at every step: the socket thread read the
 * frame and pushed it to a mailbox, a worker ran it, the answer came back
 * to the socket thread, which pushed it to another mailbox...  On two
 * cores, two nodes ran six threads that all polled (a woken thread costs
 * tens of microseconds on a VM, so each polls while traffic flows), and
 * most of a round trip was spent switching between them.  Now an idle
 * worker that would poll the run queue anyway polls epoll too: it takes
 * over the duty ("owns" the poller) while the sockets are busy, runs the
 * events it reads itself, and the socket thread stands down.  A lone round
 * trip then stays on one thread per node: 15-20k -> ~34k cluster calls/s.
 *
 * Rules:
 * - One thread at a time runs skynet_socket_poll(), under POLL.lock (the
 *   socket server's state is single-threaded; see socket_internal.h).
 * - An idle worker takes the duty when nobody holds it and an event came in
 *   the last POLL_WINDOW_NS (a quiet node leaves it to the socket thread,
 *   which blocks in epoll), or from a worker that has not polled for
 *   POLL_DUTY_GAP_NS (it is busy in a handler).  It polls at every round
 *   of its idle spin and, while it runs handlers, between two mailboxes
 *   once POLL_DUTY_GAP_NS have passed since its last poll.  It gives the
 *   duty back before it sleeps.
 * - It also gives the duty back when the traffic is more than a lone
 *   exchange: a poll that returns several events, or mailboxes waiting for
 *   a worker when it looks between two.  Then a thread of its own polling
 *   all the time serves better (64 echo connections: ~75k -> ~86k
 *   requests/s), and no worker takes the duty for POLL_BUSY_HOLD_NS.
 * - While a worker holds the duty the socket thread sleeps.  Every
 *   POLL_DUTY_CHECK_NS it looks whether that worker still polls; if it has
 *   not (stuck in a long handler), the socket thread takes the duty back,
 *   which bounds how long events wait behind a busy worker.
 * - Whoever reads the exit request tells the others: the socket thread
 *   returns and workers stop polling.
 */
#include "skynet_poller.h"
#include "skynet.h"
#include "skynet_runq.h"
#include "skynet_socket.h"
#include "skynet_tunables.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

static struct {
	pthread_mutex_t lock;     /* held by the thread inside skynet_socket_poll */
	pthread_mutex_t duty_mu;  /* with duty_cond: the socket thread's stand-down */
	pthread_cond_t duty_cond; /* on CLOCK_MONOTONIC (skynet_hpc) */
	atomic_int owner;         /* 0: the socket thread polls; else the worker that does */
	atomic_int next_id;       /* worker ids handed out so far */
	atomic_bool exited;       /* the socket server has processed its exit request */
	_Atomic uint64_t event_ns;  /* when a poll last returned events */
	_Atomic uint64_t polled_ns; /* when a poll last ran */
	_Atomic uint64_t busy_ns;   /* when a worker last gave the duty back for load */
} POLL = {.lock = PTHREAD_MUTEX_INITIALIZER, .duty_mu = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int self_id; /* this worker's id (1...), 0 until it asks */

void skynet_poller_init(void) {
	skynet_hpc_cond_init(&POLL.duty_cond);
	atomic_store(&POLL.owner, 0);
	atomic_store(&POLL.exited, false);
	atomic_store(&POLL.event_ns, 0);
}

static int my_id(void) {
	if (self_id == 0)
		self_id = atomic_fetch_add(&POLL.next_id, 1) + 1;
	return self_id;
}

static void wake_socket_thread(void) {
	pthread_mutex_lock(&POLL.duty_mu);
	pthread_cond_signal(&POLL.duty_cond);
	pthread_mutex_unlock(&POLL.duty_mu);
}

/* One poll; the caller holds POLL.lock.  Returns the events, -1 at exit. */
static int poll_locked(bool block) {
	int n = skynet_socket_poll(block);
	uint64_t now = skynet_hpc();
	atomic_store_explicit(&POLL.polled_ns, now, memory_order_relaxed);
	if (n > 0)
		atomic_store_explicit(&POLL.event_ns, now, memory_order_relaxed);
	if (n < 0) {
		atomic_store(&POLL.exited, true);
		wake_socket_thread();
	}
	return n;
}

/* The socket thread's poll: waits for the lock (a worker's poll is short). */
static int socket_thread_poll(bool block) {
	pthread_mutex_lock(&POLL.lock);
	int n = atomic_load(&POLL.exited) ? -1 : poll_locked(block);
	pthread_mutex_unlock(&POLL.lock);
	return n;
}

/* The duty goes back to the socket thread: the worker is going to sleep,
 * or there is more traffic than it should poll for between handlers. */
static void hand_back(bool busy) {
	int me = self_id;
	if (me == 0 || !atomic_compare_exchange_strong(&POLL.owner, &me, 0))
		return;
	if (busy)
		atomic_store_explicit(&POLL.busy_ns, skynet_hpc(), memory_order_relaxed);
	wake_socket_thread();
}

/* A worker's poll: never waits, for the lock or in epoll.  0 when the
 * socket thread is inside a poll of its own (it stands down after it).
 * More than one event at once is more traffic than a lone exchange: the
 * socket thread takes the duty back. */
static int worker_poll(void) {
	if (pthread_mutex_trylock(&POLL.lock) != 0)
		return 0;
	int n = atomic_load(&POLL.exited) ? -1 : poll_locked(false);
	pthread_mutex_unlock(&POLL.lock);
	if (n > 1)
		hand_back(true);
	return n;
}

int skynet_poller_idle(void) {
	if (atomic_load_explicit(&POLL.exited, memory_order_relaxed))
		return -1;
	int me = my_id();
	int owner = atomic_load(&POLL.owner);
	if (owner != me) {
		uint64_t now = skynet_hpc();
		if (owner != 0) {
			/* the owner is busy in a handler: an idle worker polls better */
			uint64_t last = atomic_load_explicit(&POLL.polled_ns, memory_order_relaxed);
			if (now - last < POLL_DUTY_GAP_NS)
				return -1;
		} else if (now - atomic_load_explicit(&POLL.event_ns, memory_order_relaxed) > POLL_WINDOW_NS ||
		           now - atomic_load_explicit(&POLL.busy_ns, memory_order_relaxed) < POLL_BUSY_HOLD_NS) {
			return -1;
		}
		if (!atomic_compare_exchange_strong(&POLL.owner, &owner, me))
			return -1;
	}
	return worker_poll();
}

void skynet_poller_between(void) {
	if (self_id == 0 || atomic_load_explicit(&POLL.owner, memory_order_relaxed) != self_id)
		return;
	/* Mailboxes wait for workers: the sockets need a thread of their own.
	 * (One is no sign: a mailbox just run goes back to the queue, perhaps
	 * empty, when another waits.) */
	if (skynet_runq_length() > 1) {
		hand_back(true);
		return;
	}
	uint64_t last = atomic_load_explicit(&POLL.polled_ns, memory_order_relaxed);
	if (skynet_hpc() - last >= POLL_DUTY_GAP_NS)
		worker_poll();
}

void skynet_poller_park(void) { hand_back(false); }

/* The socket thread sleeps while a worker polls; takes the duty back from
 * one that stopped polling (stuck in a handler). */
static void stand_down(void) {
	if (atomic_load(&POLL.owner) == 0)
		return;
	pthread_mutex_lock(&POLL.duty_mu);
	while (atomic_load(&POLL.owner) != 0 && !atomic_load(&POLL.exited)) {
		struct timespec ts = skynet_hpc_deadline(POLL_DUTY_CHECK_NS);
		if (pthread_cond_timedwait(&POLL.duty_cond, &POLL.duty_mu, &ts) == 0)
			continue;
		uint64_t last = atomic_load_explicit(&POLL.polled_ns, memory_order_relaxed);
		if (skynet_hpc() - last > POLL_DUTY_CHECK_NS) {
			int owner = atomic_load(&POLL.owner);
			if (owner != 0)
				atomic_compare_exchange_strong(&POLL.owner, &owner, 0);
		}
	}
	pthread_mutex_unlock(&POLL.duty_mu);
}

/* While traffic flows (an event in the last POLL_WINDOW_NS) the socket
 * thread polls POLL_ROUNDS times without waiting before it blocks in epoll,
 * and stops as soon as a worker takes the duty over. */
void skynet_poller_socket_thread(void) {
	for (;;) {
		stand_down();
		if (atomic_load(&POLL.exited))
			return;
		int n = 0;
		uint64_t quiet = skynet_hpc() - atomic_load_explicit(&POLL.event_ns, memory_order_relaxed);
		bool block = quiet >= POLL_WINDOW_NS;
		for (int i = 0; !block && i < POLL_ROUNDS && n == 0; i++) {
			if (atomic_load_explicit(&POLL.owner, memory_order_relaxed) != 0)
				break;
			n = socket_thread_poll(false);
			if (n == 0)
				sched_yield();
		}
		if (!block && n == 0 && atomic_load_explicit(&POLL.owner, memory_order_relaxed) == 0)
			block = true;
		if (block)
			n = socket_thread_poll(true);
		if (n < 0)
			return;
	}
}
