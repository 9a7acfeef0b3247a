/*
 * skynet_timer.c -- timers at centisecond resolution.
 *
 * Pending timers sit in a binary min-heap ordered by (expire tick, arming
 * order), so timers due in the same tick fire in the order they were set.
 * O(log n) per timer; the timer thread sleeps until the next tick boundary
 * instead of polling.  The clock (`now`) counts ticks since start, starting
 * at the wall clock's centisecond fraction as upstream does.
 */
#include "skynet_timer.h"
#include "skynet.h"
#include "skynet_mq.h"
#include "skynet_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define NS_PER_TICK 10000000ULL

struct timer_node {
	uint64_t expire;
	uint64_t seq;
	uint32_t handle;
	int session;
};

/* Shared by every thread that arms timers and by the timer thread; the heap
 * is protected by `lock`, `current` is read without it (atomic). */
static struct {
	pthread_mutex_t lock;
	struct timer_node *heap;
	int count;
	int cap;
	uint64_t seq;
	_Atomic uint64_t current;
	uint64_t origin_ns; /* monotonic time of tick `start_tick` */
	uint64_t start_tick;
	uint64_t advanced; /* ticks added by skynet_timer_advance */
	uint32_t starttime;
	skynet_timer_deliver_fn deliver;
} T;

static void deliver_to_service(uint32_t handle, int session) {
	struct skynet_message msg = {0, session, NULL, (size_t)PTYPE_RESPONSE << MESSAGE_TYPE_SHIFT};
	skynet_context_push(handle, &msg);
}

void skynet_timer_set_deliver(skynet_timer_deliver_fn fn) { T.deliver = fn ? fn : deliver_to_service; }

void skynet_timer_init(void) {
	pthread_mutex_init(&T.lock, NULL);
	T.cap = 64;
	T.heap = skynet_malloc(sizeof(struct timer_node) * T.cap);
	T.count = 0;
	T.deliver = deliver_to_service;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	T.starttime = (uint32_t)wall.tv_sec;
	T.start_tick = (uint64_t)wall.tv_nsec / NS_PER_TICK;
	T.origin_ns = skynet_hpc();
	atomic_store(&T.current, T.start_tick);
}

void skynet_timer_exit(void) {
	skynet_free(T.heap);
	T.heap = NULL;
	pthread_mutex_destroy(&T.lock);
}

static int node_less(const struct timer_node *a, const struct timer_node *b) {
	return a->expire < b->expire || (a->expire == b->expire && a->seq < b->seq);
}

static void heap_push_locked(struct timer_node node) {
	if (T.count == T.cap) {
		T.cap *= 2;
		T.heap = skynet_realloc(T.heap, sizeof(struct timer_node) * T.cap);
	}
	int i = T.count++;
	while (i > 0) {
		int parent = (i - 1) / 2;
		if (!node_less(&node, &T.heap[parent]))
			break;
		T.heap[i] = T.heap[parent];
		i = parent;
	}
	T.heap[i] = node;
}

static struct timer_node heap_pop_locked(void) {
	struct timer_node top = T.heap[0];
	struct timer_node last = T.heap[--T.count];
	int i = 0;
	for (;;) {
		int child = i * 2 + 1;
		if (child >= T.count)
			break;
		if (child + 1 < T.count && node_less(&T.heap[child + 1], &T.heap[child]))
			child++;
		if (!node_less(&T.heap[child], &last))
			break;
		T.heap[i] = T.heap[child];
		i = child;
	}
	if (T.count > 0)
		T.heap[i] = last;
	return top;
}

int skynet_timeout(uint32_t handle, int time, int session) {
	if (time <= 0) {
		T.deliver(handle, session);
		return session;
	}
	pthread_mutex_lock(&T.lock);
	struct timer_node node = {atomic_load(&T.current) + (uint64_t)time, T.seq++, handle, session};
	heap_push_locked(node);
	pthread_mutex_unlock(&T.lock);
	return session;
}

/* Pops every timer due at or before `now` and delivers them outside the
 * lock, in expiry order, in batches so a burst does not hold the lock. */
static void fire_due(uint64_t now) {
	struct timer_node batch[256];
	for (;;) {
		int n = 0;
		pthread_mutex_lock(&T.lock);
		atomic_store(&T.current, now);
		while (n < 256 && T.count > 0 && T.heap[0].expire <= now)
			batch[n++] = heap_pop_locked();
		pthread_mutex_unlock(&T.lock);
		for (int i = 0; i < n; i++)
			T.deliver(batch[i].handle, batch[i].session);
		if (n < 256)
			return;
	}
}

uint64_t skynet_timer_update(void) {
	uint64_t elapsed = skynet_hpc() - T.origin_ns;
	uint64_t now = T.start_tick + T.advanced + elapsed / NS_PER_TICK;
	if (now > atomic_load(&T.current))
		fire_due(now);
	return NS_PER_TICK - elapsed % NS_PER_TICK;
}

void skynet_timer_advance(uint64_t ticks) {
	T.advanced += ticks;
	fire_due(atomic_load(&T.current) + ticks);
}

uint64_t skynet_timer_now(void) { return atomic_load(&T.current); }

uint32_t skynet_starttime(void) { return T.starttime; }

int skynet_timer_pending(void) {
	pthread_mutex_lock(&T.lock);
	int n = T.count;
	pthread_mutex_unlock(&T.lock);
	return n;
}
