/*
 * lua-sched-dispatch.c -- `skynet.sched`, the scheduler proper: the
 * coroutines a request runs in and their pool, the fork, wakeup and error
 * queues, resume_settle (resume a coroutine, then whatever its suspension
 * woke), the message callback (dispatch_message / raw_dispatch), protocol
 * registration and lookup, and the error and debug protocols.
 *
 * The model is described at the top of lua-sched.c; the state and helpers
 * shared with the other files are in lua-sched.h.
 */
#include "lua-sched.h"
#include "skynet_server.h" /* skynet_context_pending */

#include <string.h>

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
		sched_push_address(L, s, co);
		skynet_error(s->ctx, "Maybe forgot response session %lld from :%08x : %s:%d",
		             (long long)lua_tointeger(L, -2), (unsigned)lua_tointeger(L, -1), ar.short_src,
		             ar.linedefined);
		lua_pop(L, 1);
	}
	if (!lua_isnil(L, -1))
		ref_clear(L, s, R_CO_SESSION, co);
	lua_pop(L, 1);
	skynet_context_pending(s->ctx, -1);
	struct costate *c = sched_costate_get(L, s, co);
	if (c) {
		if (c->tag != TAG_NONE) {
			if (c->tag > 0) {
				lua_rawgeti(L, LUA_REGISTRYINDEX, c->tag);
				sched_trace_line(L, s, -1, "end");
				lua_pop(L, 1);
			}
			sched_clear_tracetag(L, s, co);
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
lua_State *sched_co_new(lua_State *L, struct sched *s, int f) {
	f = lua_absindex(L, f);
	/* Every function run in a coroutine counts as pending work of the
	 * service until it returns (co_finished) or fails (co_failed): a
	 * request parked on a call or a lock is backlog its mailbox length
	 * does not show (skynet_context_pending). */
	skynet_context_pending(s->ctx, 1);
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
	sched_costate_set(L, s, -1);
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
 * Queues (fork, wakeup, error) are Lua tables, since they hold Lua values,
 * with their head and tail in C (struct cqueue); only this file and the
 * fork operations below touch them.
 */
void sched_cqueue_push(lua_State *L, struct sched *s, int r, struct cqueue *q, int v) {
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

/* Queues the coroutine at `co` to run after the current message. */
void sched_fork_push(lua_State *L, struct sched *s, int co) {
	sched_cqueue_push(L, s, R_FORKQ, &s->forkq, co);
}

/* Drops every queued fork (the service is exiting). */
void sched_fork_clear(lua_State *L, struct sched *s) {
	push_ref(L, s, R_FORKQ);
	for (lua_Integer i = s->forkq.h; i <= s->forkq.t; i++) {
		lua_pushnil(L);
		lua_rawseti(L, -2, i);
	}
	lua_pop(L, 1);
	s->forkq.h = 1;
	s->forkq.t = 0;
}

/* S.forks() -> the queued forks, in order (a new list) */
int sched_l_forks(lua_State *L) {
	struct sched *s = sched_get(L);
	push_ref(L, s, R_FORKQ);
	lua_createtable(L, (int)(s->forkq.t - s->forkq.h + 1 > 0 ? s->forkq.t - s->forkq.h + 1 : 0), 0);
	lua_Integer n = 0;
	for (lua_Integer i = s->forkq.h; i <= s->forkq.t; i++) {
		lua_rawgeti(L, -2, i);
		lua_rawseti(L, -2, ++n);
	}
	return 1;
}

/* S.fork_remove(co) -> true if co was queued (it no longer is) */
int sched_l_fork_remove(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	push_ref(L, s, R_FORKQ); /* 2 */
	for (lua_Integer i = s->forkq.h; i <= s->forkq.t; i++) {
		lua_rawgeti(L, 2, i);
		int same = lua_rawequal(L, -1, 1);
		lua_pop(L, 1);
		if (same) {
			for (lua_Integer j = i; j < s->forkq.t; j++) {
				lua_rawgeti(L, 2, j + 1);
				lua_rawseti(L, 2, j);
			}
			lua_pushnil(L);
			lua_rawseti(L, 2, s->forkq.t--);
			lua_pushboolean(L, 1);
			return 1;
		}
	}
	lua_pushboolean(L, 0);
	return 1;
}

static void fork_noop(lua_State *L, struct sched *s) {
	lua_pushcfunction(L, l_noop);
	sched_co_new(L, s, -1);
	sched_fork_push(L, s, -1);
	lua_pop(L, 2);
}

/* The next coroutine woken by skynet.wakeup: pushes co and its 4 resume
 * values and returns 1, or returns 0. */
static int next_wakeup(lua_State *L, struct sched *s) {
	while (cqueue_pop(L, s, R_WAKEUPQ, &s->wakeupq)) {
		int token = lua_gettop(L);
		if (ref_get(L, s, R_SLEEP, token) != LUA_TNIL) {
			int session = lua_gettop(L);
			if (sched_smap_get(L, s, SM_CO, lua_tointeger(L, session)) == LUA_TTHREAD) {
				int co = lua_gettop(L);
				if (sched_co_tracetag(L, s, co) == LUA_TSTRING)
					sched_trace_line(L, s, -1, "resume");
				lua_pop(L, 1);
				push_key(L, s, K_BREAK);
				sched_smap_set(L, s, SM_CO, lua_tointeger(L, session));
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

/* The next call failed by PTYPE_ERROR or its deadline: pushes co and its
 * resume values.  A call that timed out (its error text is the timeout, a
 * number) leaves its session marked "TIMEOUT": its late reply is dropped,
 * and no later call can get it (sessions are skipped while marked). */
static int next_error(lua_State *L, struct sched *s) {
	while (cqueue_pop(L, s, R_ERRORQ, &s->errorq)) {
		int session = lua_gettop(L);
		lua_Integer id = lua_tointeger(L, session);
		if (sched_smap_get(L, s, SM_CO, id) == LUA_TTHREAD) {
			if (ref_get(L, s, R_ERROR_TEXT, session) == LUA_TNUMBER) {
				push_key(L, s, K_TIMEOUT);
				sched_smap_set(L, s, SM_CO, id);
				s->timeouts++;
			} else {
				lua_pushnil(L);
				sched_smap_set(L, s, SM_CO, id);
			}
			lua_pop(L, 1);
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

/* The answer to a request whose handler ran out of memory.  The core
 * copies the text outside the service's Lua heap, so this cannot fail for
 * the memory limit that failed the handler: its caller never waits forever. */
static void reply_oom(struct sched *s, uint32_t addr, int session) {
	static const char text[] = "out of memory";
	if (addr != 0 && session != 0)
		skynet_send(s->ctx, 0, addr, PTYPE_ERROR, session, (void *)text, sizeof(text) - 1);
}

/* (addr, session, err): the error answer of a failed handler. */
static int reply_failure(lua_State *L) {
	struct sched *s = sched_get(L);
	sched_push_error_payload(L, s, 3);
	sched_reply_error(L, s, 1, (int)lua_tointeger(L, 2), -1);
	return 0;
}

/* A coroutine died with the error at `err`: the requester (if any) is told
 * (with "out of memory" when the handler died at the memory limit, or when
 * building the answer did), queued wakeups still get dispatched (by a
 * no-op fork), and the error is raised with the coroutine's traceback. */
static int co_failed(lua_State *L, struct sched *s, int co, int err) {
	if (ref_get(L, s, R_CO_SESSION, co) != LUA_TNIL) {
		int session = (int)lua_tointeger(L, -1);
		struct costate *c = sched_costate_get(L, s, co);
		uint32_t addr = c ? c->address : 0;
		if (session != 0 && addr != 0) {
			if (lua_status(lua_tothread(L, co)) == LUA_ERRMEM) {
				reply_oom(s, addr, session);
			} else {
				if (sched_co_tracetag(L, s, co) == LUA_TSTRING)
					sched_trace_line(L, s, -1, "error");
				lua_pop(L, 1);
				lua_pushcfunction(L, reply_failure);
				lua_pushinteger(L, addr);
				lua_pushinteger(L, session);
				lua_pushvalue(L, err);
				if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
					lua_pop(L, 1);
					reply_oom(s, addr, session);
				}
			}
		}
	}
	lua_pop(L, 1);
	sched_forget_request(L, s, co);
	skynet_context_pending(s->ctx, -1);
	lua_State *thread = lua_tothread(L, co);
	if (lua_status(thread) == LUA_ERRMEM) {
		/* no traceback (it would allocate): close the thread first, so
		 * what its stack held can be collected */
		close_thread(L, thread);
		fork_noop(L, s);
		lua_pushvalue(L, err);
		return lua_error(L);
	}
	fork_noop(L, s);
	const char *msg = luaL_tolstring(L, err, NULL);
	luaL_traceback(L, thread, msg, 0);
	close_thread(L, thread);
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
		if (cmd && strcmp(cmd, "QUIT") == 0) {
			/* the service exited from this coroutine: close it, as
			 * upstream does, so its <close> variables run */
			close_thread(L, lua_tothread(L, co));
			lua_settop(L, co - 1);
			return;
		}
		if (t == LUA_TNIL) {
			lua_settop(L, co - 1);
			return; /* a plain coroutine.yield(): stays suspended */
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
int sched_l_resume(lua_State *L) {
	struct sched *s = sched_get(L);
	luaL_checktype(L, 1, LUA_TTHREAD);
	int n = lua_gettop(L);
	set_running(L, s, 1);
	push_ref(L, s, R_RESUME);
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

int sched_l_running(lua_State *L) {
	push_running(L, sched_get(L));
	return 1;
}

int sched_l_set_running(lua_State *L) {
	lua_settop(L, 1);
	set_running(L, sched_get(L), 1);
	return 0;
}

int sched_l_init_thread(lua_State *L) {
	push_thread_ref(L, sched_get(L), R_INIT_THREAD);
	return 1;
}

/* ---------------------------------------------------------------- */
/* Protocols and dispatch                                            */

int sched_l_register_protocol(lua_State *L) {
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

int sched_l_dispatch(lua_State *L) {
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
	sched_push_hook(L, s, hook, "skynet.ext");
	lua_insert(L, -nargs - 1);
	lua_call(L, nargs, 0);
}

static void push_error(lua_State *L, struct sched *s, int session, int text);

/* The calls whose deadline has passed and that still wait fail (through
 * the error queue, their error text being the timeout); the next deadline
 * gets its timer. */
static void expire_calls(lua_State *L, struct sched *s) {
	int session, ti, any = 0;
	while (sched_deadline_expired(L, s, &session, &ti)) {
		if (sched_smap_get(L, s, SM_CO, session) == LUA_TTHREAD) {
			lua_pushinteger(L, session);
			lua_pushinteger(L, ti);
			push_error(L, s, -2, -1);
			lua_pop(L, 2);
			any = 1;
		}
		lua_pop(L, 1);
	}
	sched_deadline_arm(L, s);
	if (any)
		fork_noop(L, s); /* its suspension runs the error queue */
}

/* raw_dispatch(prototype, msg, sz, session, source) */
static int raw_dispatch(lua_State *L) {
	struct sched *s = sched_get(L);
	int prototype = (int)lua_tointeger(L, 1);
	lua_Integer session = lua_tointeger(L, 4);
	lua_settop(L, 5);
	if (prototype == PTYPE_RESPONSE) {
		int t = sched_smap_get(L, s, SM_CO, session);
		if (t == LUA_TTHREAD) {
			int co = lua_gettop(L);
			if (sched_co_tracetag(L, s, co) == LUA_TSTRING)
				sched_trace_line(L, s, -1, "resume");
			lua_pop(L, 1);
			lua_pushnil(L);
			sched_smap_set(L, s, SM_CO, session);
			lua_pushboolean(L, 1);
			lua_pushvalue(L, 2);
			lua_pushvalue(L, 3);
			lua_pushinteger(L, session);
			resume_settle(L, s, 4);
		} else if (t == LUA_TNIL) {
			if (ref_geti(L, s, R_DEADLINE_TIMERS, session) != LUA_TNIL) {
				sched_deadline_tick(L, s, (int)session);
				expire_calls(L, s);
				return 0;
			}
			lua_pushinteger(L, session);
			lua_pushvalue(L, 5);
			lua_pushvalue(L, 2);
			lua_pushvalue(L, 3);
			call_unknown(L, s, "unknown_response", 4);
		} else { /* "BREAK" or "TIMEOUT": the waiter gave up, drop the late reply */
			if (lua_tostring(L, -1) == s->timed_out)
				s->late++;
			lua_pushnil(L);
			sched_smap_set(L, s, SM_CO, session);
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
			sched_push_error_payload(L, s, -1);
			sched_reply_error(L, s, 5, (int)session, -1);
			s->unowned_session = 0;
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
	sched_co_new(L, s, f);
	int co = lua_gettop(L);
	lua_pushinteger(L, session);
	ref_set(L, s, R_CO_SESSION, co);
	s->unowned_session = 0; /* the coroutine owes the reply now */
	sched_set_address(L, s, co, (uint32_t)lua_tointeger(L, 5));
	int traceflag = get_field(L, s, p, K_TRACE);
	if (traceflag == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
		if (s->trace_sources)
			ref_clear(L, s, R_TRACE_SOURCE, 5);
		lua_pushboolean(L, 0);
		sched_set_tracetag(L, s, co);
	} else {
		int on = lua_toboolean(L, -1);
		if (s->trace_sources && ref_get(L, s, R_TRACE_SOURCE, 5) != LUA_TNIL) {
			ref_clear(L, s, R_TRACE_SOURCE, 5);
			sched_trace_line(L, s, -1, "request");
			sched_set_tracetag(L, s, co);
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
	get_field(L, s, p, K_UNPACK);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	if (lua_pcall(L, 2, LUA_MULTRET, 0) == LUA_OK) {
		resume_settle(L, s, lua_gettop(L) - co);
		return 0;
	}
	int err = lua_gettop(L);
	sched_forget_request(L, s, co);
	s->unowned_session = (int)session; /* answered below */
	lua_pushfstring(L, "unpack error: %s", luaL_tolstring(L, err, NULL));
	if (session != 0) {
		sched_push_error_payload(L, s, -1);
		sched_reply_error(L, s, 5, (int)session, -1);
		lua_pop(L, 1);
	}
	s->unowned_session = 0;
	return lua_error(L);
}

/* Runs the forked coroutine at 1 until it suspends. */
static int run_fork(lua_State *L) {
	resume_settle(L, sched_get(L), 0);
	return 0;
}

/* The message callback: dispatch, then run the forked coroutines. */
int sched_l_dispatch_message(lua_State *L) {
	struct sched *s = sched_get(L);
	int n = lua_gettop(L);
	/* A request nobody owes an answer yet: if dispatching it runs out of
	 * memory before a coroutine owns it, it is answered here. */
	int prototype = (int)lua_tointeger(L, 1);
	if (prototype != PTYPE_RESPONSE && prototype != PTYPE_ERROR) {
		s->unowned_session = (int)lua_tointeger(L, 4);
		s->unowned_source = (uint32_t)lua_tointeger(L, 5);
	}
	lua_pushcfunction(L, raw_dispatch);
	lua_insert(L, 1);
	int st = lua_pcall(L, n, 0, 0);
	int ok = st == LUA_OK;
	if (s->unowned_session != 0) {
		if (st == LUA_ERRMEM)
			reply_oom(s, s->unowned_source, s->unowned_session);
		s->unowned_session = 0;
	}
	if (ok)
		lua_pushnil(L);
	int err = lua_gettop(L); /* the error so far */
	while (cqueue_pop(L, s, R_FORKQ, &s->forkq)) {
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
	if (!ok)
		return lua_error(L);
	return 0;
}

/* ---------------------------------------------------------------- */
/* The error protocol: PTYPE_ERROR with session s fails the call waiting on
 * s; with session 0 it means "the source is dead": every call waiting on
 * it fails and the responses owed to it become invalid.                */

static void push_error(lua_State *L, struct sched *s, int session, int text) {
	session = lua_absindex(L, session);
	text = lua_absindex(L, text);
	sched_cqueue_push(L, s, R_ERRORQ, &s->errorq, session);
	lua_pushvalue(L, text);
	ref_set(L, s, R_ERROR_TEXT, session);
}

/* fail_source(source, text): the service at `source` is gone. */
int sched_l_fail_source(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 2);
	/* skynet.response closures owed to it become invalid */
	sched_push_hook(L, s, "fail_responses", NULL); /* set by skynet/response.lua */
	if (lua_isfunction(L, -1)) {
		lua_pushvalue(L, 1);
		lua_call(L, 1, 0);
	} else {
		lua_pop(L, 1);
	}
	/* and every call waiting on it fails */
	lua_Integer session;
	for (int pos = 0; (pos = sched_smap_next(L, s, SM_WATCHING, pos, &session)) != 0;) {
		if (lua_compare(L, -1, 1, LUA_OPEQ)) {
			lua_pushinteger(L, session);
			push_error(L, s, -1, 2);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* dispatch of PTYPE_ERROR: (session, source, msg, sz) */
int sched_error_dispatch(lua_State *L) {
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
		lua_pushcfunction(L, sched_l_fail_source);
		lua_pushvalue(L, 2);
		lua_pushvalue(L, text);
		lua_call(L, 2, 0);
	} else if (sched_smap_get(L, s, SM_WATCHING, lua_tointeger(L, 1)) != LUA_TNIL) {
		push_error(L, s, 1, text);
	} else if (sched_smap_get(L, s, SM_CO, lua_tointeger(L, 1)) == LUA_TSTRING) {
		/* the call gave up waiting ("BREAK", "TIMEOUT"): the late error
		 * ends the session like a late reply */
		if (lua_tostring(L, -1) == s->timed_out)
			s->late++;
		lua_pushnil(L);
		sched_smap_set(L, s, SM_CO, lua_tointeger(L, 1));
	}
	return 0;
}

/* S.call_stats() -> calls waiting for a reply, calls timed out so far,
 * late replies dropped so far */
int sched_l_call_stats(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_pushinteger(L, sched_smap_count(s, SM_WATCHING));
	lua_pushinteger(L, s->timeouts);
	lua_pushinteger(L, s->late);
	return 3;
}

int sched_l_identity(lua_State *L) { return lua_gettop(L); }

static int return_all_k(lua_State *L, int status, lua_KContext base) {
	(void)status;
	return lua_gettop(L) - (int)base;
}

/* The debug protocol's commands are loaded by the first debug message. */
int sched_debug_dispatch(lua_State *L) {
	struct sched *s = sched_get(L);
	int n = lua_gettop(L);
	sched_load_lazy(L, s, "skynet.debug");
	lua_getfield(L, -1, "dispatch");
	lua_remove(L, -2);
	lua_insert(L, 1);
	lua_callk(L, n, LUA_MULTRET, 0, return_all_k);
	return lua_gettop(L);
}
