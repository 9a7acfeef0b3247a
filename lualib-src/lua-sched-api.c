/*
 * lua-sched-api.c -- `skynet.sched`, the blocking and messaging API that
 * services call: send / call / wait_reply, replies (ret, retpack,
 * ignoreret, context), timeout / sleep / yield / wait / wakeup / fork,
 * genid, and start and init_service.
 *
 * A function that blocks yields "SUSPEND" to the scheduler
 * (lua-sched-dispatch.c) with a continuation that picks up the resume
 * values.  Uses the files below it (lua-sched.h lists them).
 */
#include "lua-sched.h"
#include "skynet_lua.h"
#include "lua-skynet.h"
#include "lua-seri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sched_l_genid(lua_State *L) {
	lua_pushinteger(L, sched_gen_session(L, sched_get(L)));
	return 1;
}

/* ---------------------------------------------------------------- */
/* Timers, sleep, wait, fork                                         */

int sched_l_timeout(lua_State *L) {
	struct sched *s = sched_get(L);
	luaL_checkany(L, 2);
	int session = sched_timer_session(L, s, 1);
	sched_co_new(L, s, 2);
	int co = lua_gettop(L);
	lua_pushvalue(L, co);
	sched_smap_set(L, s, SM_CO, session);
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
	if (sched_co_tracetag(L, s, rt) == LUA_TSTRING)
		sched_trace_event(L, s, -1, "sleep");
	lua_pop(L, 1);
	sched_smap_set(L, s, SM_CO, session);
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

int sched_l_sleep(lua_State *L) {
	struct sched *s = sched_get(L);
	int session = sched_timer_session(L, s, 1);
	lua_settop(L, 2);
	if (lua_isnil(L, 2)) {
		lua_pushthread(L);
		lua_replace(L, 2);
	}
	return suspend_sleep(L, s, session, sleep_k);
}

int sched_l_yield(lua_State *L) {
	lua_settop(L, 0);
	lua_pushinteger(L, 0);
	return sched_l_sleep(L);
}

static int wait_k(lua_State *L, int status, lua_KContext k) {
	(void)status;
	struct sched *s = sched_get(L);
	ref_clear(L, s, R_SLEEP, 2);
	lua_pushnil(L);
	sched_smap_set(L, s, SM_CO, (lua_Integer)k);
	return 0;
}

/* wait(token): token lands at index 2 like sleep's. */
int sched_l_wait(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	if (lua_isnil(L, 1)) {
		lua_pushthread(L);
		lua_replace(L, 1);
	}
	lua_pushnil(L);
	lua_insert(L, 1);
	return suspend_sleep(L, s, sched_gen_session(L, s), wait_k);
}

int sched_l_wakeup(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	if (ref_get(L, s, R_SLEEP, 1) == LUA_TNIL)
		return 0;
	sched_cqueue_push(L, s, R_WAKEUPQ, &s->wakeupq, 1);
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

int sched_l_fork(lua_State *L) {
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
	sched_co_new(L, s, 1);
	sched_fork_push(L, s, -1);
	return 1;
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
int sched_l_send(lua_State *L) {
	struct sched *s = sched_get(L);
	int n = lua_gettop(L);
	if (n < 2)
		lua_settop(L, n = 2);
	int p = check_proto(L, s, 2);
	lua_insert(L, 3); /* p at 3, args from 4 */
	int id = proto_id(L, s, 3);
	pack_args(L, s, 3, 4);
	luaskynet_push_send_result(L, sched_send(L, s, 1, id, 0, 4));
	(void)p;
	return 1;
}

/* call_fail(addr, session): raises the error of a failed call (S.call_fail,
 * from skynet/ext.lua) at the level of our caller. */
static int call_fail(lua_State *L, struct sched *s, int addr, int r) {
	addr = lua_absindex(L, addr);
	sched_push_hook(L, s, "call_fail", "skynet.ext");
	lua_pushvalue(L, addr);
	luaskynet_push_send_result(L, r);
	lua_call(L, 2, 0);
	return 0;
}

/* The waiting half of call/wait_reply: stack holds addr at 1; pushes the
 * deadline slot of the call (-1: none; ti <= 0 waits forever); the resume
 * values (ok, msg, sz, session) land above the `top` passed to k. */
static int wait_reply(lua_State *L, struct sched *s, int session, int ti, lua_KFunction k) {
	lua_pushinteger(L, ti > 0 ? sched_deadline_add(L, s, session, ti) : -1);
	lua_pushvalue(L, 1);
	sched_smap_set(L, s, SM_WATCHING, session);
	push_running(L, s);
	sched_smap_set(L, s, SM_CO, session);
	int top = lua_gettop(L);
	push_key(L, s, K_SUSPEND);
	return lua_yieldk(L, 1, top, k);
}

/* The call's deadline, if it had one, is over. */
static void wait_done(lua_State *L, struct sched *s, int slot, int session) {
	int isint;
	lua_Integer i = lua_tointegerx(L, slot, &isint);
	if (isint && i >= 0)
		sched_deadline_done(L, s, (int)i, session);
}

/* Stack: addr, p, session, slot, then ok, msg, sz, session from the resume. */
static int call_k(lua_State *L, int status, lua_KContext top) {
	(void)status;
	struct sched *s = sched_get(L);
	int session = (int)lua_tointeger(L, 3);
	wait_done(L, s, 4, session);
	lua_pushnil(L);
	sched_smap_set(L, s, SM_WATCHING, session);
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

/* A timeout argument: an integer number of centiseconds (<= 0: none). */
static int check_ti(lua_State *L, int idx) {
	int isint;
	lua_Integer t = lua_tointegerx(L, idx, &isint);
	if (!isint)
		return luaL_error(L, "bad argument #%d (timeout must be an integer, centiseconds)", idx);
	return t <= 0 ? 0 : t > 0x7fffffff ? 0x7fffffff : (int)t;
}

/* call with the stack addr, typename, ...; ti: the deadline (<= 0 none) */
static int do_call(lua_State *L, struct sched *s, int ti) {
	if (lua_gettop(L) < 2)
		lua_settop(L, 2);
	push_running(L, s);
	if (sched_co_tracetag(L, s, -1) == LUA_TSTRING) {
		int tag = lua_gettop(L);
		sched_trace_event(L, s, tag, "call");
		sched_send_string(L, s, 1, PTYPE_TRACE, 0, tag);
	}
	lua_pop(L, 2);
	check_proto(L, s, 2);
	lua_replace(L, 2); /* p at 2, args from 3 */
	int id = proto_id(L, s, 2);
	pack_args(L, s, 2, 3);
	int r = sched_send_session(L, s, 1, id, 3);
	lua_settop(L, 2);
	if (r < 0)
		return call_fail(L, s, 1, r);
	lua_pushinteger(L, r); /* 3 */
	return wait_reply(L, s, r, ti, call_k);
}

/* call(addr, typename, ...): with the config's call_timeout, if set */
int sched_l_call(lua_State *L) {
	struct sched *s = sched_get(L);
	return do_call(L, s, s->call_timeout);
}

/* call_timeout(ti, addr, typename, ...): ti centiseconds (<= 0: wait forever) */
int sched_l_call_timeout(lua_State *L) {
	struct sched *s = sched_get(L);
	int ti = check_ti(L, 1);
	lua_remove(L, 1);
	return do_call(L, s, ti);
}

/* S.wait_reply(addr, session [, ti]) -> ok, msg, sz.  ti: the deadline in
 * cs (default: the config's call_timeout; <= 0 waits forever). */
static int wait_reply_k(lua_State *L, int status, lua_KContext top) {
	(void)status;
	struct sched *s = sched_get(L);
	wait_done(L, s, 3, (int)lua_tointeger(L, 2));
	lua_pushnil(L);
	sched_smap_set(L, s, SM_WATCHING, lua_tointeger(L, 2));
	lua_settop(L, (int)top + 3);
	return 3;
}

int sched_l_wait_reply(lua_State *L) {
	struct sched *s = sched_get(L);
	int session = (int)luaL_checkinteger(L, 2);
	int ti = lua_isnoneornil(L, 3) ? s->call_timeout : check_ti(L, 3);
	lua_settop(L, 2);
	return wait_reply(L, s, session, ti, wait_reply_k);
}

/* ---------------------------------------------------------------- */
/* Replying                                                          */

/* ret(msg, sz) */
int sched_l_ret(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 2);
	if (lua_isnil(L, 1)) {
		lua_pushliteral(L, "");
		lua_replace(L, 1);
	}
	push_running(L, s); /* 3 */
	if (sched_co_tracetag(L, s, 3) == LUA_TSTRING)
		sched_trace_line(L, s, -1, "response");
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
	sched_push_address(L, s, 3); /* 5 */
	lua_pushboolean(L, sched_reply(L, s, 5, session, 1) >= 0);
	return 1;
}

int sched_l_retpack(lua_State *L) {
	int n = lua_gettop(L);
	lua_pushcfunction(L, luaseri_pack);
	lua_insert(L, 1);
	lua_call(L, n, 2);
	return sched_l_ret(L);
}

int sched_l_ignoreret(lua_State *L) {
	struct sched *s = sched_get(L);
	push_running(L, s);
	ref_clear(L, s, R_CO_SESSION, -1);
	return 0;
}

int sched_l_context(lua_State *L) {
	struct sched *s = sched_get(L);
	push_running(L, s);
	int co = lua_gettop(L);
	ref_get(L, s, R_CO_SESSION, co);
	sched_push_address(L, s, co);
	return 2;
}

/* ---------------------------------------------------------------- */
/* Exit and start                                                    */

int sched_l_info_func(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	push_ref(L, s, R_S);
	lua_insert(L, 1);
	lua_setfield(L, 1, "info_func");
	return 0;
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
	sched_send(L, s, first, PTYPE_LUA, 0, first + 1);
	lua_settop(L, first - 1);
}

static int init_service_exited(lua_State *L, int status, lua_KContext k) {
	(void)L;
	(void)status;
	(void)k;
	return 0;
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
	lua_pushcfunction(L, sched_l_exit);
	lua_callk(L, 0, 0, 0, init_service_exited);
	return 0;
}

int sched_l_init_service(lua_State *L) {
	lua_settop(L, 1);
	lua_pushcfunction(L, skynet_lua_traceback); /* 2 */
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
	lua_pushcfunction(L, sched_l_init_service);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_callk(L, 1, 0, 0, init_thread_done);
	return init_thread_done(L, LUA_OK, 0);
}

/* Makes dispatch_message the service's message callback. */
static int set_dispatch_callback(lua_State *L) {
	lua_settop(L, 0);
	lua_pushcfunction(L, sched_l_dispatch_message);
	luaskynet_set_callback(L, sched_get(L)->ctx, 0);
	return 0;
}

int sched_l_start(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 1);
	lua_pushcfunction(L, set_dispatch_callback);
	lua_call(L, 0, 0);
	lua_pushcfunction(L, sched_l_timeout);
	lua_pushinteger(L, 0);
	lua_pushvalue(L, 1);
	lua_pushcclosure(L, init_thread_body, 1);
	lua_call(L, 2, 1);
	set_thread_ref(L, s, R_INIT_THREAD);
	return 0;
}
