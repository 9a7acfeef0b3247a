/*
 * lua-sched-deadline.c -- `skynet.sched`, the deadlines of calls made with
 * a timeout (skynet.call_timeout, or every call when the config key
 * `call_timeout` is set).
 *
 * Why not one timer per call: a timer is a message of its own, delivered
 * and dispatched like the reply it guards, so a timeout that never fires
 * would cost about a third of a call.  Instead the deadlines live here, in
 * a binary min-heap, and the service keeps at most a few timers armed (one
 * for the earliest deadline, plus older ones already superseded).  A call
 * that ends in time removes its entry (O(log n)); an armed timer that
 * fires (a "tick") hands back the entries whose time has come, and the
 * dispatcher (lua-sched-dispatch.c) fails the calls still waiting.
 *
 * Storage: the entries and the heap are one Lua userdata (so the service's
 * memory counts them and its collector frees them), anchored in
 * R_DEADLINES and replaced by one twice the size when full.  An entry is
 * found by its slot, which the waiting call keeps on its stack; a slot
 * whose entry was already handed back (the timeout fired) is recognised by
 * its session no longer matching.
 *
 * Uses lua-sched-session.c (timer sessions) and lua-sched-state.c below.
 */
#include "lua-sched.h"
#include "skynet.h" /* skynet_now */

#include <string.h>

#define DEADLINE_MIN_CAP 16

struct dl_entry {
	uint64_t when; /* skynet_now() value at which the call times out */
	int session;   /* 0: the slot is free */
	int ti;        /* the timeout, centiseconds (for the error text) */
	int pos;       /* index in the heap; for a free slot, the next free slot */
};

/* The userdata: entries[cap], then heap[cap] (slot numbers).  Lua never
 * moves a userdata, so its address is kept in struct deadlines while
 * R_DEADLINES anchors it (the hot path then needs no registry look-up). */
static struct dl_entry *entries(lua_State *L, struct sched *s) {
	(void)L;
	return s->deadlines.mem;
}

static int *heap_of(struct dl_entry *e, int cap) { return (int *)(e + cap); }

static void swap(struct dl_entry *e, int *h, int i, int j) {
	int a = h[i], b = h[j];
	h[i] = b;
	h[j] = a;
	e[b].pos = i;
	e[a].pos = j;
}

static void sift_up(struct dl_entry *e, int *h, int i) {
	while (i > 0) {
		int p = (i - 1) / 2;
		if (e[h[p]].when <= e[h[i]].when)
			break;
		swap(e, h, i, p);
		i = p;
	}
}

static void sift_down(struct dl_entry *e, int *h, int n, int i) {
	for (;;) {
		int l = 2 * i + 1, m = i;
		if (l < n && e[h[l]].when < e[h[m]].when)
			m = l;
		if (l + 1 < n && e[h[l + 1]].when < e[h[m]].when)
			m = l + 1;
		if (m == i)
			return;
		swap(e, h, i, m);
		i = m;
	}
}

/* Makes room for one more entry (a new userdata twice the size). */
static struct dl_entry *grow(lua_State *L, struct sched *s) {
	struct deadlines *d = &s->deadlines;
	int cap = d->cap ? d->cap * 2 : DEADLINE_MIN_CAP;
	struct dl_entry *ne = lua_newuserdatauv(L, (size_t)cap * (sizeof(struct dl_entry) + sizeof(int)), 0);
	int *nh = heap_of(ne, cap);
	if (d->cap) {
		struct dl_entry *oe = entries(L, s);
		memcpy(ne, oe, (size_t)d->cap * sizeof(*oe));
		memcpy(nh, heap_of(oe, d->cap), (size_t)d->cap * sizeof(int));
	}
	for (int i = cap - 1; i >= d->cap; i--) { /* thread the new slots onto the free list */
		ne[i].session = 0;
		ne[i].pos = d->free;
		d->free = i;
	}
	d->cap = cap;
	d->mem = ne;
	set_ref(L, s, R_DEADLINES);
	return ne;
}

/* Arms a timer for the earliest deadline unless one fires by then.  The
 * timer's session is kept in R_DEADLINE_TIMERS, not in R_SESSION_CO: a
 * key that stays in that table while calls come and go would make Lua
 * rehash it on nearly every call (a hash with one live key and one free
 * node has no room for the next new key), about 600 instructions a call.
 * Older timers still armed fire harmlessly. */
void sched_deadline_arm(lua_State *L, struct sched *s) {
	struct deadlines *d = &s->deadlines;
	if (d->n == 0)
		return;
	struct dl_entry *e = entries(L, s);
	uint64_t when = e[heap_of(e, d->cap)[0]].when;
	if (d->armed != 0 && d->armed <= when)
		return;
	uint64_t now = skynet_now();
	lua_pushinteger(L, when > now ? (lua_Integer)(when - now) : 0);
	int session = sched_timer_session(L, s, -1);
	lua_pop(L, 1);
	lua_pushboolean(L, 1);
	ref_seti(L, s, R_DEADLINE_TIMERS, session);
	d->armed = when;
	d->armed_session = session;
}

/* Registers the deadline of the call waiting on `session` in `ti`
 * centiseconds (> 0); returns its slot. */
int sched_deadline_add(lua_State *L, struct sched *s, int session, int ti) {
	struct deadlines *d = &s->deadlines;
	struct dl_entry *e = d->free >= 0 && d->cap > 0 ? entries(L, s) : grow(L, s);
	int slot = d->free;
	d->free = e[slot].pos;
	e[slot].when = skynet_now() + (uint64_t)ti;
	e[slot].session = session;
	e[slot].ti = ti;
	int *h = heap_of(e, d->cap);
	h[d->n] = slot;
	e[slot].pos = d->n;
	sift_up(e, h, d->n++);
	if (d->armed == 0 || e[slot].when < d->armed)
		sched_deadline_arm(L, s);
	return slot;
}

static void remove_at(struct dl_entry *e, int *h, struct deadlines *d, int i) {
	int slot = h[i];
	int last = --d->n;
	if (i != last) {
		swap(e, h, i, last);
		sift_down(e, h, d->n, i);
		sift_up(e, h, i);
	}
	e[slot].session = 0;
	e[slot].pos = d->free;
	d->free = slot;
}

/* The call waiting on `session` ended (reply, error, timeout): forgets its
 * deadline if the slot still holds it. */
void sched_deadline_done(lua_State *L, struct sched *s, int slot, int session) {
	struct deadlines *d = &s->deadlines;
	if (slot < 0 || slot >= d->cap)
		return;
	struct dl_entry *e = entries(L, s);
	if (e[slot].session != session || session == 0)
		return;
	remove_at(e, heap_of(e, d->cap), d, e[slot].pos);
}

/* A timer armed by sched_deadline_arm fired with `session`. */
void sched_deadline_tick(lua_State *L, struct sched *s, int session) {
	lua_pushnil(L);
	ref_seti(L, s, R_DEADLINE_TIMERS, session);
	if (session == s->deadlines.armed_session)
		s->deadlines.armed = 0;
}

/* Hands back one entry whose deadline has passed (its session and timeout)
 * and forgets it; 0 when there is none. */
int sched_deadline_expired(lua_State *L, struct sched *s, int *session, int *ti) {
	struct deadlines *d = &s->deadlines;
	if (d->n == 0)
		return 0;
	struct dl_entry *e = entries(L, s);
	int *h = heap_of(e, d->cap);
	if (e[h[0]].when > skynet_now())
		return 0;
	*session = e[h[0]].session;
	*ti = e[h[0]].ti;
	remove_at(e, h, d, 0);
	return 1;
}

/* The number of calls with a deadline. */
int sched_deadline_count(struct sched *s) { return s->deadlines.n; }
