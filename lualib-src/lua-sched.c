/*
 * lua-sched.c -- `skynet.sched`: the scheduler and core API behind
 * lualib/skynet.lua (api-skynet.md §1-§4), in C.
 *
 * Why C: every service has its own Lua state and stock Lua cannot share
 * function prototypes between states, so each Lua function of the core
 * cost every service a few hundred bytes and its load time.  Here the API
 * is light C functions (no per-state cost but a table slot), which cut an
 * idle service by ~25 kB and its start by the bytecode load.
 *
 * Model (unchanged from the Lua version).  Each request runs its
 * protocol's dispatch function in a coroutine of its own, taken from a pool
 * of finished ones.  A coroutine that blocks (call, sleep, wait) yields
 * "SUSPEND" to the scheduler, which resumes it when the reply, the timer
 * or the wakeup for its session arrives.  After a coroutine suspends, queued
 * wakeups and failed sessions are dispatched; after each message, the
 * forked coroutines run.
 *
 * State.  The scheduler's tables are ordinary Lua tables, shared through
 * `require "skynet.internal"` (S) with the lazily loaded Lua modules
 * (skynet/ext.lua, introspect, request, response, exit, debug).  C reaches
 * them through registry references kept in `struct sched`.
 *
 * Errors never hang a caller, and say why: a request whose handler raises
 * is answered with PTYPE_ERROR whose payload is ":<callee>: <message>"
 * (first line, no traceback); the caller's skynet.call raises
 * "call to <addr> failed: <payload>" (S.call_fail in skynet/ext.lua).
 */
#include "lua-seri.h"
#include "skynet.h"

int luaopen_skynet_core(lua_State *L); /* lua-skynet.c */

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSION_DANGER 0x7fff0000

/* The protocol ids skynet.h calls "reserved" (they belong to Lua). */
#define PTYPE_QUEUE PTYPE_RESERVED_QUEUE
#define PTYPE_DEBUG PTYPE_RESERVED_DEBUG
#define PTYPE_LUA PTYPE_RESERVED_LUA
#define PTYPE_SNAX PTYPE_RESERVED_SNAX
#define PTYPE_TRACE 12

/* Registry references of the scheduler's Lua values. */
enum {
	R_PROTO,          /* name/id -> protocol class */
	R_SESSION_CO,     /* session -> waiting coroutine, or "BREAK" (drop the late reply) */
	R_CO_SESSION,     /* coroutine -> session of the request it must answer (0: a send) */
	R_COSTATES,       /* thread -> its costate userdata (weak keys) */
	R_WATCHING,       /* session of a call in flight -> address called */
	R_ERROR_TEXT,     /* session -> text of the PTYPE_ERROR that failed it */
	R_UNRESPONSE,     /* unused skynet.response closure -> requester address */
	R_SLEEP,          /* token -> session it sleeps/waits on */
	R_TRACE_SOURCE,   /* source -> trace tag announced by PTYPE_TRACE */
	R_FORKQ,          /* {h=, t=, ...} coroutines to run after the current message */
	R_WAKEUPQ,        /* tokens passed to skynet.wakeup (indices in struct sched) */
	R_ERRORQ,         /* sessions to fail (likewise) */
	R_POOL,           /* finished coroutines (weak values) */
	R_S,              /* skynet.internal */
	R_SKYNET,         /* the skynet table */
	R_RESUME,         /* coroutine.resume as it was at load (skynet.profile's) */
	R_LUA_REQUIRE,    /* the plain require, for the lazy modules */
	R_RUNNING,        /* the coroutine the scheduler resumed last */
	R_INIT_THREAD,    /* the coroutine running the start function */
	R_COUNT
};

/* Strings the hot paths use, kept interned (lua_getfield with a C string
 * would look each up in the string cache, strcmp included). */
enum { K_H, K_T, K_DISPATCH, K_UNPACK, K_PACK, K_ID, K_TRACE, K_NAME, K_TIMER_HOOK, K_SUSPEND, K_BREAK, K_COUNT };
static const char *const key_names[K_COUNT] = {"h",    "t",    "dispatch",   "unpack",  "pack", "id",
                                               "trace", "name", "timer_hook", "SUSPEND", "BREAK"};

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

/* One per service (a full userdata anchored in the registry). */
struct sched {
	struct cqueue wakeupq, errorq;
	int forks; /* the fork queue may be non-empty */
	struct costate main_co; /* the costate of threads that have none of their own */
	int trace_sources;      /* PTYPE_TRACE announcements were received */
	struct skynet_context *ctx;
	uint32_t self;       /* 0 until first asked */
	int careful;         /* sessions are near the wrap: allocate them one by one */
	const char *suspend; /* the interned "SUSPEND": compared by address */
	lua_State *running;  /* the thread in R_RUNNING, to skip rewriting it */
	int ref[R_COUNT];
	int key[K_COUNT];
};

static char sched_key;

static inline struct costate *costate_ptr(lua_State *co) { return *(struct costate **)lua_getextraspace(co); }

/* The service's scheduler.  snlua zeroes the main thread's extra space and
 * luaopen points it to main_co; threads created later inherit that.
 * Threads created before (rare) take the registry path. */
static struct sched *sched_get(lua_State *L) {
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

/* t[key] = the value on the top (popped), raw: for our own tables. */
static inline void set_rawfield(lua_State *L, struct sched *s, int t, int k) {
	t = lua_absindex(L, t);
	push_key(L, s, k);
	lua_insert(L, -2);
	lua_rawset(L, t);
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
static int ref_get(lua_State *L, struct sched *s, int r, int key) {
	key = lua_absindex(L, key);
	push_ref(L, s, r);
	lua_pushvalue(L, key);
	int t = lua_rawget(L, -2);
	lua_remove(L, -2);
	return t;
}

/* t[key] = value on the top (popped). */
static void ref_set(lua_State *L, struct sched *s, int r, int key) {
	key = lua_absindex(L, key);
	push_ref(L, s, r);
	lua_pushvalue(L, key);
	lua_rotate(L, -3, -1); /* table, key, value */
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

static void ref_clear(lua_State *L, struct sched *s, int r, int key) {
	key = lua_absindex(L, key);
	lua_pushnil(L);
	ref_set(L, s, r, key);
}

static int ref_geti(lua_State *L, struct sched *s, int r, lua_Integer i) {
	push_ref(L, s, r);
	int t = lua_rawgeti(L, -1, i);
	lua_remove(L, -2);
	return t;
}

static void ref_seti(lua_State *L, struct sched *s, int r, lua_Integer i) {
	push_ref(L, s, r);
	lua_rotate(L, -2, 1);
	lua_rawseti(L, -2, i);
	lua_pop(L, 1);
}

/* A registry reference must never hold nil (luaL_ref could hand the slot
 * out again), so "no thread" is stored as false and read back as nil. */
static void push_thread_ref(lua_State *L, struct sched *s, int r) {
	if (ref_type(L, s, r) == LUA_TBOOLEAN) {
		lua_pop(L, 1);
		lua_pushnil(L);
	}
}

static void set_thread_ref(lua_State *L, struct sched *s, int r) {
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 0);
	}
	set_ref(L, s, r);
}

static void push_running(lua_State *L, struct sched *s) { push_thread_ref(L, s, R_RUNNING); }

static void set_running(lua_State *L, struct sched *s, int co) {
	lua_State *t = lua_tothread(L, co);
	if (t != NULL && t == s->running)
		return; /* the pool hands out the same coroutine again and again */
	s->running = t;
	lua_pushvalue(L, co);
	set_thread_ref(L, s, R_RUNNING);
}

/* ---------------------------------------------------------------- */
/* Small helpers                                                     */

static uint64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The `<TRACE tag> <ns> text` log line (skynet.core's trace). */
static void trace_line(lua_State *L, struct sched *s, int tag, const char *text) {
	const char *t = lua_tostring(L, tag);
	skynet_error(s->ctx, "<TRACE %s> %llu %s", t ? t : "?", (unsigned long long)mono_ns(), text);
}

/* Pushes the trace tag of the coroutine at `co`: a string, false or nil. */
/* The costate of the thread at `co` to read: NULL when nothing is recorded. */
static struct costate *costate_get(lua_State *L, struct sched *s, int co) {
	lua_State *t = lua_tothread(L, co);
	if (t == NULL)
		return NULL;
	struct costate *c = costate_ptr(t);
	return c == &s->main_co ? NULL : c;
}

static struct costate *costate_new(lua_State *L, struct sched *s) {
	struct costate *c = lua_newuserdatauv(L, sizeof(*c), 0);
	c->s = s;
	c->address = 0;
	c->tag = TAG_NONE;
	return c;
}

/* The costate of the thread at `co` to write, made if the thread has none
 * yet.  It is anchored in R_COSTATES (weak keys), so it lives exactly as
 * long as its thread, whatever happens to the thread's stack (close,
 * reset).  NULL if `co` is no thread. */
static struct costate *costate_set(lua_State *L, struct sched *s, int co) {
	lua_State *t = lua_tothread(L, co);
	if (t == NULL)
		return NULL;
	struct costate *c = costate_ptr(t);
	if (c && c != &s->main_co)
		return c;
	co = lua_absindex(L, co);
	c = costate_new(L, s);
	ref_set(L, s, R_COSTATES, co);
	*(struct costate **)lua_getextraspace(t) = c;
	return c;
}

/* Pushes the trace tag of the coroutine at `co` (a string, false or nil);
 * returns its type. */
static int co_tracetag(lua_State *L, struct sched *s, int co) {
	struct costate *c = costate_get(L, s, co);
	if (c == NULL || c->tag == TAG_NONE) {
		lua_pushnil(L);
		return LUA_TNIL;
	}
	if (c->tag == TAG_OFF) {
		lua_pushboolean(L, 0);
		return LUA_TBOOLEAN;
	}
	return lua_rawgeti(L, LUA_REGISTRYINDEX, c->tag);
}

/* Sets the trace tag of the coroutine at `co` to the value on the top (popped). */
static void set_tracetag(lua_State *L, struct sched *s, int co) {
	co = lua_absindex(L, co);
	int nil = lua_isnil(L, -1);
	struct costate *c = nil ? costate_get(L, s, co) : costate_set(L, s, co);
	if (c == NULL) {
		lua_pop(L, 1);
		return;
	}
	if (c->tag > 0)
		luaL_unref(L, LUA_REGISTRYINDEX, c->tag);
	if (nil) {
		c->tag = TAG_NONE;
		lua_pop(L, 1);
	} else if (!lua_toboolean(L, -1)) {
		c->tag = TAG_OFF;
		lua_pop(L, 1);
	} else {
		c->tag = luaL_ref(L, LUA_REGISTRYINDEX);
	}
}

static void clear_tracetag(lua_State *L, struct sched *s, int co) {
	struct costate *c = costate_get(L, s, co);
	if (c && c->tag != TAG_NONE) {
		if (c->tag > 0)
			luaL_unref(L, LUA_REGISTRYINDEX, c->tag);
		c->tag = TAG_NONE;
	}
}

/* Pushes the address of the request the coroutine at `co` handles, or nil. */
static void push_address(lua_State *L, struct sched *s, int co) {
	struct costate *c = costate_get(L, s, co);
	if (c && c->address)
		lua_pushinteger(L, c->address);
	else
		lua_pushnil(L);
}

static void set_address(lua_State *L, struct sched *s, int co, uint32_t address) {
	struct costate *c = address ? costate_set(L, s, co) : costate_get(L, s, co);
	if (c)
		c->address = address;
}

/* The proxy tables S.session_coroutine_address / _tracetag: (t, co [, v]) */
static int address_index(lua_State *L) {
	push_address(L, sched_get(L), 2);
	return 1;
}

static int address_newindex(lua_State *L) {
	set_address(L, sched_get(L), 2, (uint32_t)luaL_optinteger(L, 3, 0));
	return 0;
}

static int tracetag_index(lua_State *L) {
	co_tracetag(L, sched_get(L), 2);
	return 1;
}

static int tracetag_newindex(lua_State *L) {
	lua_settop(L, 3);
	set_tracetag(L, sched_get(L), 2);
	return 0;
}

/* package.loaded[name] or require(name) with the plain require. */
static void load_lazy(lua_State *L, struct sched *s, const char *name) {
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 2);
	push_ref(L, s, R_LUA_REQUIRE);
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
}

static int l_load_lazy(lua_State *L) {
	load_lazy(L, sched_get(L), luaL_checkstring(L, 1));
	return 1;
}

/* Pushes S[field], loading `module` first if it is nil. */
static void push_hook(lua_State *L, struct sched *s, const char *field, const char *module) {
	push_ref(L, s, R_S);
	if (lua_getfield(L, -1, field) == LUA_TNIL && module) {
		lua_pop(L, 1);
		load_lazy(L, s, module);
		lua_pop(L, 1);
		lua_getfield(L, -1, field);
	}
	lua_remove(L, -2);
}

/* S.trace_event(tag, text, level): level 1 is S.trace_event, 2 our caller. */
static void trace_event(lua_State *L, struct sched *s, int tag, const char *text) {
	tag = lua_absindex(L, tag);
	push_hook(L, s, "trace_event", "skynet.introspect");
	lua_pushvalue(L, tag);
	lua_pushstring(L, text);
	lua_pushinteger(L, 2);
	lua_call(L, 3, 0);
}

static uint32_t self_handle(struct sched *s) {
	if (s->self == 0) {
		const char *r = skynet_command(s->ctx, "REG", NULL);
		s->self = r ? (uint32_t)strtoul(r + 1, NULL, 16) : 0;
	}
	return s->self;
}

/* Pushes the PTYPE_ERROR payload of this service for the error value at
 * `err`: ":<self>: " and the first line of its text. */
static void push_error_payload(lua_State *L, struct sched *s, int err) {
	size_t len;
	const char *text = luaL_tolstring(L, err, &len);
	const char *nl = memchr(text, '\n', len);
	int n = nl ? (int)(nl - text) : (int)len;
	char head[16];
	snprintf(head, sizeof(head), ":%08x: ", (unsigned)self_handle(s));
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addstring(&b, head);
	luaL_addlstring(&b, text, (size_t)n);
	luaL_pushresult(&b);
	lua_remove(L, -2);
}

static int l_error_payload(lua_State *L) {
	lua_settop(L, 1);
	push_error_payload(L, sched_get(L), 1);
	return 1;
}

/* ---------------------------------------------------------------- */
/* Sending                                                           */

#define SEND_NO_DEST (-1)
#define SEND_TOO_LARGE (-2)

/*
 * Sends the payload at `msg` (a string, a lightuserdata with its size at
 * msg+1, or nil/none for no payload) to the address at `addr` (a handle or
 * a name).  session < 0 allocates a new session.  Returns the session
 * (0 for a plain send), SEND_NO_DEST or SEND_TOO_LARGE.  A buffer handed
 * over (lightuserdata) belongs to the framework afterwards, sent or not.
 */
static int send_raw(lua_State *L, struct sched *s, int addr, int type, int session, int msg) {
	uint32_t dest = 0;
	const char *name = NULL;
	if (lua_type(L, addr) == LUA_TNUMBER) {
		dest = (uint32_t)lua_tointeger(L, addr);
		if (dest == 0)
			return luaL_error(L, "Invalid service address 0");
	} else {
		name = lua_tostring(L, addr);
		if (name == NULL)
			return luaL_error(L, "dest address type (%s) must be a string or number.",
			                  luaL_typename(L, addr));
	}
	if (session < 0) {
		type |= PTYPE_TAG_ALLOCSESSION;
		session = 0;
	}
	void *data = NULL;
	size_t len = 0;
	switch (lua_type(L, msg)) {
	case LUA_TSTRING:
		data = (void *)lua_tolstring(L, msg, &len);
		if (len == 0)
			data = NULL;
		break;
	case LUA_TLIGHTUSERDATA:
		data = lua_touserdata(L, msg);
		len = (size_t)luaL_checkinteger(L, msg + 1);
		type |= PTYPE_TAG_DONTCOPY;
		break;
	case LUA_TNONE:
	case LUA_TNIL:
		break;
	default:
		return luaL_error(L, "invalid param %s", luaL_typename(L, msg));
	}
	int r = name ? skynet_sendname(s->ctx, 0, name, type, session, data, len)
	             : skynet_send(s->ctx, 0, dest, type, session, data, len);
	if (r < 0)
		return r == -2 ? SEND_TOO_LARGE : SEND_NO_DEST;
	return r;
}

/* Pushes what skynet.core's send returns for r: the session, nil or false. */
static void push_send_result(lua_State *L, int r) {
	if (r >= 0)
		lua_pushinteger(L, r);
	else if (r == SEND_TOO_LARGE)
		lua_pushboolean(L, 0);
	else
		lua_pushnil(L);
}

/* Sends a text/string payload (PTYPE_ERROR and friends). */
static int send_string(lua_State *L, struct sched *s, int addr, int type, int session, int str) {
	return send_raw(L, s, lua_absindex(L, addr), type, session, lua_absindex(L, str));
}

static int next_session(struct sched *s) {
	return skynet_send(s->ctx, 0, 0, PTYPE_TAG_ALLOCSESSION, 0, NULL, 0);
}

static int session_waited(lua_State *L, struct sched *s, int session) {
	int t = ref_geti(L, s, R_SESSION_CO, session);
	lua_pop(L, 1);
	return t != LUA_TNIL;
}

/* Far from the wrap sessions only grow and cannot collide with one still
 * waiting; from SESSION_DANGER on they are allocated one by one, skipping
 * every value that still has a waiter (wire-messages.md §4). */
static int free_session(lua_State *L, struct sched *s) {
	int id;
	do
		id = next_session(s);
	while (session_waited(L, s, id));
	return id;
}

static int gen_session(lua_State *L, struct sched *s) {
	if (s->careful)
		return free_session(L, s);
	int id = next_session(s);
	if (id >= SESSION_DANGER)
		s->careful = 1;
	return id;
}

/* Sends with a new session. */
static int send_session(lua_State *L, struct sched *s, int addr, int type, int msg) {
	if (s->careful)
		return send_raw(L, s, addr, type, free_session(L, s), msg);
	int r = send_raw(L, s, addr, type, -1, msg);
	if (r >= SESSION_DANGER)
		s->careful = 1;
	return r;
}

/* S.send_session(addr, id, msg, sz) -> session | nil | false */
static int l_send_session(lua_State *L) {
	struct sched *s = sched_get(L);
	int type = (int)luaL_checkinteger(L, 2);
	lua_settop(L, 4);
	push_send_result(L, send_session(L, s, 1, type, 3));
	return 1;
}

/* The session of a timer of `ti` centiseconds (the value at index ti). */
static int timer_session(lua_State *L, struct sched *s, int ti) {
	int isint;
	lua_Integer t = lua_tointegerx(L, ti, &isint);
	if (!isint) {
		luaL_tolstring(L, ti, NULL);
		return luaL_error(L, "time must be an integer (centiseconds), got %s", lua_tostring(L, -1));
	}
	if (s->careful) {
		/* TIMEOUT takes the counter's next value: burn sessions until it is free */
		int id;
		do
			id = next_session(s);
		while (session_waited(L, s, id == 0x7fffffff ? 1 : id + 1));
	}
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%lld", (long long)t);
	const char *r = skynet_command(s->ctx, "TIMEOUT", tmp);
	int id = r ? (int)strtol(r, NULL, 10) : 0;
	if (id >= SESSION_DANGER)
		s->careful = 1;
	return id;
}

static int l_timer_session(lua_State *L) {
	lua_pushinteger(L, timer_session(L, sched_get(L), 1));
	return 1;
}

static int l_genid(lua_State *L) {
	lua_pushinteger(L, gen_session(L, sched_get(L)));
	return 1;
}

/* ---------------------------------------------------------------- */
/* Coroutines                                                        */

static int co_body(lua_State *L);

static int co_got_args(lua_State *L, int status, lua_KContext k) {
	(void)status;
	(void)k;
	return co_body(L);
}

static int co_got_function(lua_State *L, int status, lua_KContext k) {
	(void)status;
	(void)k;
	lua_settop(L, 1);
	return lua_yieldk(L, 0, 0, co_got_args);
}

/* The function (at 1) returned: clean up after the request, return to
 * the pool and wait (having yielded "SUSPEND") for the next function. */
static int co_finished(lua_State *L, int status, lua_KContext k) {
	(void)status;
	(void)k;
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	lua_pushthread(L);
	int co = lua_gettop(L);
	if (ref_get(L, s, R_CO_SESSION, co) == LUA_TNUMBER && lua_tointeger(L, -1) != 0) {
		lua_Debug ar;
		lua_pushvalue(L, 1);
		lua_getinfo(L, ">S", &ar);
		push_address(L, s, co);
		skynet_error(s->ctx, "Maybe forgot response session %lld from :%08x : %s:%d",
		             (long long)lua_tointeger(L, -2), (unsigned)lua_tointeger(L, -1), ar.short_src,
		             ar.linedefined);
		lua_pop(L, 1);
	}
	if (!lua_isnil(L, -1))
		ref_clear(L, s, R_CO_SESSION, co);
	lua_pop(L, 1);
	struct costate *c = costate_get(L, s, co);
	if (c) {
		if (c->tag != TAG_NONE) {
			if (c->tag > 0) {
				lua_rawgeti(L, LUA_REGISTRYINDEX, c->tag);
				trace_line(L, s, -1, "end");
				lua_pop(L, 1);
			}
			clear_tracetag(L, s, co);
		}
		c->address = 0;
	}
	push_ref(L, s, R_POOL);
	lua_pushvalue(L, co);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_settop(L, 0);
	push_key(L, s, K_SUSPEND);
	return lua_yieldk(L, 1, 0, co_got_function);
}

/* Stack: f, args...  Runs f(args...) and loops for the next function. */
static int co_body(lua_State *L) {
	int nargs = lua_gettop(L) - 1;
	lua_pushvalue(L, 1);
	lua_insert(L, 2);
	lua_callk(L, nargs, 0, 0, co_finished);
	return co_finished(L, LUA_OK, 0);
}

/* The main function of a new coroutine (upvalue 1: its first function):
 * the first resume's values are the function's arguments. */
static int co_start(lua_State *L) {
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	return co_body(L);
}

/* Pushes a coroutine that will run the function at `f` with the values of
 * its first resume. */
static lua_State *co_new(lua_State *L, struct sched *s, int f) {
	f = lua_absindex(L, f);
	push_ref(L, s, R_POOL);
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	if (n > 0) {
		if (lua_rawgeti(L, -1, n) == LUA_TTHREAD) {
			lua_State *co = lua_tothread(L, -1);
			lua_pushnil(L);
			lua_rawseti(L, -3, n);
			lua_remove(L, -2);
			lua_pushvalue(L, f);
			lua_xmove(L, co, 1);
			int nres;
			if (lua_resume(co, L, 1, &nres) == LUA_YIELD) {
				lua_pop(co, nres);
				return co;
			}
			lua_pop(L, 1); /* cannot happen: fall back to a new coroutine */
		} else {
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	lua_State *co = lua_newthread(L);
	costate_set(L, s, -1);
	lua_pushvalue(L, f);
	lua_pushcclosure(L, co_start, 1);
	lua_xmove(L, co, 1);
	return co;
}

static int l_noop(lua_State *L) {
	(void)L;
	return 0;
}

/*
 * Queues are Lua tables (they hold Lua values).  The fork queue keeps its
 * head and tail in fields h and t because skynet/exit.lua and introspect
 * edit it; s->forks says whether it may hold anything, so an ordinary
 * message does not look.  The wakeup and error queues are ours alone and
 * keep their indices in C.
 */
static void cqueue_push(lua_State *L, struct sched *s, int r, struct cqueue *q, int v) {
	v = lua_absindex(L, v);
	push_ref(L, s, r);
	lua_pushvalue(L, v);
	lua_rawseti(L, -2, ++q->t);
	lua_pop(L, 1);
}

static int cqueue_pop(lua_State *L, struct sched *s, int r, struct cqueue *q) {
	if (q->h > q->t) {
		q->h = 1;
		q->t = 0;
		return 0;
	}
	push_ref(L, s, r);
	lua_rawgeti(L, -1, q->h);
	lua_pushnil(L);
	lua_rawseti(L, -3, q->h);
	lua_remove(L, -2);
	q->h++;
	return 1;
}

static void queue_push(lua_State *L, struct sched *s, int r, int v) {
	if (r == R_FORKQ)
		s->forks = 1;
	v = lua_absindex(L, v);
	push_ref(L, s, r);
	get_rawfield(L, s, -1, K_T);
	lua_Integer t = lua_tointeger(L, -1) + 1;
	lua_pop(L, 1);
	lua_pushinteger(L, t);
	set_rawfield(L, s, -2, K_T);
	lua_pushvalue(L, v);
	lua_rawseti(L, -2, t);
	lua_pop(L, 1);
}

/* Pops the head of queue r onto the stack (returns 1), or resets the
 * queue and returns 0 when it is empty. */
static int queue_pop(lua_State *L, struct sched *s, int r) {
	push_ref(L, s, r);
	int q = lua_gettop(L);
	get_rawfield(L, s, q, K_H);
	lua_Integer h = lua_tointeger(L, -1);
	get_rawfield(L, s, q, K_T);
	lua_Integer t = lua_tointeger(L, -1);
	lua_pop(L, 2);
	if (h > t) {
		if (h != 1) {
			lua_pushinteger(L, 1);
			set_rawfield(L, s, q, K_H);
			lua_pushinteger(L, 0);
			set_rawfield(L, s, q, K_T);
		}
		lua_pop(L, 1);
		return 0;
	}
	lua_rawgeti(L, q, h);
	lua_pushnil(L);
	lua_rawseti(L, q, h);
	lua_pushinteger(L, h + 1);
	set_rawfield(L, s, q, K_H);
	lua_remove(L, q);
	return 1;
}

static void fork_noop(lua_State *L, struct sched *s) {
	lua_pushcfunction(L, l_noop);
	co_new(L, s, -1);
	queue_push(L, s, R_FORKQ, -1);
	lua_pop(L, 2);
}

/* The next coroutine woken by skynet.wakeup: pushes co and its 4 resume
 * values and returns 1, or returns 0. */
static int next_wakeup(lua_State *L, struct sched *s) {
	while (cqueue_pop(L, s, R_WAKEUPQ, &s->wakeupq)) {
		int token = lua_gettop(L);
		if (ref_get(L, s, R_SLEEP, token) != LUA_TNIL) {
			int session = lua_gettop(L);
			if (ref_get(L, s, R_SESSION_CO, session) == LUA_TTHREAD) {
				int co = lua_gettop(L);
				if (co_tracetag(L, s, co) == LUA_TSTRING)
					trace_line(L, s, -1, "resume");
				lua_pop(L, 1);
				push_key(L, s, K_BREAK);
				ref_set(L, s, R_SESSION_CO, session);
				lua_pushboolean(L, 0);
				push_key(L, s, K_BREAK);
				lua_pushnil(L);
				lua_pushvalue(L, session);
				lua_remove(L, token);
				lua_remove(L, token);
				return 1; /* co, false, "BREAK", nil, session */
			}
		}
		lua_settop(L, token - 1);
	}
	return 0;
}

/* The next call failed by PTYPE_ERROR: pushes co and its resume values. */
static int next_error(lua_State *L, struct sched *s) {
	while (cqueue_pop(L, s, R_ERRORQ, &s->errorq)) {
		int session = lua_gettop(L);
		if (ref_get(L, s, R_SESSION_CO, session) == LUA_TTHREAD) {
			ref_clear(L, s, R_SESSION_CO, session);
			lua_pushboolean(L, 0);
			lua_pushnil(L);
			lua_pushnil(L);
			lua_pushvalue(L, session);
			lua_remove(L, session);
			return 1; /* co, false, nil, nil, session */
		}
		lua_settop(L, session - 1);
	}
	return 0;
}

/* A coroutine died with the error at `err`: the requester (if any) is told,
 * queued wakeups still get dispatched (by a no-op fork), and the error is
 * raised with the coroutine's traceback. */
static int co_failed(lua_State *L, struct sched *s, int co, int err) {
	if (ref_get(L, s, R_CO_SESSION, co) != LUA_TNIL) {
		if (lua_tointeger(L, -1) != 0) {
			if (co_tracetag(L, s, co) == LUA_TSTRING)
				trace_line(L, s, -1, "error");
			lua_pop(L, 1);
			push_address(L, s, co);
			push_error_payload(L, s, err);
			send_string(L, s, -2, PTYPE_ERROR, (int)lua_tointeger(L, -3), -1);
			lua_pop(L, 2);
		}
		ref_clear(L, s, R_CO_SESSION, co);
	}
	lua_pop(L, 1);
	set_address(L, s, co, 0);
	clear_tracetag(L, s, co);
	fork_noop(L, s);
	lua_State *thread = lua_tothread(L, co);
	const char *msg = luaL_tolstring(L, err, NULL);
	luaL_traceback(L, thread, msg, 0);
#if LUA_VERSION_RELEASE_NUM >= 50406
	lua_closethread(thread, L);
#else
	lua_resetthread(thread);
#endif
	lua_settop(thread, 0); /* the reset leaves the error there: now it is dead */
	return lua_error(L);
}

/*
 * Stack top: co and nargs values.  Resumes co with them (through the
 * coroutine.resume seen at load, so skynet.profile and SIGNAL see it),
 * then, while co suspended with "SUSPEND", resumes the next woken or failed
 * coroutine.  Pops everything it was given.
 */
static void resume_settle(lua_State *L, struct sched *s, int nargs) {
	for (;;) {
		int co = lua_gettop(L) - nargs;
		set_running(L, s, co);
		push_ref(L, s, R_RESUME);
		lua_pushvalue(L, co);
		lua_rotate(L, co + 1, 2);
		lua_call(L, nargs + 1, LUA_MULTRET);
		if (!lua_toboolean(L, co + 1)) {
			lua_settop(L, co + 2);
			co_failed(L, s, co, co + 2);
		}
		int t = lua_gettop(L) > co + 1 ? lua_type(L, co + 2) : LUA_TNIL;
		const char *cmd = t == LUA_TSTRING ? lua_tostring(L, co + 2) : NULL;
		if (cmd == s->suspend) {
			lua_settop(L, co - 1);
			if (next_wakeup(L, s) || next_error(L, s)) {
				nargs = 4;
				continue;
			}
			return;
		}
		if (t == LUA_TNIL || (cmd && strcmp(cmd, "QUIT") == 0)) {
			lua_settop(L, co - 1);
			return; /* the service exited / a plain coroutine.yield(): stays suspended */
		}
		lua_State *thread = lua_tothread(L, co);
		if (cmd && strcmp(cmd, "USER") == 0) {
			luaL_traceback(L, thread, "Call skynet.coroutine.yield out of skynet.coroutine.resume", 0);
		} else {
			luaL_tolstring(L, co + 2, NULL);
			lua_pushfstring(L, "Unknown command : %s", lua_tostring(L, -1));
			luaL_traceback(L, thread, lua_tostring(L, -1), 0);
		}
		lua_error(L);
	}
}

/* S.resume(co, ...): resume with co as the running thread. */
static int l_resume(lua_State *L) {
	struct sched *s = sched_get(L);
	luaL_checktype(L, 1, LUA_TTHREAD);
	int n = lua_gettop(L);
	set_running(L, s, 1);
	push_ref(L, s, R_RESUME);
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

static int l_running(lua_State *L) {
	push_running(L, sched_get(L));
	return 1;
}

static int l_set_running(lua_State *L) {
	lua_settop(L, 1);
	set_running(L, sched_get(L), 1);
	return 0;
}

static int l_init_thread(lua_State *L) {
	push_thread_ref(L, sched_get(L), R_INIT_THREAD);
	return 1;
}

/* ---------------------------------------------------------------- */
/* Timers, sleep, wait, fork                                         */

static int l_timeout(lua_State *L) {
	struct sched *s = sched_get(L);
	luaL_checkany(L, 2);
	int session = timer_session(L, s, 1);
	co_new(L, s, 2);
	int co = lua_gettop(L);
	lua_pushvalue(L, co);
	ref_seti(L, s, R_SESSION_CO, session);
	push_ref(L, s, R_S);
	if (get_rawfield(L, s, -1, K_TIMER_HOOK) != LUA_TNIL) {
		lua_pushvalue(L, co);
		lua_pushinteger(L, session);
		lua_call(L, 2, 0);
	} else {
		lua_pop(L, 1);
	}
	lua_settop(L, co);
	return 1;
}

/* Blocks the running thread on `session` with the token at index 2.
 * On resume, k runs with the resume values above index 2. */
static int suspend_sleep(lua_State *L, struct sched *s, int session, lua_KFunction k) {
	if (ref_get(L, s, R_SLEEP, 2) != LUA_TNIL)
		return luaL_error(L, "token duplicative");
	lua_pop(L, 1);
	push_running(L, s);
	int rt = lua_gettop(L);
	if (co_tracetag(L, s, rt) == LUA_TSTRING)
		trace_event(L, s, -1, "sleep");
	lua_pop(L, 1);
	ref_seti(L, s, R_SESSION_CO, session);
	lua_pushinteger(L, session);
	ref_set(L, s, R_SLEEP, 2);
	lua_settop(L, 2);
	push_key(L, s, K_SUSPEND);
	return lua_yieldk(L, 1, session, k);
}

/* After sleep: nothing when the time passed, "BREAK" when woken. */
static int sleep_k(lua_State *L, int status, lua_KContext k) {
	(void)status;
	(void)k;
	ref_clear(L, sched_get(L), R_SLEEP, 2);
	if (!lua_toboolean(L, 3)) {
		lua_settop(L, 4);
		return 1;
	}
	return 0;
}

static int l_sleep(lua_State *L) {
	struct sched *s = sched_get(L);
	int session = timer_session(L, s, 1);
	lua_settop(L, 2);
	if (lua_isnil(L, 2)) {
		lua_pushthread(L);
		lua_replace(L, 2);
	}
	return suspend_sleep(L, s, session, sleep_k);
}

static int l_yield(lua_State *L) {
	lua_settop(L, 0);
	lua_pushinteger(L, 0);
	return l_sleep(L);
}

static int wait_k(lua_State *L, int status, lua_KContext k) {
	(void)status;
	struct sched *s = sched_get(L);
	ref_clear(L, s, R_SLEEP, 2);
	lua_pushnil(L);
	ref_seti(L, s, R_SESSION_CO, (lua_Integer)k);
	return 0;
}

/* wait(token): token lands at index 2 like sleep's. */
static int l_wait(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	if (lua_isnil(L, 1)) {
		lua_pushthread(L);
		lua_replace(L, 1);
	}
	lua_pushnil(L);
	lua_insert(L, 1);
	return suspend_sleep(L, s, gen_session(L, s), wait_k);
}

static int l_wakeup(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	if (ref_get(L, s, R_SLEEP, 1) == LUA_TNIL)
		return 0;
	cqueue_push(L, s, R_WAKEUPQ, &s->wakeupq, 1);
	lua_pushboolean(L, 1);
	return 1;
}

static int fork_k(lua_State *L, int status, lua_KContext k) {
	(void)L;
	(void)status;
	(void)k;
	return 0;
}

/* upvalue 1: the function; upvalue 2: table.pack of its arguments. */
static int fork_trampoline(lua_State *L) {
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, lua_upvalueindex(2));
	int args = lua_gettop(L);
	lua_getfield(L, args, "n");
	int n = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	luaL_checkstack(L, n, "too many arguments");
	for (int i = 1; i <= n; i++)
		lua_rawgeti(L, args, i);
	lua_remove(L, args);
	lua_callk(L, n, 0, 0, fork_k);
	return 0;
}

static int l_fork(lua_State *L) {
	struct sched *s = sched_get(L);
	int n = lua_gettop(L);
	luaL_checkany(L, 1);
	if (n > 1) {
		lua_createtable(L, n - 1, 1);
		for (int i = 2; i <= n; i++) {
			lua_pushvalue(L, i);
			lua_rawseti(L, -2, i - 1);
		}
		lua_pushinteger(L, n - 1);
		lua_setfield(L, -2, "n");
		lua_pushvalue(L, 1);
		lua_insert(L, -2);
		lua_pushcclosure(L, fork_trampoline, 2);
		lua_replace(L, 1);
	}
	co_new(L, s, 1);
	queue_push(L, s, R_FORKQ, -1);
	return 1;
}

/* ---------------------------------------------------------------- */
/* Protocols and dispatch                                            */

static int l_register_protocol(lua_State *L) {
	struct sched *s = sched_get(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_getfield(L, 1, "name"); /* 2 */
	lua_getfield(L, 1, "id");   /* 3 */
	int isint = 0;
	lua_Integer id = lua_type(L, 3) == LUA_TNUMBER ? lua_tointegerx(L, 3, &isint) : 0;
	if (lua_type(L, 2) != LUA_TSTRING || !isint || id < 0 || id > 255) {
		lua_pushliteral(L, "register_protocol needs a string name and an id in 0..255");
		return lua_error(L);
	}
	push_ref(L, s, R_PROTO); /* 4 */
	lua_pushvalue(L, 2);
	int by_name = lua_rawget(L, 4);
	int by_id = lua_rawgeti(L, 4, id);
	if (by_name != LUA_TNIL || by_id != LUA_TNIL) {
		lua_pushliteral(L, "protocol already registered");
		return lua_error(L);
	}
	lua_pop(L, 2);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 1);
	lua_rawset(L, 4);
	lua_pushvalue(L, 1);
	lua_rawseti(L, 4, id);
	return 0;
}

/* Pushes proto[key] for the value at `key` (nil if unknown). */
static int push_proto(lua_State *L, struct sched *s, int key) { return ref_get(L, s, R_PROTO, key); }

static int l_dispatch(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 2);
	int known = push_proto(L, s, 1) == LUA_TTABLE;
	if (!lua_isnil(L, 2)) {
		if (!known)
			return luaL_error(L, "unknown protocol %s", luaL_tolstring(L, 1, NULL));
		get_field(L, s, 3, K_DISPATCH);
		push_key(L, s, K_DISPATCH);
		lua_pushvalue(L, 2);
		lua_settable(L, 3);
		return 1;
	}
	if (!known)
		return 1; /* nil */
	get_field(L, s, 3, K_DISPATCH);
	return 1;
}

static void call_unknown(lua_State *L, struct sched *s, const char *hook, int nargs) {
	push_hook(L, s, hook, "skynet.ext");
	lua_insert(L, -nargs - 1);
	lua_call(L, nargs, 0);
}

/* raw_dispatch(prototype, msg, sz, session, source) */
static int raw_dispatch(lua_State *L) {
	struct sched *s = sched_get(L);
	int prototype = (int)lua_tointeger(L, 1);
	lua_Integer session = lua_tointeger(L, 4);
	lua_settop(L, 5);
	if (prototype == PTYPE_RESPONSE) {
		int t = ref_geti(L, s, R_SESSION_CO, session);
		if (t == LUA_TTHREAD) {
			int co = lua_gettop(L);
			if (co_tracetag(L, s, co) == LUA_TSTRING)
				trace_line(L, s, -1, "resume");
			lua_pop(L, 1);
			lua_pushnil(L);
			ref_seti(L, s, R_SESSION_CO, session);
			lua_pushboolean(L, 1);
			lua_pushvalue(L, 2);
			lua_pushvalue(L, 3);
			lua_pushinteger(L, session);
			resume_settle(L, s, 4);
		} else if (t == LUA_TNIL) {
			lua_pushinteger(L, session);
			lua_pushvalue(L, 5);
			lua_pushvalue(L, 2);
			lua_pushvalue(L, 3);
			call_unknown(L, s, "unknown_response", 4);
		} else { /* "BREAK": the waiter gave up, drop the late reply */
			lua_pushnil(L);
			ref_seti(L, s, R_SESSION_CO, session);
		}
		return 0;
	}
	int p = lua_gettop(L) + 1;
	ref_geti(L, s, R_PROTO, prototype);
	int f = p + 1;
	if (lua_type(L, p) == LUA_TTABLE)
		get_field(L, s, p, K_DISPATCH);
	else
		lua_pushnil(L);
	if (lua_isnil(L, f)) {
		if (prototype == PTYPE_TRACE) { /* tags the next request from source */
			lua_pushlstring(L, lua_touserdata(L, 2), (size_t)lua_tointeger(L, 3));
			ref_set(L, s, R_TRACE_SOURCE, 5);
			s->trace_sources = 1;
		} else if (session != 0) {
			if (lua_type(L, p) == LUA_TTABLE)
				get_field(L, s, p, K_NAME);
			else
				lua_pushinteger(L, prototype);
			lua_pushfstring(L, "no dispatch for protocol %s", luaL_tolstring(L, -1, NULL));
			push_error_payload(L, s, -1);
			send_string(L, s, 5, PTYPE_ERROR, (int)session, -1);
		} else {
			lua_pushinteger(L, session);
			lua_pushvalue(L, 5);
			lua_pushvalue(L, 2);
			lua_pushvalue(L, 3);
			lua_pushinteger(L, prototype);
			call_unknown(L, s, "unknown_request", 5);
		}
		return 0;
	}
	co_new(L, s, f);
	int co = lua_gettop(L);
	lua_pushinteger(L, session);
	ref_set(L, s, R_CO_SESSION, co);
	set_address(L, s, co, (uint32_t)lua_tointeger(L, 5));
	int traceflag = get_field(L, s, p, K_TRACE);
	if (traceflag == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
		if (s->trace_sources)
			ref_clear(L, s, R_TRACE_SOURCE, 5);
		lua_pushboolean(L, 0);
		set_tracetag(L, s, co);
	} else {
		int on = lua_toboolean(L, -1);
		if (s->trace_sources && ref_get(L, s, R_TRACE_SOURCE, 5) != LUA_TNIL) {
			ref_clear(L, s, R_TRACE_SOURCE, 5);
			trace_line(L, s, -1, "request");
			set_tracetag(L, s, co);
		} else if (on) {
			set_running(L, s, co);
			push_ref(L, s, R_SKYNET);
			lua_getfield(L, -1, "trace");
			lua_call(L, 0, 0);
			lua_pop(L, 1);
		}
	}
	lua_settop(L, co);
	/* start the request with the unpacked payload; if unpacking fails the
	 * requester gets the error instead of waiting forever */
	lua_pushinteger(L, session);
	lua_pushvalue(L, 5);
	int base = lua_gettop(L);
	get_field(L, s, p, K_UNPACK);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	if (lua_pcall(L, 2, LUA_MULTRET, 0) == LUA_OK) {
		resume_settle(L, s, lua_gettop(L) - co);
		return 0;
	}
	int err = lua_gettop(L);
	ref_clear(L, s, R_CO_SESSION, co);
	set_address(L, s, co, 0);
	clear_tracetag(L, s, co);
	(void)base;
	lua_pushfstring(L, "unpack error: %s", luaL_tolstring(L, err, NULL));
	if (session != 0) {
		push_error_payload(L, s, -1);
		send_string(L, s, 5, PTYPE_ERROR, (int)session, -1);
		lua_pop(L, 1);
	}
	return lua_error(L);
}

/* Runs the forked coroutine at 1 until it suspends. */
static int run_fork(lua_State *L) {
	resume_settle(L, sched_get(L), 0);
	return 0;
}

/* The message callback: dispatch, then run the forked coroutines. */
static int l_dispatch_message(lua_State *L) {
	struct sched *s = sched_get(L);
	int n = lua_gettop(L);
	lua_pushcfunction(L, raw_dispatch);
	lua_insert(L, 1);
	int ok = lua_pcall(L, n, 0, 0) == LUA_OK;
	if (ok)
		lua_pushnil(L);
	int err = lua_gettop(L); /* the error so far */
	while (s->forks && queue_pop(L, s, R_FORKQ)) {
		lua_pushcfunction(L, run_fork);
		lua_insert(L, -2);
		if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
			if (ok) {
				luaL_tolstring(L, -1, NULL);
			} else {
				luaL_tolstring(L, err, NULL);
				lua_pushliteral(L, "\n");
				luaL_tolstring(L, -3, NULL);
				lua_concat(L, 3);
			}
			lua_replace(L, err);
			lua_settop(L, err);
			ok = 0;
		}
	}
	s->forks = 0;
	if (!ok)
		return lua_error(L);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Sending and calling                                               */

/* Packs the values from `first` to the top with p.pack; leaves msg, sz. */
static void pack_args(lua_State *L, struct sched *s, int p, int first) {
	get_field(L, s, p, K_PACK);
	lua_insert(L, first);
	lua_call(L, lua_gettop(L) - first, 2);
}

/* Pushes proto[typename at idx] or raises "unknown protocol". */
static int check_proto(lua_State *L, struct sched *s, int idx) {
	if (push_proto(L, s, idx) != LUA_TTABLE)
		return luaL_error(L, "unknown protocol %s", luaL_tolstring(L, idx, NULL));
	return lua_gettop(L);
}

static int proto_id(lua_State *L, struct sched *s, int p) {
	get_field(L, s, p, K_ID);
	int id = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	return id;
}

/* send(addr, typename, ...) */
static int l_send(lua_State *L) {
	struct sched *s = sched_get(L);
	int n = lua_gettop(L);
	if (n < 2)
		lua_settop(L, n = 2);
	int p = check_proto(L, s, 2);
	lua_insert(L, 3); /* p at 3, args from 4 */
	int id = proto_id(L, s, 3);
	pack_args(L, s, 3, 4);
	push_send_result(L, send_raw(L, s, 1, id, 0, 4));
	(void)p;
	return 1;
}

/* call_fail(addr, session): raises the error of a failed call (S.call_fail,
 * from skynet/ext.lua) at the level of our caller. */
static int call_fail(lua_State *L, struct sched *s, int addr, int r) {
	addr = lua_absindex(L, addr);
	push_hook(L, s, "call_fail", "skynet.ext");
	lua_pushvalue(L, addr);
	if (r >= 0)
		lua_pushinteger(L, r);
	else
		push_send_result(L, r);
	lua_call(L, 2, 0);
	return 0;
}

/* The waiting half of call/wait_reply: stack holds addr at 1, the session
 * at `sidx`; the resume values (ok, msg, sz, session) land above `top`. */
static int wait_reply(lua_State *L, struct sched *s, int session, lua_KFunction k) {
	lua_pushvalue(L, 1);
	ref_seti(L, s, R_WATCHING, session);
	push_running(L, s);
	ref_seti(L, s, R_SESSION_CO, session);
	int top = lua_gettop(L);
	push_key(L, s, K_SUSPEND);
	return lua_yieldk(L, 1, top, k);
}

/* Stack: addr, p, session, then ok, msg, sz, session from the resume. */
static int call_k(lua_State *L, int status, lua_KContext top) {
	(void)status;
	struct sched *s = sched_get(L);
	int session = (int)lua_tointeger(L, 3);
	lua_pushnil(L);
	ref_seti(L, s, R_WATCHING, session);
	if (lua_toboolean(L, (int)top + 1)) {
		int base = (int)top;
		get_field(L, s, 2, K_UNPACK);
		lua_pushvalue(L, base + 2);
		lua_pushvalue(L, base + 3);
		lua_call(L, 2, LUA_MULTRET);
		return lua_gettop(L) - base - 4;
	}
	return call_fail(L, s, 1, session);
}

/* call(addr, typename, ...) */
static int l_call(lua_State *L) {
	struct sched *s = sched_get(L);
	if (lua_gettop(L) < 2)
		lua_settop(L, 2);
	push_running(L, s);
	if (co_tracetag(L, s, -1) == LUA_TSTRING) {
		int tag = lua_gettop(L);
		trace_event(L, s, tag, "call");
		send_string(L, s, 1, PTYPE_TRACE, 0, tag);
	}
	lua_pop(L, 2);
	check_proto(L, s, 2);
	lua_replace(L, 2); /* p at 2, args from 3 */
	int id = proto_id(L, s, 2);
	pack_args(L, s, 2, 3);
	int r = send_session(L, s, 1, id, 3);
	lua_settop(L, 2);
	if (r < 0)
		return call_fail(L, s, 1, r);
	lua_pushinteger(L, r); /* 3 */
	return wait_reply(L, s, r, call_k);
}

/* S.wait_reply(addr, session) -> ok, msg, sz */
static int wait_reply_k(lua_State *L, int status, lua_KContext top) {
	(void)status;
	struct sched *s = sched_get(L);
	lua_pushnil(L);
	ref_seti(L, s, R_WATCHING, lua_tointeger(L, 2));
	lua_settop(L, (int)top + 3);
	return 3;
}

static int l_wait_reply(lua_State *L) {
	struct sched *s = sched_get(L);
	int session = (int)luaL_checkinteger(L, 2);
	lua_settop(L, 2);
	return wait_reply(L, s, session, wait_reply_k);
}

/* ---------------------------------------------------------------- */
/* Replying                                                          */

/* ret(msg, sz) */
static int l_ret(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 2);
	if (lua_isnil(L, 1)) {
		lua_pushliteral(L, "");
		lua_replace(L, 1);
	}
	push_running(L, s); /* 3 */
	if (co_tracetag(L, s, 3) == LUA_TSTRING)
		trace_line(L, s, -1, "response");
	lua_pop(L, 1);
	if (ref_get(L, s, R_CO_SESSION, 3) == LUA_TNIL) /* 4 */
		return luaL_error(L, "No session");
	int session = (int)lua_tointeger(L, 4);
	ref_clear(L, s, R_CO_SESSION, 3);
	if (session == 0) {
		if (!lua_isnil(L, 2) && lua_type(L, 1) == LUA_TLIGHTUSERDATA)
			skynet_free(lua_touserdata(L, 1));
		lua_pushboolean(L, 0);
		return 1; /* the request was a send */
	}
	push_address(L, s, 3); /* 5 */
	int r = send_raw(L, s, 5, PTYPE_RESPONSE, session, 1);
	if (r >= 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	if (r == SEND_TOO_LARGE) { /* the caller gets an error instead */
		lua_pushliteral(L, "response too large");
		push_error_payload(L, s, -1);
		send_string(L, s, 5, PTYPE_ERROR, session, -1);
	}
	lua_pushboolean(L, 0);
	return 1;
}

static int l_retpack(lua_State *L) {
	int n = lua_gettop(L);
	lua_pushcfunction(L, luaseri_pack);
	lua_insert(L, 1);
	lua_call(L, n, 2);
	return l_ret(L);
}

static int l_ignoreret(lua_State *L) {
	struct sched *s = sched_get(L);
	push_running(L, s);
	ref_clear(L, s, R_CO_SESSION, -1);
	return 0;
}

static int l_context(lua_State *L) {
	struct sched *s = sched_get(L);
	push_running(L, s);
	int co = lua_gettop(L);
	ref_get(L, s, R_CO_SESSION, co);
	push_address(L, s, co);
	return 2;
}

/* ---------------------------------------------------------------- */
/* The error protocol: PTYPE_ERROR with session s fails the call waiting on
 * s; with session 0 it means "the source is dead": every call waiting on
 * it fails and the responses owed to it become invalid.                */

static void push_error(lua_State *L, struct sched *s, int session, int text) {
	session = lua_absindex(L, session);
	text = lua_absindex(L, text);
	cqueue_push(L, s, R_ERRORQ, &s->errorq, session);
	lua_pushvalue(L, text);
	ref_set(L, s, R_ERROR_TEXT, session);
}

/* fail_source(source, text) */
static int l_fail_source(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 2);
	push_ref(L, s, R_UNRESPONSE); /* 3 */
	lua_pushnil(L);
	while (lua_next(L, 3)) {
		if (lua_compare(L, -1, 1, LUA_OPEQ)) {
			lua_pushvalue(L, -2);
			lua_pushnil(L);
			lua_rawset(L, 3); /* clearing a field during traversal is allowed */
		}
		lua_pop(L, 1);
	}
	push_ref(L, s, R_WATCHING); /* 4 */
	lua_pushnil(L);
	while (lua_next(L, 4)) {
		if (lua_compare(L, -1, 1, LUA_OPEQ))
			push_error(L, s, -2, 2);
		lua_pop(L, 1);
	}
	return 0;
}

/* dispatch of PTYPE_ERROR: (session, source, msg, sz) */
static int error_dispatch(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 4);
	push_running(L, s);
	ref_clear(L, s, R_CO_SESSION, -1); /* never answer an error */
	lua_pop(L, 1);
	lua_Integer sz = lua_tointeger(L, 4);
	if (sz > 0)
		lua_pushlstring(L, lua_touserdata(L, 3), (size_t)sz);
	else
		lua_pushnil(L);
	int text = lua_gettop(L);
	if (lua_tointeger(L, 1) == 0) {
		lua_pushcfunction(L, l_fail_source);
		lua_pushvalue(L, 2);
		lua_pushvalue(L, text);
		lua_call(L, 2, 0);
	} else if (ref_get(L, s, R_WATCHING, 1) != LUA_TNIL) {
		push_error(L, s, 1, text);
	}
	return 0;
}

static int l_identity(lua_State *L) { return lua_gettop(L); }

static int return_all_k(lua_State *L, int status, lua_KContext base) {
	(void)status;
	return lua_gettop(L) - (int)base;
}

/* The debug protocol's commands are loaded by the first debug message. */
static int debug_dispatch(lua_State *L) {
	struct sched *s = sched_get(L);
	int n = lua_gettop(L);
	load_lazy(L, s, "skynet.debug");
	lua_getfield(L, -1, "dispatch");
	lua_remove(L, -2);
	lua_insert(L, 1);
	lua_callk(L, n, LUA_MULTRET, 0, return_all_k);
	return lua_gettop(L);
}

/* ---------------------------------------------------------------- */
/* Exit and start                                                    */

/* The exit sequence is in skynet/exit.lua (loaded when needed); if even
 * that load fails (say, at the memory limit) the service still retires. */
static int l_exit(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 0);
	lua_pushcfunction(L, l_load_lazy);
	lua_pushliteral(L, "skynet.exit");
	if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
		lua_callk(L, 0, 0, 0, fork_k);
		return 0;
	}
	skynet_command(s->ctx, "EXIT", NULL);
	if (lua_pushthread(L) == 0) { /* not the main thread */
		lua_pushliteral(L, "QUIT");
		return lua_yieldk(L, 1, 0, fork_k);
	}
	return 0;
}

static int l_info_func(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	push_ref(L, s, R_S);
	lua_insert(L, 1);
	lua_setfield(L, 1, "info_func");
	return 0;
}

static int traceback_handler(lua_State *L) {
	const char *msg = lua_tostring(L, 1);
	if (msg == NULL && !lua_isnoneornil(L, 1))
		return 1; /* a non-string error object goes through untouched */
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* init_main(start): the skynet.init functions, then start. */
static int init_main_started(lua_State *L, int status, lua_KContext k) {
	(void)L;
	(void)status;
	(void)k;
	return 0;
}

static int init_main_inits_done(lua_State *L, int status, lua_KContext k) {
	(void)status;
	(void)k;
	lua_pushvalue(L, 1);
	lua_callk(L, 0, 0, 0, init_main_started);
	return 0;
}

static int init_main(lua_State *L) {
	lua_settop(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_getfield(L, -1, "skynet.require");
	lua_getfield(L, -1, "init_all");
	lua_replace(L, 2);
	lua_settop(L, 2);
	lua_callk(L, 0, 0, 0, init_main_inits_done);
	return init_main_inits_done(L, LUA_OK, 0);
}

static void send_launcher(lua_State *L, struct sched *s, int nargs) {
	int first = lua_gettop(L) - nargs + 1;
	lua_pushliteral(L, ".launcher");
	lua_insert(L, first);
	lua_pushcfunction(L, luaseri_pack);
	lua_insert(L, first + 1);
	lua_call(L, nargs, 2);
	send_raw(L, s, first, PTYPE_LUA, 0, first + 1);
	lua_settop(L, first - 1);
}

/* Reports LAUNCHOK to .launcher; on error logs "init service failed: ...",
 * sends .launcher ERROR with the message (the newservice caller's error
 * then says why) and exits. */
static int init_service_k(lua_State *L, int status, lua_KContext k) {
	(void)k;
	struct sched *s = sched_get(L);
	if (status == LUA_OK || status == LUA_YIELD) {
		lua_settop(L, 0);
		lua_pushliteral(L, "LAUNCHOK");
		send_launcher(L, s, 1);
		return 0;
	}
	const char *err = luaL_tolstring(L, -1, NULL);
	skynet_error(s->ctx, "init service failed: %s", err);
	const char *nl = strchr(err, '\n');
	lua_pushliteral(L, "ERROR");
	lua_pushlstring(L, err, nl ? (size_t)(nl - err) : strlen(err));
	send_launcher(L, s, 2);
	lua_settop(L, 0);
	lua_pushcfunction(L, l_exit);
	lua_callk(L, 0, 0, 0, fork_k);
	return 0;
}

static int l_init_service(lua_State *L) {
	lua_settop(L, 1);
	lua_pushcfunction(L, traceback_handler); /* 2 */
	lua_pushcfunction(L, init_main);
	lua_pushvalue(L, 1);
	int st = lua_pcallk(L, 1, 0, 2, 0, init_service_k);
	return init_service_k(L, st, 0);
}

static int init_thread_done(lua_State *L, int status, lua_KContext k) {
	(void)status;
	(void)k;
	struct sched *s = sched_get(L);
	lua_pushnil(L);
	set_thread_ref(L, s, R_INIT_THREAD);
	return 0;
}

/* upvalue 1: the start function */
static int init_thread_body(lua_State *L) {
	lua_pushcfunction(L, l_init_service);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_callk(L, 1, 0, 0, init_thread_done);
	return init_thread_done(L, LUA_OK, 0);
}

static int l_start(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_getfield(L, -1, "skynet.core");
	lua_getfield(L, -1, "callback");
	lua_pushcfunction(L, l_dispatch_message);
	lua_call(L, 1, 0);
	lua_settop(L, 1);
	lua_pushcfunction(L, l_timeout);
	lua_pushinteger(L, 0);
	lua_pushvalue(L, 1);
	lua_pushcclosure(L, init_thread_body, 1);
	lua_call(L, 2, 1);
	set_thread_ref(L, s, R_INIT_THREAD);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Small API                                                         */

static int l_self(lua_State *L) {
	lua_pushinteger(L, self_handle(sched_get(L)));
	return 1;
}

static int l_address(lua_State *L) {
	if (lua_type(L, 1) == LUA_TNUMBER) {
		int isint;
		lua_Integer a = lua_tointegerx(L, 1, &isint);
		if (!isint)
			return luaL_error(L, "bad argument #1 to 'address' (number has no integer representation)");
		char tmp[32];
		snprintf(tmp, sizeof(tmp), ":%08llx", (unsigned long long)a);
		lua_pushstring(L, tmp);
		return 1;
	}
	luaL_tolstring(L, 1, NULL);
	return 1;
}

static int l_getenv(lua_State *L) {
	struct sched *s = sched_get(L);
	const char *v = skynet_command(s->ctx, "GETENV", luaL_checkstring(L, 1));
	if (v)
		lua_pushstring(L, v);
	else
		lua_pushnil(L);
	return 1;
}

/* Names looked up lazily through the skynet table's __index, one string per
 * module (cheaper than a table of keys in every service). */
static const struct {
	const char *module;
	const char *names;
} lazy_names[] = {
	{"skynet.ext", " newservice uniqueservice queryservice localname setenv starttime time stat mqlen "
	               "endless memlimit term rawcall rawsend redirect dispatch_unknown_request "
	               "dispatch_unknown_response cache "},
	{"skynet.introspect", " task uniqtask killthread trace_timeout trace tracetag tracelog traceproto tracecall "},
	{"skynet.request", " request "},
	{"skynet.response", " response "},
};

static int lazy_index(lua_State *L) {
	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	size_t len;
	const char *k = lua_tolstring(L, 2, &len);
	if (len == 0 || len > 64)
		return 0;
	char key[68];
	key[0] = ' ';
	memcpy(key + 1, k, len);
	key[len + 1] = ' ';
	key[len + 2] = '\0';
	for (size_t i = 0; i < sizeof(lazy_names) / sizeof(lazy_names[0]); i++) {
		if (strstr(lazy_names[i].names, key)) {
			load_lazy(L, sched_get(L), lazy_names[i].module);
			lua_pop(L, 1);
			lua_pushvalue(L, 2);
			lua_rawget(L, 1);
			return 1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Module                                                            */

/* Pushes module `name`: package.loaded's, else loaded by the plain require
 * (skynet.require's lua_require, which never yields). */
static void require_plain(lua_State *L, const char *name) {
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	if (lua_getfield(L, -1, "skynet.require") != LUA_TTABLE || lua_getfield(L, -1, "lua_require") != LUA_TFUNCTION) {
		lua_settop(L, lua_gettop(L) - 2);
		lua_getglobal(L, "require");
	} else {
		lua_remove(L, -2);
	}
	lua_remove(L, -2);
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
}

static int new_ref_table(lua_State *L, struct sched *s, int r, const char *s_field) {
	lua_newtable(L);
	if (s_field) {
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, s_field); /* S is just below */
	}
	s->ref[r] = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* S[name]: an empty table whose reads and writes go to C. */
static void new_proxy(lua_State *L, const char *name, lua_CFunction index, lua_CFunction newindex) {
	lua_newtable(L);
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, newindex);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -2);
	lua_setfield(L, -2, name); /* S is just below */
}

static void new_queue(lua_State *L, struct sched *s, int r, const char *s_field) {
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, 1);
	lua_setfield(L, -2, "h");
	lua_pushinteger(L, 0);
	lua_setfield(L, -2, "t");
	if (s_field) {
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, s_field);
	}
	s->ref[r] = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void register_builtin(lua_State *L, const char *name, int id, int with_pack, lua_CFunction unpack,
                             lua_CFunction dispatch) {
	lua_pushcfunction(L, l_register_protocol);
	lua_createtable(L, 0, 5);
	lua_pushstring(L, name);
	lua_setfield(L, -2, "name");
	lua_pushinteger(L, id);
	lua_setfield(L, -2, "id");
	if (with_pack) {
		lua_pushcfunction(L, luaseri_pack);
		lua_setfield(L, -2, "pack");
	}
	if (unpack) {
		lua_pushcfunction(L, unpack);
		lua_setfield(L, -2, "unpack");
	}
	if (dispatch) {
		lua_pushcfunction(L, dispatch);
		lua_setfield(L, -2, "dispatch");
	}
	lua_call(L, 1, 0);
}

int luaopen_skynet_sched(lua_State *L) {
	luaL_checkversion(L);
	lua_getfield(L, LUA_REGISTRYINDEX, "skynet_context");
	struct skynet_context *ctx = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (ctx == NULL)
		return luaL_error(L, "Init skynet context first");

	struct sched *s = lua_newuserdatauv(L, sizeof(*s), 0);
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	lua_rawsetp(L, LUA_REGISTRYINDEX, &sched_key);
	for (int k = 0; k < K_COUNT; k++) {
		lua_pushstring(L, key_names[k]);
		if (k == K_SUSPEND)
			s->suspend = lua_tostring(L, -1);
		s->key[k] = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	s->main_co.s = s;
	*(struct costate **)lua_getextraspace(L) = &s->main_co;
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	*(struct costate **)lua_getextraspace(lua_tothread(L, -1)) = &s->main_co;
	lua_pop(L, 1);

	require_plain(L, "skynet.require");
	int sreq = lua_gettop(L);
	luaL_requiref(L, "skynet.core", luaopen_skynet_core, 0); /* same library: no path search */
	int core = lua_gettop(L);

	/* S, the internal table of the lazy modules */
	lua_createtable(L, 0, 24);
	int S = lua_gettop(L);
	new_ref_table(L, s, R_PROTO, "proto");
	new_ref_table(L, s, R_SESSION_CO, "session_id_coroutine");
	new_ref_table(L, s, R_CO_SESSION, "session_coroutine_id");
	new_proxy(L, "session_coroutine_address", address_index, address_newindex);
	new_proxy(L, "session_coroutine_tracetag", tracetag_index, tracetag_newindex);
	lua_newtable(L); /* R_COSTATES: weak keys */
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	s->ref[R_COSTATES] = luaL_ref(L, LUA_REGISTRYINDEX);
	new_ref_table(L, s, R_WATCHING, "watching_session");
	new_ref_table(L, s, R_ERROR_TEXT, "error_text");
	new_ref_table(L, s, R_UNRESPONSE, "unresponse");
	new_ref_table(L, s, R_SLEEP, "sleep_session");
	new_ref_table(L, s, R_TRACE_SOURCE, NULL);
	new_queue(L, s, R_FORKQ, "fork_queue");
	new_ref_table(L, s, R_WAKEUPQ, NULL);
	new_ref_table(L, s, R_ERRORQ, NULL);
	s->wakeupq.h = s->errorq.h = 1;
	lua_newtable(L); /* the coroutine pool, weak values */
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "v");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	s->ref[R_POOL] = luaL_ref(L, LUA_REGISTRYINDEX);
	luaL_Reg internal[] = {
		{"resume", l_resume},
		{"running", l_running},
		{"set_running", l_set_running},
		{"init_thread", l_init_thread},
		{"send_session", l_send_session},
		{"timer_session", l_timer_session},
		{"wait_reply", l_wait_reply},
		{"fail_source", l_fail_source},
		{"error_payload", l_error_payload},
		{NULL, NULL},
	};
	luaL_setfuncs(L, internal, 0);
	lua_pushvalue(L, S);
	s->ref[R_S] = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_pushvalue(L, S);
	lua_setfield(L, -2, "skynet.internal");
	lua_pop(L, 1);

	lua_getglobal(L, "coroutine");
	lua_getfield(L, -1, "resume");
	s->ref[R_RESUME] = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	lua_getfield(L, sreq, "lua_require");
	s->ref[R_LUA_REQUIRE] = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushboolean(L, 0);
	s->ref[R_RUNNING] = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushboolean(L, 0);
	s->ref[R_INIT_THREAD] = luaL_ref(L, LUA_REGISTRYINDEX);

	/* the skynet table */
	luaL_Reg api[] = {
		{"self", l_self},
		{"address", l_address},
		{"getenv", l_getenv},
		{"genid", l_genid},
		{"timeout", l_timeout},
		{"sleep", l_sleep},
		{"yield", l_yield},
		{"wait", l_wait},
		{"wakeup", l_wakeup},
		{"fork", l_fork},
		{"register_protocol", l_register_protocol},
		{"dispatch", l_dispatch},
		{"dispatch_message", l_dispatch_message},
		{"send", l_send},
		{"call", l_call},
		{"ret", l_ret},
		{"retpack", l_retpack},
		{"ignoreret", l_ignoreret},
		{"context", l_context},
		{"exit", l_exit},
		{"info_func", l_info_func},
		{"init_service", l_init_service},
		{"start", l_start},
		{NULL, NULL},
	};
	lua_createtable(L, 0, 64);
	int skynet = lua_gettop(L);
	luaL_setfuncs(L, api, 0);
	static const struct {
		const char *name;
		int id;
	} ptypes[] = {
		{"PTYPE_TEXT", PTYPE_TEXT},       {"PTYPE_RESPONSE", PTYPE_RESPONSE}, {"PTYPE_MULTICAST", PTYPE_MULTICAST},
		{"PTYPE_CLIENT", PTYPE_CLIENT},   {"PTYPE_SYSTEM", PTYPE_SYSTEM},     {"PTYPE_HARBOR", PTYPE_HARBOR},
		{"PTYPE_SOCKET", PTYPE_SOCKET},   {"PTYPE_ERROR", PTYPE_ERROR},       {"PTYPE_QUEUE", PTYPE_QUEUE},
		{"PTYPE_DEBUG", PTYPE_DEBUG},     {"PTYPE_LUA", PTYPE_LUA},           {"PTYPE_SNAX", PTYPE_SNAX},
		{"PTYPE_TRACE", PTYPE_TRACE},
	};
	for (size_t i = 0; i < sizeof(ptypes) / sizeof(ptypes[0]); i++) {
		lua_pushinteger(L, ptypes[i].id);
		lua_setfield(L, skynet, ptypes[i].name);
	}
	static const char *const core_aliases[] = {"harbor", "now",      "hpc",   "pack", "unpack",
	                                           "packstring", "tostring", "trash", "error"};
	for (size_t i = 0; i < sizeof(core_aliases) / sizeof(core_aliases[0]); i++) {
		lua_getfield(L, core, core_aliases[i]);
		lua_setfield(L, skynet, core_aliases[i]);
	}
	lua_getglobal(L, "pcall");
	lua_setfield(L, skynet, "pcall");
	push_ref(L, s, R_PROTO);
	lua_setfield(L, skynet, "_proto");
	lua_getfield(L, sreq, "init");
	lua_setfield(L, skynet, "init");
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, lazy_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, skynet);
	lua_pushvalue(L, skynet);
	s->ref[R_SKYNET] = luaL_ref(L, LUA_REGISTRYINDEX);

	register_builtin(L, "lua", PTYPE_LUA, 1, luaseri_unpack, NULL);
	register_builtin(L, "response", PTYPE_RESPONSE, 0, NULL, NULL);
	register_builtin(L, "error", PTYPE_ERROR, 0, l_identity, error_dispatch);
	register_builtin(L, "debug", PTYPE_DEBUG, 1, luaseri_unpack, debug_dispatch);
	lua_settop(L, skynet);
	return 1;
}
