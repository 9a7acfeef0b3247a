/*
 * snlua_profile.c -- `skynet.profile`: start(co)/stop(co) measure the time a
 * coroutine actually runs, excluding the time it spends suspended.
 *
 * resume/wrap replace the coroutine library's and add the time between
 * resume and yield to a profiled coroutine's total.  Times come from
 * skynet_hpc() (nanoseconds; stop returns seconds, float).
 *
 * Cost, because snaxd wraps every method call in start/stop: each thread
 * gets one small timer (a userdata in a weak-keyed table) the first time
 * it is profiled and keeps it, so start and stop are at most one table
 * lookup (none when the thread is the one looked up last) and one clock
 * read each, with no allocation and no table insertion once a thread has
 * been profiled (request coroutines are pooled, so that is the steady
 * state).  resume does no lookup at all while no timer is on, the
 * common case; otherwise one lookup and two clock reads for a profiled
 * coroutine.
 */
#include "snlua_profile.h"
#include "skynet.h"

#include <lauxlib.h>
#include <stdint.h>

/* upvalue 1: timers table (thread -> struct cotimer userdata, weak keys)
 * upvalue 2: struct profstate userdata */
#define TIMERS lua_upvalueindex(1)
#define STATE lua_upvalueindex(2)
#define TIMER_MT "skynet.profile.timer"

/* Per Lua state, owned by that state's thread of execution (a service runs
 * on one worker at a time, so no lock). */
struct profstate {
	int on;          /* timers started and not stopped (nor collected) */
	unsigned starts; /* start calls so far (wraps; only compared) */
	/* the last thread looked up and its timer: a snax service profiles
	 * one call after another in the same pooled coroutine, and a hit
	 * saves the hash lookup of a thread key (~140 instructions) */
	lua_State *last_co;
	struct cotimer *last_timer;
	/* where snlua keeps the coroutine that is running now (so SIGNAL can
	 * interrupt it), or NULL outside snlua */
	lua_State **active;
};

/* One per profiled thread, kept after stop for the next start.  Its
 * uservalues hold the state (alive for timer_gc) and the thread: the
 * thread is freed only after timer_gc has run (the timers table has weak
 * keys, so that reference does not keep the pair alive), so its address
 * cannot be reused while profstate's cache still names it. */
#define UV_STATE 1
#define UV_THREAD 2
struct cotimer {
	struct profstate *state;
	uint64_t total;          /* ns accumulated in closed slices */
	uint64_t since;          /* start of the open slice, when open */
	int on;                  /* between start and stop */
	int open;                /* the thread is running (a slice is open) */
};

static double ns_to_seconds(uint64_t ns) { return (double)ns / 1e9; }

static lua_State *get_co(lua_State *L, int idx) {
	if (lua_isnoneornil(L, idx))
		return L;
	lua_State *co = lua_tothread(L, idx);
	luaL_argexpected(L, co, idx, "coroutine");
	return co;
}

static void push_thread(lua_State *L, lua_State *co) {
	if (co == L) {
		lua_pushthread(L);
	} else {
		lua_pushthread(co);
		lua_xmove(co, L, 1);
	}
}

/* The timer of co, whose thread value is at `key`, or NULL. */
static struct cotimer *find_timer(lua_State *L, struct profstate *st, lua_State *co, int key) {
	if (co == st->last_co)
		return st->last_timer;
	lua_pushvalue(L, key);
	lua_rawget(L, TIMERS);
	struct cotimer *t = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (t) {
		st->last_co = co;
		st->last_timer = t;
	}
	return t;
}

/* A timer dropped with its thread while on no longer counts as on. */
static int timer_gc(lua_State *L) {
	struct cotimer *t = lua_touserdata(L, 1);
	if (t->on) {
		t->on = 0;
		t->state->on--;
	}
	if (t->state->last_timer == t) {
		t->state->last_co = NULL;
		t->state->last_timer = NULL;
	}
	return 0;
}

/* Is co in the chain of running coroutines (running, or normal: it resumed
 * the one running now)?  A suspended, unstarted or dead one is not. */
static int is_running(lua_State *L, lua_State *co) {
	if (co == L)
		return 1;
	lua_Debug ar;
	return lua_status(co) == LUA_OK && lua_getstack(co, 0, &ar);
}

static int lstart(lua_State *L) {
	lua_State *co = get_co(L, 1);
	struct profstate *st = lua_touserdata(L, STATE);
	push_thread(L, co);
	int key = lua_gettop(L);
	struct cotimer *t = find_timer(L, st, co, key);
	if (t == NULL) {
		t = lua_newuserdatauv(L, sizeof(*t), 2);
		t->state = st;
		t->on = t->open = 0;
		lua_pushvalue(L, STATE);
		lua_setiuservalue(L, -2, UV_STATE);
		lua_pushvalue(L, key);
		lua_setiuservalue(L, -2, UV_THREAD);
		luaL_setmetatable(L, TIMER_MT);
		lua_pushvalue(L, key);
		lua_pushvalue(L, -2);
		lua_rawset(L, TIMERS);
		st->last_co = co;
		st->last_timer = t;
	} else if (t->on) {
		return luaL_error(L, "Thread %p start profile more than once", (void *)co);
	}
	t->on = 1;
	st->on++;
	st->starts++;
	t->total = 0;
	t->open = is_running(L, co);
	if (t->open)
		t->since = skynet_hpc();
	return 0;
}

static int lstop(lua_State *L) {
	lua_State *co = get_co(L, 1);
	struct profstate *st = lua_touserdata(L, STATE);
	push_thread(L, co);
	struct cotimer *t = find_timer(L, st, co, lua_gettop(L));
	if (t == NULL || !t->on)
		return luaL_error(L, "Call profile.start() before profile.stop()");
	uint64_t total = t->total;
	if (t->open)
		total += skynet_hpc() - t->since;
	t->on = t->open = 0;
	st->on--;
	lua_pushnumber(L, ns_to_seconds(total));
	return 1;
}

/* Resumes co with narg values on L's stack top; returns the count of
 * results moved back to L, or -1 with the error on L's top. */
static int aux_resume(lua_State *L, lua_State *co, int narg) {
	if (!lua_checkstack(co, narg)) {
		lua_pushliteral(L, "too many arguments to resume");
		return -1;
	}
	int status = lua_status(co);
	if (status == LUA_OK && lua_gettop(co) == 0) {
		lua_pushliteral(L, "cannot resume dead coroutine");
		return -1;
	}
	if (co == L || (status != LUA_YIELD && status != LUA_OK)) {
		lua_pushliteral(L, "cannot resume non-suspended coroutine");
		return -1;
	}
	lua_xmove(L, co, narg);
	int nres;
	status = lua_resume(co, L, narg, &nres);
	if (status == LUA_OK || status == LUA_YIELD) {
		if (!lua_checkstack(L, nres + 1)) {
			lua_pop(co, nres);
			lua_pushliteral(L, "too many results to resume");
			return -1;
		}
		lua_xmove(co, L, nres);
		return nres;
	}
	lua_xmove(co, L, 1);
	return -1;
}

/* Runs aux_resume, charging the time co runs to its timer when it is on
 * (also when start was called inside co during this resume).  `coidx` is
 * a stack index (or upvalue pseudo-index) holding co itself, the key of
 * the timers table; it outlives the resume, and so does co's timer. */
static int timed_resume(lua_State *L, lua_State *co, int coidx, int narg) {
	struct profstate *st = lua_touserdata(L, STATE);
	lua_State *previous = st->active ? *st->active : NULL;
	if (st->active)
		*st->active = co;
	struct cotimer *t = NULL;
	if (st->on > 0) {
		t = find_timer(L, st, co, coidx);
		if (t && t->on) {
			t->open = 1;
			t->since = skynet_hpc();
		}
	}
	unsigned starts = st->starts;
	int r = aux_resume(L, co, narg);
	if (st->active)
		*st->active = previous;
	if (t == NULL && st->starts != starts)
		t = find_timer(L, st, co, coidx); /* maybe started inside co */
	if (t && t->open) {
		t->total += skynet_hpc() - t->since;
		t->open = 0;
	}
	return r;
}

static int lresume(lua_State *L) {
	lua_State *co = lua_tothread(L, 1);
	luaL_argexpected(L, co, 1, "coroutine");
	int r = timed_resume(L, co, 1, lua_gettop(L) - 1);
	if (r < 0) {
		lua_pushboolean(L, 0);
		lua_insert(L, -2);
		return 2;
	}
	lua_pushboolean(L, 1);
	lua_insert(L, -(r + 1));
	return r + 1;
}

static int auxwrap(lua_State *L) {
	lua_State *co = lua_tothread(L, lua_upvalueindex(3));
	int r = timed_resume(L, co, lua_upvalueindex(3), lua_gettop(L));
	if (r < 0) {
		int stat = lua_status(co);
		if (stat != LUA_OK && stat != LUA_YIELD) {
#if LUA_VERSION_RELEASE_NUM >= 50406
			lua_closethread(co, L);
#else
			lua_resetthread(co);
#endif
			lua_xmove(co, L, 1);
		}
		if (lua_type(L, -1) == LUA_TSTRING) {
			luaL_where(L, 1);
			lua_insert(L, -2);
			lua_concat(L, 2);
		}
		return lua_error(L);
	}
	return r;
}

static int lwrap(lua_State *L) {
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_State *co = lua_newthread(L);
	lua_pushvalue(L, 1);
	lua_xmove(L, co, 1);
	lua_pushvalue(L, TIMERS);
	lua_pushvalue(L, STATE);
	lua_rotate(L, -3, 2); /* timers, state, co */
	lua_pushcclosure(L, auxwrap, 3);
	return 1;
}

int luaopen_skynet_profile(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {{"start", lstart}, {"stop", lstop}, {"resume", lresume}, {"wrap", lwrap}, {NULL, NULL}};
	if (luaL_newmetatable(L, TIMER_MT)) {
		lua_pushcfunction(L, timer_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	luaL_newlibtable(L, l);
	lua_newtable(L); /* timers */
	lua_newtable(L); /* its metatable: weak keys */
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	struct profstate *st = lua_newuserdatauv(L, sizeof(*st), 0);
	st->on = 0;
	st->starts = 0;
	st->last_co = NULL;
	st->last_timer = NULL;
	lua_getfield(L, LUA_REGISTRYINDEX, "skynet.activeL");
	st->active = lua_touserdata(L, -1);
	lua_pop(L, 1);
	luaL_setfuncs(L, l, 2);
	return 1;
}

void profile_install(lua_State *L) {
	luaL_requiref(L, "skynet.profile", luaopen_skynet_profile, 0);
	lua_getglobal(L, "coroutine");
	lua_getfield(L, -2, "resume");
	lua_setfield(L, -2, "resume");
	lua_getfield(L, -2, "wrap");
	lua_setfield(L, -2, "wrap");
	lua_pop(L, 2);
}
