/*
 * lua-sched.h -- internal header of `skynet.sched` (not for other modules):
 * the scheduler's state (struct sched, struct costate), the registry and
 * interned-key helpers every part uses (static inline), and the functions
 * that cross files, grouped by the file that defines them (prefixed
 * sched_; sched_l_* are lua_CFunctions).  Those are hidden: they are not
 * part of skynet.so's interface, and calls between the files stay direct.
 * The model is described at the top of lua-sched.c.
 */
#ifndef LUA_SCHED_H
#define LUA_SCHED_H

#include "skynet.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>

/* The protocol ids skynet.h calls "reserved" (they belong to Lua). */
#define PTYPE_QUEUE PTYPE_RESERVED_QUEUE
#define PTYPE_DEBUG PTYPE_RESERVED_DEBUG
#define PTYPE_LUA PTYPE_RESERVED_LUA
#define PTYPE_SNAX PTYPE_RESERVED_SNAX
#define PTYPE_TRACE 12

/* Registry references of the scheduler's Lua values. */
enum {
	R_PROTO,          /* name/id -> protocol class */
	R_SESSION_CO,     /* the values of session map SM_CO (lua-sched-smap.c): session -> waiting
	                   * coroutine, "BREAK" (drop the late reply) or "TIMEOUT" (the call timed
	                   * out: drop and count the late reply) */
	R_CO_SESSION,     /* coroutine -> session of the request it must answer (0: a send) */
	R_COSTATES,       /* thread -> its costate userdata (weak keys) */
	R_WATCHING,       /* the values of session map SM_WATCHING: session of a call in flight ->
	                   * address called */
	R_ERROR_TEXT,     /* session -> text of the PTYPE_ERROR that failed it */
	R_SLEEP,          /* token -> session it sleeps/waits on */
	R_TRACE_SOURCE,   /* source -> trace tag announced by PTYPE_TRACE */
	R_FORKQ,          /* coroutines to run after the current message (indices in struct sched) */
	R_WAKEUPQ,        /* tokens passed to skynet.wakeup (indices in struct sched) */
	R_ERRORQ,         /* sessions to fail (likewise) */
	R_POOL,           /* finished coroutines (weak values) */
	R_S,              /* skynet.internal */
	R_SKYNET,         /* the skynet table */
	R_RESUME,         /* coroutine.resume as it was at load (skynet.profile's) */
	R_LUA_REQUIRE,    /* the plain require, for the lazy modules */
	R_RUNNING,        /* the coroutine the scheduler resumed last */
	R_INIT_THREAD,    /* the coroutine running the start function */
	R_DEADLINES,      /* the deadline entries and heap (lua-sched-deadline.c), false until the first */
	R_DEADLINE_TIMERS, /* session of an armed deadline timer -> true (lua-sched-deadline.c) */
	R_SMAP_CO_MEM,    /* the hash of the SM_CO session map (lua-sched-smap.c), false until the first */
	R_SMAP_WATCHING_MEM, /* likewise for SM_WATCHING */
	R_COUNT
};

/* Strings the hot paths use, kept interned (lua_getfield with a C string
 * would look each up in the string cache, strcmp included). */
enum { K_DISPATCH, K_UNPACK, K_PACK, K_ID, K_TRACE, K_NAME, K_TIMER_HOOK, K_SUSPEND, K_BREAK, K_TIMEOUT, K_COUNT };

/*
 * What the scheduler knows of one coroutine besides its session (kept in
 * the Lua table session_coroutine_id, which also anchors coroutines owing
 * a reply): who asked, and its trace tag.  Kept in C because the hot path
 * reads and clears them on every message; Lua sees them through the proxy
 * tables S.session_coroutine_address and S.session_coroutine_tracetag.
 * Every thread's LUA_EXTRASPACE points to its costate, or to the shared
 * `main_co` of its scheduler (nothing recorded) until something is set.
 */
#define TAG_NONE 0  /* no trace tag */
#define TAG_OFF (-1) /* tracing forced off (false) */
struct costate {
	struct sched *s;
	uint32_t address; /* source of the request it handles, 0: none */
	int tag;          /* TAG_NONE, TAG_OFF or a registry reference to the tag string */
};

struct cqueue {
	lua_Integer h, t; /* items h..t are queued; empty when h > t */
};

/* The calls waiting with a deadline (lua-sched-deadline.c); the entries
 * themselves are in R_DEADLINES. */
struct deadlines {
	int n, cap;         /* entries in the heap; slots allocated */
	int free;           /* first free slot, -1: none */
	uint64_t armed;     /* when the latest armed timer fires (skynet_now), 0: none */
	int armed_session;  /* that timer's session */
	void *mem;          /* the userdata in R_DEADLINES (entries, then the heap), NULL until the first */
};

/* A session map (lua-sched-smap.c): session -> Lua value.  The hash and
 * the free list are in `mem` (a userdata in the map's R_SMAP_*_MEM); the
 * values in R_SESSION_CO or R_WATCHING, at index slot + 1. */
enum { SM_CO, SM_WATCHING, SM_COUNT };
struct smap {
	int cap;       /* hash entries (a power of two, 2 x vcap), 0 until the first */
	int vcap;      /* value slots */
	int n;         /* sessions in the map */
	int free_head; /* first free value slot, -1: none */
	int threads;   /* values that are coroutines (SM_CO: debug STAT's `task`) */
	void *mem;
};

/* One per service (a full userdata anchored in the registry). */
struct sched {
	struct cqueue wakeupq, errorq, forkq;
	struct costate main_co; /* the costate of threads that have none of their own */
	int trace_sources;      /* PTYPE_TRACE announcements were received */
	struct skynet_context *ctx;
	uint32_t self;       /* 0 until first asked */
	int careful;         /* sessions are near the wrap: allocate them one by one */
	const char *suspend; /* the interned "SUSPEND": compared by address */
	lua_State *running;  /* the thread in R_RUNNING, to skip rewriting it */
	/* the request being dispatched until a coroutine owes its answer (0:
	 * none): answered "out of memory" if dispatching it fails for memory */
	int unowned_session;
	uint32_t unowned_source;
	int call_timeout;      /* config call_timeout (cs): the deadline of every call, 0: none */
	const char *timed_out; /* the interned "TIMEOUT": R_SESSION_CO's mark of a call that timed out */
	lua_Integer timeouts;  /* calls that timed out */
	lua_Integer late;      /* replies (or errors) that came after their call timed out, dropped */
	struct deadlines deadlines;
	struct smap smap[SM_COUNT];
	int ref[R_COUNT];
	int key[K_COUNT];
};

#pragma GCC visibility push(hidden)
/* The registry key of the struct sched userdata (lua-sched-state.c). */
extern char sched_key;
#pragma GCC visibility pop

static inline struct costate *costate_ptr(lua_State *co) { return *(struct costate **)lua_getextraspace(co); }

/* The service's scheduler.  snlua zeroes the main thread's extra space and
 * luaopen points it to main_co; threads created later inherit that.
 * Threads created before (rare) take the registry path. */
static inline struct sched *sched_get(lua_State *L) {
	struct costate *c = costate_ptr(L);
	if (c)
		return c->s;
	struct sched *s;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &sched_key);
	s = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return s;
}

static inline void push_key(lua_State *L, struct sched *s, int k) { lua_rawgeti(L, LUA_REGISTRYINDEX, s->key[k]); }

/* t[key] for the table at `t` (metamethods honoured); pushes it, returns its type. */
static inline int get_field(lua_State *L, struct sched *s, int t, int k) {
	t = lua_absindex(L, t);
	push_key(L, s, k);
	return lua_gettable(L, t);
}

static inline int get_rawfield(lua_State *L, struct sched *s, int t, int k) {
	t = lua_absindex(L, t);
	push_key(L, s, k);
	return lua_rawget(L, t);
}

static inline void push_ref(lua_State *L, struct sched *s, int r) {
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref[r]);
}

static inline int ref_type(lua_State *L, struct sched *s, int r) {
	return lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref[r]);
}

/* Replaces the referenced value with the one on the top (popped). */
static inline void set_ref(lua_State *L, struct sched *s, int r) {
	lua_rawseti(L, LUA_REGISTRYINDEX, s->ref[r]);
}

/* t[key] for the referenced table t and the value at `key`; pushes it and
 * returns its type. */
static inline int ref_get(lua_State *L, struct sched *s, int r, int key) {
	key = lua_absindex(L, key);
	push_ref(L, s, r);
	lua_pushvalue(L, key);
	int t = lua_rawget(L, -2);
	lua_remove(L, -2);
	return t;
}

/* t[key] = value on the top (popped). */
static inline void ref_set(lua_State *L, struct sched *s, int r, int key) {
	key = lua_absindex(L, key);
	push_ref(L, s, r);
	lua_pushvalue(L, key);
	lua_rotate(L, -3, -1); /* table, key, value */
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

static inline void ref_clear(lua_State *L, struct sched *s, int r, int key) {
	key = lua_absindex(L, key);
	lua_pushnil(L);
	ref_set(L, s, r, key);
}

static inline int ref_geti(lua_State *L, struct sched *s, int r, lua_Integer i) {
	push_ref(L, s, r);
	int t = lua_rawgeti(L, -1, i);
	lua_remove(L, -2);
	return t;
}

static inline void ref_seti(lua_State *L, struct sched *s, int r, lua_Integer i) {
	push_ref(L, s, r);
	lua_rotate(L, -2, 1);
	lua_rawseti(L, -2, i);
	lua_pop(L, 1);
}

/* A registry reference must never hold nil (luaL_ref could hand the slot
 * out again), so "no thread" is stored as false and read back as nil. */
static inline void push_thread_ref(lua_State *L, struct sched *s, int r) {
	if (ref_type(L, s, r) == LUA_TBOOLEAN) {
		lua_pop(L, 1);
		lua_pushnil(L);
	}
}

static inline void set_thread_ref(lua_State *L, struct sched *s, int r) {
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 0);
	}
	set_ref(L, s, r);
}

static inline void push_running(lua_State *L, struct sched *s) { push_thread_ref(L, s, R_RUNNING); }

static inline void set_running(lua_State *L, struct sched *s, int co) {
	lua_State *t = lua_tothread(L, co);
	if (t != NULL && t == s->running)
		return; /* the pool hands out the same coroutine again and again */
	s->running = t;
	lua_pushvalue(L, co);
	set_thread_ref(L, s, R_RUNNING);
}

/* Closes a coroutine that will never be resumed again: its pending
 * to-be-closed variables run and it is left dead. */
static inline void close_thread(lua_State *L, lua_State *co) {
#if LUA_VERSION_RELEASE_NUM >= 50406
	lua_closethread(co, L);
#else
	(void)L;
	lua_resetthread(co);
#endif
	lua_settop(co, 0); /* the reset leaves the error there */
}

/* Pushes proto[key] for the value at `key` (nil if unknown). */
static inline int push_proto(lua_State *L, struct sched *s, int key) { return ref_get(L, s, R_PROTO, key); }

#pragma GCC visibility push(hidden)

/*
 * The files, in layer order: each uses only the ones below it (checked by
 * test/e2e/test_layers.sh with nm).
 *   lua-sched.c           the module open, skynet.internal, the small API
 *   lua-sched-api.c       blocking and messaging API: timers, sleep, wait,
 *                         wakeup, fork, send, call, ret, start
 *   lua-sched-exit.c      skynet.exit
 *   lua-sched-dispatch.c  coroutines, queues, resume, message dispatch,
 *                         protocols, the error and debug protocols
 *   lua-sched-deadline.c  the deadlines of calls with a timeout
 *   lua-sched-session.c   sessions, sending, replying, request bookkeeping
 *   lua-sched-smap.c      session maps (session -> waiting coroutine, address called)
 *   lua-sched-state.c     costate, trace lines, lazy modules, error payload
 * and below them all skynet.core (lua-skynet.c).
 */

/* lua-sched-state.c */
uint32_t sched_self(struct sched *s);
void sched_trace_line(lua_State *L, struct sched *s, int tag, const char *text);
struct costate *sched_costate_get(lua_State *L, struct sched *s, int co);
struct costate *sched_costate_set(lua_State *L, struct sched *s, int co);
int sched_co_tracetag(lua_State *L, struct sched *s, int co);
void sched_set_tracetag(lua_State *L, struct sched *s, int co);
void sched_clear_tracetag(lua_State *L, struct sched *s, int co);
void sched_push_address(lua_State *L, struct sched *s, int co);
void sched_set_address(lua_State *L, struct sched *s, int co, uint32_t address);
void sched_load_lazy(lua_State *L, struct sched *s, const char *name);
int sched_l_load_lazy(lua_State *L);
void sched_push_hook(lua_State *L, struct sched *s, const char *field, const char *module);
void sched_trace_event(lua_State *L, struct sched *s, int tag, const char *text);
void sched_push_error_payload(lua_State *L, struct sched *s, int err);

/* lua-sched-smap.c: get pushes the value (nil if none) and returns its
 * type; set pops the value (nil removes the session); next walks the map
 * from pos (0 first), pushing a value, and returns the pos to go on from
 * (0: done); push_table pushes a copy as a plain table.  SM_CO counts the
 * coroutines among its values and stores the count in the context
 * (skynet_context_set_tasks), where STAT task and the metrics endpoint
 * read it. */
int sched_smap_get(lua_State *L, struct sched *s, int which, lua_Integer session);
void sched_smap_set(lua_State *L, struct sched *s, int which, lua_Integer session);
int sched_smap_next(lua_State *L, struct sched *s, int which, int pos, lua_Integer *session);
int sched_smap_count(struct sched *s, int which);
void sched_smap_push_table(lua_State *L, struct sched *s, int which);

/* lua-sched-session.c */
int sched_send(lua_State *L, struct sched *s, int addr, int type, int session, int msg);
int sched_send_string(lua_State *L, struct sched *s, int addr, int type, int session, int str);
int sched_gen_session(lua_State *L, struct sched *s);
int sched_send_session(lua_State *L, struct sched *s, int addr, int type, int msg);
int sched_timer_session(lua_State *L, struct sched *s, int ti);
int sched_reply(lua_State *L, struct sched *s, int addr, int session, int msg);
int sched_reply_error(lua_State *L, struct sched *s, int addr, int session, int text);
int sched_l_send_session(lua_State *L);
int sched_l_timer_session(lua_State *L);
int sched_l_reply(lua_State *L);
int sched_l_reply_error(lua_State *L);
void sched_forget_request(lua_State *L, struct sched *s, int co);
void sched_break_session(lua_State *L, struct sched *s, lua_Integer session, int sleeper);
int sched_l_forget(lua_State *L);
int sched_l_break_session(lua_State *L);
int sched_l_watch(lua_State *L);
int sched_l_settle(lua_State *L);
int sched_l_take_request(lua_State *L);

/* lua-sched-deadline.c */
int sched_deadline_add(lua_State *L, struct sched *s, int session, int ti);
void sched_deadline_done(lua_State *L, struct sched *s, int slot, int session);
void sched_deadline_arm(lua_State *L, struct sched *s);
void sched_deadline_tick(lua_State *L, struct sched *s, int session);
int sched_deadline_expired(lua_State *L, struct sched *s, int *session, int *ti);
int sched_deadline_count(struct sched *s);

/* lua-sched-dispatch.c */
lua_State *sched_co_new(lua_State *L, struct sched *s, int f);
void sched_cqueue_push(lua_State *L, struct sched *s, int r, struct cqueue *q, int v);
void sched_fork_push(lua_State *L, struct sched *s, int co);
void sched_fork_clear(lua_State *L, struct sched *s);
int sched_l_forks(lua_State *L);
int sched_l_fork_remove(lua_State *L);
int sched_l_resume(lua_State *L);
int sched_l_running(lua_State *L);
int sched_l_set_running(lua_State *L);
int sched_l_init_thread(lua_State *L);
int sched_l_register_protocol(lua_State *L);
int sched_l_dispatch(lua_State *L);
int sched_l_dispatch_message(lua_State *L);
int sched_l_fail_source(lua_State *L);
int sched_l_call_stats(lua_State *L);
int sched_error_dispatch(lua_State *L);
int sched_l_identity(lua_State *L);
int sched_debug_dispatch(lua_State *L);

/* lua-sched-exit.c */
/* The registry field snlua calls when a killed service is released. */
#define SCHED_FAREWELL "skynet.farewell"
int sched_l_exit(lua_State *L);
int sched_l_farewell(lua_State *L);

/* lua-sched-api.c */
int sched_l_genid(lua_State *L);
int sched_l_timeout(lua_State *L);
int sched_l_sleep(lua_State *L);
int sched_l_yield(lua_State *L);
int sched_l_wait(lua_State *L);
int sched_l_wakeup(lua_State *L);
int sched_l_fork(lua_State *L);
int sched_l_send(lua_State *L);
int sched_l_call(lua_State *L);
int sched_l_call_timeout(lua_State *L);
int sched_l_wait_reply(lua_State *L);
int sched_l_ret(lua_State *L);
int sched_l_retpack(lua_State *L);
int sched_l_ignoreret(lua_State *L);
int sched_l_context(lua_State *L);
int sched_l_info_func(lua_State *L);
int sched_l_init_service(lua_State *L);
int sched_l_start(lua_State *L);

#pragma GCC visibility pop

#endif
