/*
 * lua-sched-session.c -- `skynet.sched`, sessions and sending: session
 * allocation (careful near the wrap), sending through skynet.core's one
 * send path, and the one reply path (ret, skynet.response, errors owed to
 * a requester).  Uses only lua-sched-state.c and skynet.core below it.
 */
#include "lua-sched.h"
#include "lua-skynet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_DANGER 0x7fff0000

/* ---------------------------------------------------------------- */
/* Sending                                                           */

/* Sends the payload at `msg` from this service to the address at `addr`
 * (see luaskynet_send: the one send path). */
int sched_send(lua_State *L, struct sched *s, int addr, int type, int session, int msg) {
	return luaskynet_send(L, s->ctx, 0, addr, type, session, msg);
}

/* Sends a text/string payload (PTYPE_ERROR and friends). */
int sched_send_string(lua_State *L, struct sched *s, int addr, int type, int session, int str) {
	return sched_send(L, s, lua_absindex(L, addr), type, session, lua_absindex(L, str));
}

static int next_session(struct sched *s) {
	return skynet_send(s->ctx, 0, 0, PTYPE_TAG_ALLOCSESSION, 0, NULL, 0);
}

static int session_waited(lua_State *L, struct sched *s, int session) {
	int t = sched_smap_get(L, s, SM_CO, session);
	lua_pop(L, 1);
	return t != LUA_TNIL;
}

/* Far from the wrap sessions only grow and cannot collide with one still
 * waiting; from SESSION_DANGER on they are allocated one by one, skipping
 * every value that still has a waiter. */
static int free_session(lua_State *L, struct sched *s) {
	int id;
	do
		id = next_session(s);
	while (session_waited(L, s, id));
	return id;
}

int sched_gen_session(lua_State *L, struct sched *s) {
	if (s->careful)
		return free_session(L, s);
	int id = next_session(s);
	if (id >= SESSION_DANGER)
		s->careful = 1;
	return id;
}

/* Sends with a new session. */
int sched_send_session(lua_State *L, struct sched *s, int addr, int type, int msg) {
	if (s->careful)
		return sched_send(L, s, addr, type, free_session(L, s), msg);
	int r = sched_send(L, s, addr, type, -1, msg);
	if (r >= SESSION_DANGER)
		s->careful = 1;
	return r;
}

/* S.send_session(addr, id, msg, sz) -> session | nil | false */
int sched_l_send_session(lua_State *L) {
	struct sched *s = sched_get(L);
	int type = (int)luaL_checkinteger(L, 2);
	lua_settop(L, 4);
	luaskynet_push_send_result(L, sched_send_session(L, s, 1, type, 3));
	return 1;
}

/* The session of a timer of `ti` centiseconds (the value at index ti). */
int sched_timer_session(lua_State *L, struct sched *s, int ti) {
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

int sched_l_timer_session(lua_State *L) {
	lua_pushinteger(L, sched_timer_session(L, sched_get(L), 1));
	return 1;
}



/* ---------------------------------------------------------------- */
/* Replying                                                          */

/* Fails `session` of the requester at `addr` with the text at `text`
 * (sent as is).  Returns what the send returned. */
int sched_reply_error(lua_State *L, struct sched *s, int addr, int session, int text) {
	return sched_send_string(L, s, addr, PTYPE_ERROR, session, text);
}

/* The one reply path: answers `session` of the requester at `addr` with
 * the payload at `msg` (a string, or a lightuserdata with its size above
 * it).  A payload too large for a message fails the call with
 * "response too large" instead, so the caller never waits forever.
 * Returns what the send returned (session, or a SKYNET_SEND_* code). */
int sched_reply(lua_State *L, struct sched *s, int addr, int session, int msg) {
	addr = lua_absindex(L, addr);
	int r = sched_send(L, s, addr, PTYPE_RESPONSE, session, lua_absindex(L, msg));
	if (r == SKYNET_SEND_TOO_LARGE) {
		lua_pushliteral(L, "response too large");
		sched_push_error_payload(L, s, -1);
		sched_reply_error(L, s, addr, session, -1);
		lua_pop(L, 2);
	}
	return r;
}

/* S.reply(addr, session, msg, sz) -> what skynet.core's send returns */
int sched_l_reply(lua_State *L) {
	struct sched *s = sched_get(L);
	int session = (int)luaL_checkinteger(L, 2);
	lua_settop(L, 4);
	luaskynet_push_send_result(L, sched_reply(L, s, 1, session, 3));
	return 1;
}

/* S.reply_error(addr, session, text) -> what skynet.core's send returns */
int sched_l_reply_error(lua_State *L) {
	struct sched *s = sched_get(L);
	int session = (int)luaL_checkinteger(L, 2);
	luaL_checkstring(L, 3);
	lua_settop(L, 3);
	luaskynet_push_send_result(L, sched_reply_error(L, s, 1, session, 3));
	return 1;
}

/* ---------------------------------------------------------------- */
/* Request bookkeeping: the operations the Lua modules (introspect,  */
/* request, response, ext) use instead of editing these tables.      */

/* The coroutine at `co` owes no reply any more: drop its request's
 * session, requester and trace tag. */
void sched_forget_request(lua_State *L, struct sched *s, int co) {
	co = lua_absindex(L, co);
	ref_clear(L, s, R_CO_SESSION, co);
	sched_set_address(L, s, co, 0);
	sched_clear_tracetag(L, s, co);
}

/* Nobody waits for `session` any more: a late reply or timer for it is
 * dropped ("BREAK"), and what was kept for it is forgotten; with `sleeper`,
 * also the token of a coroutine sleeping on it (a scan of the sleepers). */
void sched_break_session(lua_State *L, struct sched *s, lua_Integer session, int sleeper) {
	if (sched_smap_get(L, s, SM_CO, session) != LUA_TNIL) {
		push_key(L, s, K_BREAK);
		sched_smap_set(L, s, SM_CO, session);
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	sched_smap_set(L, s, SM_WATCHING, session);
	lua_pushnil(L);
	ref_seti(L, s, R_ERROR_TEXT, session);
	if (!sleeper)
		return;
	push_ref(L, s, R_SLEEP);
	int sleep = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, sleep)) {
		if (lua_tointeger(L, -1) == session) {
			lua_pop(L, 1);
			lua_pushnil(L);
			lua_rawset(L, sleep);
			break;
		}
		lua_pop(L, 1);
	}
	lua_settop(L, sleep - 1);
}

/* S.forget(co [, why]): co owes no reply; with `why`, a requester still
 * waiting is answered with that error first. */
int sched_l_forget(lua_State *L) {
	struct sched *s = sched_get(L);
	luaL_checktype(L, 1, LUA_TTHREAD);
	lua_settop(L, 2);
	if (!lua_isnil(L, 2) && ref_get(L, s, R_CO_SESSION, 1) == LUA_TNUMBER) {
		int session = (int)lua_tointeger(L, -1);
		sched_push_address(L, s, 1);
		if (session != 0 && !lua_isnil(L, -1)) {
			sched_push_error_payload(L, s, 2);
			sched_reply_error(L, s, -2, session, -1);
		}
	}
	lua_settop(L, 1);
	sched_forget_request(L, s, 1);
	return 0;
}

/* S.break_session(session [, sleeper]) */
int sched_l_break_session(lua_State *L) {
	sched_break_session(L, sched_get(L), luaL_checkinteger(L, 1), lua_toboolean(L, 2));
	return 0;
}

/* S.watch(session, co [, addr]): co waits for the reply to session (a call
 * to addr, failed at once if addr dies). */
int sched_l_watch(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_Integer session = luaL_checkinteger(L, 1);
	luaL_checktype(L, 2, LUA_TTHREAD);
	lua_settop(L, 3);
	lua_pushvalue(L, 2);
	sched_smap_set(L, s, SM_CO, session);
	if (!lua_isnil(L, 3)) {
		lua_pushvalue(L, 3);
		sched_smap_set(L, s, SM_WATCHING, session);
	}
	return 0;
}

/* S.settle(session) -> the error text that failed it, or nil: the reply to
 * session arrived (or failed); nothing more is kept for it. */
int sched_l_settle(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_Integer session = luaL_checkinteger(L, 1);
	lua_pushnil(L);
	sched_smap_set(L, s, SM_WATCHING, session);
	ref_geti(L, s, R_ERROR_TEXT, session);
	lua_pushnil(L);
	ref_seti(L, s, R_ERROR_TEXT, session);
	return 1;
}

/* S.take_request() -> session, requester, trace tag of the running
 * coroutine's request (nil if it has none), which stops owing the reply:
 * skynet.response answers it later. */
int sched_l_take_request(lua_State *L) {
	struct sched *s = sched_get(L);
	lua_settop(L, 0);
	push_running(L, s); /* 1 */
	if (ref_get(L, s, R_CO_SESSION, 1) == LUA_TNIL)
		return 1;
	ref_clear(L, s, R_CO_SESSION, 1);
	sched_push_address(L, s, 1);
	sched_co_tracetag(L, s, 1);
	return 3;
}
