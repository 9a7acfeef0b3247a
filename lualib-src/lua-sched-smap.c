/*
 * lua-sched-smap.c -- `skynet.sched`, the session maps: session -> Lua
 * value, for the two tables every call writes twice (R_SESSION_CO: the
 * coroutine waiting on a session; R_WATCHING: the address a call in flight
 * went to).
 *
 * Why not a Lua table keyed by session: sessions only grow, so every call
 * inserts a key the table has never seen.  A Lua table rehashes when an
 * insert finds no never-used node, and shrinks to fit its live keys when
 * it does; with one key that stays (a pending skynet.timeout, a call to a
 * slow service) the hash part is two nodes and nearly every call rehashed
 * it (about 1,000 instructions, +6% per skynet.call).
 *
 * Instead C keeps an open-addressing hash (linear probing, deletion by
 * backward shift, so no tombstones) from session to a small slot number,
 * and the values sit in a Lua table used as an array, value of slot i at
 * index i + 1; slots are reused through a free list, so that table's
 * array part never grows past the most sessions ever pending at once and
 * is never rehashed.  The hash and the free list are one Lua userdata per
 * map (the service's memory counts it), replaced by one twice the size
 * when full; the value table is the one in R_SESSION_CO / R_WATCHING.
 *
 * SM_CO also counts the coroutines among its values (debug STAT's
 * `task`) as they are set and cleared, and stores the count in the
 * context when it changes, so that STAT and the metrics endpoint (another
 * thread, no message) read it without a scan.  What that costs: the type
 * of each value set; whether a slot holds a coroutine is kept in the free
 * list's entry of that slot, unused while the slot is taken, so a value
 * replaced or removed is not read back.
 *
 * Uses lua-sched-state.c's registry helpers (lua-sched.h) and the core's
 * skynet_context_set_tasks only.
 */
#include "lua-sched.h"
#include "skynet_server.h" /* skynet_context_set_tasks */

#include <stdint.h>
#include <string.h>

#define SMAP_MIN_VALUES 4 /* value slots of a new map; the hash has twice as many */

static const int value_ref[SM_COUNT] = {R_SESSION_CO, R_WATCHING};
static const int mem_ref[SM_COUNT] = {R_SMAP_CO_MEM, R_SMAP_WATCHING_MEM};

/* The userdata: key[cap], slot[cap], then next_free[vcap].  A taken
 * slot's next_free entry says instead whether its value is a coroutine
 * (SM_CO only). */
static int32_t *keys_of(struct smap *m) { return m->mem; }
static int32_t *slots_of(struct smap *m) { return (int32_t *)m->mem + m->cap; }
static int32_t *free_of(struct smap *m) { return (int32_t *)m->mem + 2 * m->cap; }

static uint32_t home(const struct smap *m, int32_t session) {
	return ((uint32_t)session * 2654435761u) & (uint32_t)(m->cap - 1);
}

/* The hash index holding session, or -1. */
static int find(struct smap *m, int32_t session) {
	if (m->cap == 0)
		return -1;
	int32_t *key = keys_of(m);
	uint32_t mask = (uint32_t)m->cap - 1;
	for (uint32_t i = home(m, session);; i = (i + 1) & mask) {
		if (key[i] == session)
			return (int)i;
		if (key[i] == 0)
			return -1;
	}
}

static void place(struct smap *m, int32_t session, int32_t slot) {
	int32_t *key = keys_of(m), *sl = slots_of(m);
	uint32_t mask = (uint32_t)m->cap - 1;
	uint32_t i = home(m, session);
	while (key[i] != 0)
		i = (i + 1) & mask;
	key[i] = session;
	sl[i] = slot;
}

/* Doubles the map: a new userdata (entries re-placed, slots kept) and a
 * new value table (values copied to the same indices). */
static void grow(lua_State *L, struct sched *s, int which) {
	struct smap *m = &s->smap[which];
	struct smap n = *m;
	n.vcap = m->vcap ? m->vcap * 2 : SMAP_MIN_VALUES;
	n.cap = n.vcap * 2;
	n.mem = lua_newuserdatauv(L, (size_t)(2 * n.cap + n.vcap) * sizeof(int32_t), 0);
	memset(n.mem, 0, (size_t)(2 * n.cap) * sizeof(int32_t));
	if (m->cap) {
		int32_t *key = keys_of(m), *sl = slots_of(m);
		for (int i = 0; i < m->cap; i++)
			if (key[i] != 0)
				place(&n, key[i], sl[i]);
		memcpy(free_of(&n), free_of(m), (size_t)m->vcap * sizeof(int32_t));
	}
	int32_t *nf = free_of(&n);
	for (int i = n.vcap - 1; i >= m->vcap; i--) { /* the new slots go on the free list */
		nf[i] = n.free_head;
		n.free_head = i;
	}
	set_ref(L, s, mem_ref[which]);
	lua_createtable(L, n.vcap, 0);
	push_ref(L, s, value_ref[which]);
	for (int i = 1; i <= m->vcap; i++) {
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -3, i);
	}
	lua_pop(L, 1);
	set_ref(L, s, value_ref[which]);
	*m = n;
}

/* Removes the entry at hash index i (its value is already cleared). */
static void remove_at(struct smap *m, int i) {
	int32_t *key = keys_of(m), *sl = slots_of(m), *nf = free_of(m);
	nf[sl[i]] = m->free_head;
	m->free_head = sl[i];
	m->n--;
	uint32_t mask = (uint32_t)m->cap - 1, hole = (uint32_t)i;
	for (uint32_t j = (hole + 1) & mask; key[j] != 0; j = (j + 1) & mask) {
		uint32_t h = home(m, key[j]);
		/* the entry at j may move to the hole unless its home lies
		 * cyclically in (hole, j] */
		if (((j - h) & mask) >= ((j - hole) & mask)) {
			key[hole] = key[j];
			sl[hole] = sl[j];
			hole = j;
		}
	}
	key[hole] = 0;
}

static int valid(lua_Integer session) { return session > 0 && session <= INT32_MAX; }

/* SM_CO: a coroutine value came (+1) or went (-1). */
static void count_threads(struct sched *s, struct smap *m, int delta) {
	if (delta == 0 || m != &s->smap[SM_CO])
		return;
	m->threads += delta;
	skynet_context_set_tasks(s->ctx, m->threads);
}

int sched_smap_get(lua_State *L, struct sched *s, int which, lua_Integer session) {
	struct smap *m = &s->smap[which];
	int i = valid(session) ? find(m, (int32_t)session) : -1;
	if (i < 0) {
		lua_pushnil(L);
		return LUA_TNIL;
	}
	push_ref(L, s, value_ref[which]);
	int t = lua_rawgeti(L, -1, slots_of(m)[i] + 1);
	lua_remove(L, -2);
	return t;
}

void sched_smap_set(lua_State *L, struct sched *s, int which, lua_Integer session) {
	struct smap *m = &s->smap[which];
	int i = valid(session) ? find(m, (int32_t)session) : -1;
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		if (i < 0)
			return;
		int was = which == SM_CO && free_of(m)[slots_of(m)[i]];
		push_ref(L, s, value_ref[which]);
		lua_pushnil(L);
		lua_rawseti(L, -2, slots_of(m)[i] + 1);
		lua_pop(L, 1);
		remove_at(m, i);
		count_threads(s, m, -was);
		return;
	}
	if (!valid(session))
		luaL_error(L, "skynet.sched: session %I out of range", (LUAI_UACINT)session);
	int32_t slot;
	int delta = 0;
	if (i >= 0) {
		slot = slots_of(m)[i];
		delta = -(which == SM_CO && free_of(m)[slot]);
	} else {
		if (m->n == m->vcap)
			grow(L, s, which);
		slot = m->free_head;
		m->free_head = free_of(m)[slot];
		place(m, (int32_t)session, slot);
		m->n++;
	}
	if (which == SM_CO) {
		int is = lua_type(L, -1) == LUA_TTHREAD;
		free_of(m)[slot] = is;
		delta += is;
	}
	push_ref(L, s, value_ref[which]);
	lua_rotate(L, -2, 1);
	lua_rawseti(L, -2, slot + 1);
	lua_pop(L, 1);
	count_threads(s, m, delta);
}

int sched_smap_next(lua_State *L, struct sched *s, int which, int pos, lua_Integer *session) {
	struct smap *m = &s->smap[which];
	int32_t *key = keys_of(m);
	for (; pos < m->cap; pos++) {
		if (key[pos] != 0) {
			*session = key[pos];
			push_ref(L, s, value_ref[which]);
			lua_rawgeti(L, -1, slots_of(m)[pos] + 1);
			lua_remove(L, -2);
			return pos + 1;
		}
	}
	return 0;
}

int sched_smap_count(struct sched *s, int which) { return s->smap[which].n; }

void sched_smap_push_table(lua_State *L, struct sched *s, int which) {
	lua_createtable(L, 0, sched_smap_count(s, which));
	lua_Integer session;
	for (int pos = 0; (pos = sched_smap_next(L, s, which, pos, &session)) != 0;)
		lua_rawseti(L, -2, session);
}
