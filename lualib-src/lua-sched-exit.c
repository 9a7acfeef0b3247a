/*
 * lua-sched-exit.c -- `skynet.sched`, skynet.exit() and the farewell of a
 * killed service.  skynet.exit() does, in order: pending
 * forks are discarded; .launcher gets REMOVE; every request not answered
 * yet gets PTYPE_ERROR ("service exited"); suspended coroutines are closed
 * (their <close> variables run); unused skynet.response closures are
 * answered false; every service we were waiting on gets PTYPE_ERROR with
 * session 0 (we are gone); later requests are answered with errors; the
 * handle is retired; the calling coroutine yields "QUIT" and is closed by
 * the scheduler.
 */
#include "lua-sched.h"
#include "lua-seri.h"
#include "lua-skynet.h"
#include "skynet_server.h" /* skynet_exit_text */

/* The message callback once the service has exited: every request is
 * answered with the error at upvalue 1. */
static int answer_exited(lua_State *L) {
	lua_Integer session = lua_tointeger(L, 4);
	lua_Integer source = lua_tointeger(L, 5);
	if (session != 0 && source != 0) {
		struct sched *s = sched_get(L);
		lua_pushinteger(L, source);
		sched_reply_error(L, s, -1, (int)session, lua_upvalueindex(1));
	}
	return 0;
}

static void tell_launcher(lua_State *L, struct sched *s) {
	lua_pushliteral(L, ".launcher");
	int addr = lua_gettop(L);
	lua_pushcfunction(L, luaseri_pack);
	lua_pushliteral(L, "REMOVE");
	lua_pushinteger(L, sched_self(s));
	lua_pushboolean(L, 0);
	lua_call(L, 3, 2);
	sched_send(L, s, addr, PTYPE_LUA, 0, addr + 1);
	lua_settop(L, addr - 1);
}

/* Every request still owed a reply is failed with the text at `text`. */
static void fail_requests(lua_State *L, struct sched *s, int text) {
	push_ref(L, s, R_CO_SESSION);
	int t = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t)) { /* co, session */
		int session = (int)lua_tointeger(L, -1);
		if (session != 0) {
			sched_push_address(L, s, -2);
			if (!lua_isnil(L, -1))
				sched_reply_error(L, s, -1, session, text);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* Closes every suspended coroutine waiting on a session, but the caller.
 * They are listed first: closing runs their <close> handlers, which may
 * change the table. */
static void close_waiters(lua_State *L, struct sched *s) {
	lua_newtable(L);
	int list = lua_gettop(L);
	lua_Integer n = 0;
	push_ref(L, s, R_SESSION_CO);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_State *co = lua_tothread(L, -1);
		if (co && co != L && lua_status(co) == LUA_YIELD)
			lua_rawseti(L, list, ++n);
		else
			lua_pop(L, 1);
	}
	lua_pop(L, 1);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, list, i);
		lua_State *co = lua_tothread(L, -1);
		if (lua_status(co) == LUA_YIELD)
			close_thread(L, co);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* Every service we are waiting on learns that we are gone (session 0). */
static void notify_called(lua_State *L, struct sched *s, int text) {
	lua_newtable(L); /* the distinct addresses */
	int called = lua_gettop(L);
	push_ref(L, s, R_WATCHING);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pushboolean(L, 1);
		lua_rawset(L, called);
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	while (lua_next(L, called)) {
		lua_pop(L, 1);
		sched_reply_error(L, s, -1, 0, text);
	}
	lua_pop(L, 1);
}

/* The requests answered later by skynet.response closures (the table of
 * skynet/response.lua, read only) fail with the text at `text`. */
static void fail_responses(lua_State *L, struct sched *s, int text) {
	push_ref(L, s, R_S);
	int S = lua_gettop(L);
	if (lua_getfield(L, S, "unresponse") != LUA_TTABLE || lua_getfield(L, S, "unresponse_session") != LUA_TTABLE) {
		lua_settop(L, S - 1);
		return;
	}
	int addrs = S + 1, sessions = S + 2;
	lua_pushnil(L);
	while (lua_next(L, addrs)) { /* closure, address */
		lua_pushvalue(L, -2);
		lua_rawget(L, sessions);
		int session = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
		if (session != 0)
			sched_reply_error(L, s, -1, session, text);
		lua_pop(L, 1);
	}
	lua_settop(L, S - 1);
}

/* registry[SCHED_FAREWELL](text): called by snlua when a killed service is
 * released, before its state is closed.  Nothing of the service runs any
 * more (no Lua function of it is called): the requests its suspended
 * handlers had taken, and those owed by skynet.response closures, fail with
 * `text`, and the services it waited on learn that it is gone. */
int sched_l_farewell(lua_State *L) {
	struct sched *s = sched_get(L);
	luaL_checkstring(L, 1);
	lua_settop(L, 1);
	fail_requests(L, s, 1);
	fail_responses(L, s, 1);
	notify_called(L, s, 1);
	return 0;
}

/* The part of the sequence that allocates (it may fail at the memory
 * limit); the handle is retired whatever happens to it. */
static int exit_sequence(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 0);
	sched_fork_clear(L, s);
	tell_launcher(L, s);
	lua_pushnil(L);
	lua_setfield(L, LUA_REGISTRYINDEX, SCHED_FAREWELL); /* answered here */
	lua_pushstring(L, skynet_exit_text(SKYNET_EXIT_EXITED)); /* 1 */
	lua_pushvalue(L, 1); /* 2: the error text */
	int text = 2;
	fail_requests(L, s, text);
	close_waiters(L, s);
	sched_push_hook(L, s, "close_responses", NULL); /* set by skynet/response.lua */
	if (lua_isfunction(L, -1)) {
		lua_pushvalue(L, text);
		lua_call(L, 1, 0);
	} else {
		lua_pop(L, 1);
	}
	notify_called(L, s, text);
	lua_pushvalue(L, text);
	lua_pushcclosure(L, answer_exited, 1);
	lua_replace(L, 1);
	luaskynet_set_callback(L, s->ctx, 0);
	return 0;
}

static int exit_k(lua_State *L, int status, lua_KContext k) {
	(void)L;
	(void)status;
	(void)k;
	return 0;
}

int sched_l_exit(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 0);
	lua_pushcfunction(L, exit_sequence);
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		skynet_error(s->ctx, "exit: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)");
		lua_pop(L, 1);
	}
	skynet_command(s->ctx, "EXIT", NULL);
	if (lua_pushthread(L) == 0) { /* not the main thread */
		lua_pushliteral(L, "QUIT");
		return lua_yieldk(L, 1, 0, exit_k);
	}
	return 0;
}
