/*
 * lua-skynet.c -- `skynet.core`, the binding lualib/skynet.lua is built on.
 *
 * Every function finds its service through the registry field
 * "skynet_context" set by snlua.  Payloads: a Lua string is copied by the
 * framework; a lightuserdata + size hands the buffer over (DONTCOPY); an
 * empty string or nil sends no payload.
 */
#include "skynet_lua.h"
#include "lua-seri.h"
#include "lua-skynet.h"
#include "skynet.h"
#include "skynet_handle.h" /* lalive */
#include "skynet_server.h" /* lalive */
#include "skynet_timer.h"  /* skynet_hpc */

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNRM "\x1B[0m"
#define KRED "\x1B[31m"

/* The callback thread's stack holds: 1 traceback, 2 the Lua callback.
 * `running` is set while dispatch_cb runs it; `retired` when it was
 * replaced meanwhile (then the registry pins it under CALLBACK_RUNNING
 * until it returns).  Both are touched only by the service's own thread. */
struct callback_context {
	lua_State *L;
	int forward;
	int running;
	int retired;
};

/* Registry fields: the current callback's userdata, and a replaced one
 * that is still running. */
#define CALLBACK_CURRENT "skynet.callback"
#define CALLBACK_RUNNING "skynet.callback.running"

static struct skynet_context *get_context(lua_State *L) {
	struct skynet_context *ctx = lua_touserdata(L, lua_upvalueindex(1));
	if (ctx == NULL)
		luaL_error(L, "Init skynet context first");
	return ctx;
}

/* Logs a failed callback run (status r, error on the top of L) and pops
 * the error; nothing for LUA_OK. */
static void report_error(struct skynet_context *context, lua_State *L, int r, int session, uint32_t source,
                         size_t sz) {
	if (r == LUA_OK)
		return;
	const char *self = skynet_command(context, "REG", NULL);
	const char *err = lua_tostring(L, -1);
	switch (r) {
	case LUA_ERRRUN:
		skynet_error(context, "lua call [%x to %s : %d msgsz = %d] error : " KRED "%s" KNRM, source, self,
		             session, (int)sz, err ? err : "(non-string error)");
		break;
	case LUA_ERRMEM:
		skynet_error(context, "lua memory error : [%x to %s : %d]", source, self, session);
		break;
	default:
		skynet_error(context, "lua error %d : [%x to %s : %d] %s", r, source, self, session, err ? err : "");
		break;
	}
	lua_pop(L, 1);
}

static int dispatch_cb(struct skynet_context *context, void *ud, int type, int session, uint32_t source,
                       const void *msg, size_t sz) {
	struct callback_context *cb = ud;
	lua_State *L = cb->L;
	lua_pushvalue(L, 2);
	lua_pushinteger(L, type);
	lua_pushlightuserdata(L, (void *)msg);
	lua_pushinteger(L, (lua_Integer)sz);
	lua_pushinteger(L, session);
	lua_pushinteger(L, source);
	cb->running = 1;
	int r = lua_pcall(L, 5, 0, 1);
	cb->running = 0;
	int forward = cb->forward;
	report_error(context, L, r, session, source, sz);
	if (cb->retired) {
		/* Replaced while it ran: unpin it.  It may be collected from now
		 * on, so neither cb nor its thread is used after this. */
		lua_pushnil(L);
		lua_setfield(L, LUA_REGISTRYINDEX, CALLBACK_RUNNING);
	}
	return forward;
}

/* The function at index 1 handles every message of `context` from now on:
 * f(type, msg, sz, session, source).  It runs on a dedicated thread kept
 * alive in the registry, so the main state's stack is never disturbed. */
void luaskynet_set_callback(lua_State *L, struct skynet_context *context, int forward) {
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	struct callback_context *cb = lua_newuserdatauv(L, sizeof(*cb), 2);
	cb->L = lua_newthread(L);
	lua_setiuservalue(L, -2, 1); /* the userdata keeps the thread alive */
	lua_pushcfunction(cb->L, skynet_lua_traceback);
	lua_pushvalue(L, 1);
	lua_xmove(L, cb->L, 1);
	cb->forward = forward;
	cb->running = cb->retired = 0;
	/* The callback being replaced may be the one running this code (as in
	 * skynet.exit): keep it, and so its thread, alive until it returns. */
	if (lua_getfield(L, LUA_REGISTRYINDEX, CALLBACK_CURRENT) == LUA_TUSERDATA) {
		struct callback_context *old = lua_touserdata(L, -1);
		if (old->running) {
			old->retired = 1;
			lua_setfield(L, LUA_REGISTRYINDEX, CALLBACK_RUNNING);
		} else {
			lua_pop(L, 1);
		}
	} else {
		lua_pop(L, 1);
	}
	lua_setfield(L, LUA_REGISTRYINDEX, CALLBACK_CURRENT);
	skynet_callback(context, cb, dispatch_cb);
}

/* callback(f, forward) */
static int lcallback(lua_State *L) {
	luaskynet_set_callback(L, get_context(L), lua_toboolean(L, 2));
	return 0;
}

/* Runs command(arg1, arg2?) for the calling service; NULL when it has no
 * result. */
static const char *run_command(lua_State *L) {
	struct skynet_context *context = get_context(L);
	const char *cmd = luaL_checkstring(L, 1);
	const char *parm = NULL;
	if (lua_gettop(L) >= 2)
		parm = luaL_checkstring(L, 2);
	return skynet_command(context, cmd, parm);
}

static int lcommand(lua_State *L) {
	const char *result = run_command(L);
	if (result) {
		lua_pushstring(L, result);
		return 1;
	}
	return 0;
}

static int laddresscommand(lua_State *L) {
	const char *result = run_command(L);
	if (result && result[0] == ':') {
		uint32_t addr = (uint32_t)strtoul(result + 1, NULL, 16);
		lua_pushinteger(L, addr);
		return 1;
	}
	return 0;
}

static int lintcommand(lua_State *L) {
	struct skynet_context *context = get_context(L);
	const char *cmd = luaL_checkstring(L, 1);
	const char *parm = NULL;
	char tmp[64];
	if (lua_gettop(L) >= 2) {
		if (lua_isinteger(L, 2)) {
			snprintf(tmp, sizeof(tmp), "%lld", (long long)lua_tointeger(L, 2));
			parm = tmp;
		} else {
			parm = luaL_checkstring(L, 2);
		}
	}
	const char *result = skynet_command(context, cmd, parm);
	if (result == NULL || result[0] == '\0')
		return 0;
	char *end;
	long long v = strtoll(result, &end, 10);
	if (*end == '\0') {
		lua_pushinteger(L, v);
		return 1;
	}
	lua_pushnumber(L, strtod(result, NULL));
	return 1;
}

static int lgenid(lua_State *L) {
	struct skynet_context *context = get_context(L);
	int session = skynet_send(context, 0, 0, PTYPE_TAG_ALLOCSESSION, 0, NULL, 0);
	lua_pushinteger(L, session);
	return 1;
}

void luaskynet_payload(lua_State *L, int idx, int *type, void **data, size_t *len) {
	*data = NULL;
	*len = 0;
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		*data = (void *)lua_tolstring(L, idx, len);
		if (*len == 0)
			*data = NULL;
		break;
	case LUA_TLIGHTUSERDATA:
		*data = lua_touserdata(L, idx);
		*len = (size_t)luaL_checkinteger(L, idx + 1);
		*type |= PTYPE_TAG_DONTCOPY;
		break;
	case LUA_TNONE:
	case LUA_TNIL:
		break;
	default:
		luaL_error(L, "invalid param %s", luaL_typename(L, idx));
	}
}

/* The one send path of the Lua modules (skynet.core's send and redirect,
 * and every send of skynet.sched). */
int luaskynet_send(lua_State *L, struct skynet_context *context, uint32_t source, int addr, int type,
                   int session, int msg) {
	/* As upstream: anything that converts to a non-zero integer (a numeric
	 * string too) is a handle, any other string a name. */
	uint32_t dest = (uint32_t)lua_tointeger(L, addr);
	const char *name = NULL;
	if (dest == 0) {
		if (lua_type(L, addr) == LUA_TNUMBER)
			return luaL_error(L, "Invalid service address 0");
		name = lua_tostring(L, addr);
		if (name == NULL)
			return luaL_error(L, "dest address type (%s) must be a string or number.",
			                  luaL_typename(L, addr));
	}
	if (session < 0) {
		type |= PTYPE_TAG_ALLOCSESSION;
		session = 0;
	}
	void *data;
	size_t len;
	luaskynet_payload(L, msg, &type, &data, &len);
	int r = name ? skynet_sendname(context, source, name, type, session, data, len)
	             : skynet_send(context, source, dest, type, session, data, len);
	return r < 0 && r != SKYNET_SEND_TOO_LARGE ? SKYNET_SEND_NO_DEST : r;
}

void luaskynet_push_send_result(lua_State *L, int r) {
	if (r >= 0)
		lua_pushinteger(L, r);
	else if (r == SKYNET_SEND_TOO_LARGE)
		lua_pushboolean(L, 0);
	else
		lua_pushnil(L);
}

/* send/redirect: (dest, [source,] type, session|nil, msg, sz) from `idx_type` on */
static int send_message(lua_State *L, uint32_t source, int idx_type) {
	struct skynet_context *context = get_context(L);
	int type = (int)luaL_checkinteger(L, idx_type);
	int session = lua_isnil(L, idx_type + 1) ? -1 : (int)luaL_checkinteger(L, idx_type + 1);
	luaskynet_push_send_result(L, luaskynet_send(L, context, source, 1, type, session, idx_type + 2));
	return 1;
}

/* send(dest, type, session|nil, msg, sz) */
static int lsend(lua_State *L) { return send_message(L, 0, 2); }

/* redirect(dest, source, type, session, msg, sz) */
static int lredirect(lua_State *L) {
	uint32_t source = (uint32_t)luaL_checkinteger(L, 2);
	return send_message(L, source, 3);
}

/* Logs the values on the stack for `context`: tostring each, joined with
 * one space; no value logs "nil". */
void luaskynet_log(lua_State *L, struct skynet_context *context) {
	int n = lua_gettop(L);
	if (n <= 1) {
		lua_settop(L, 1);
		const char *s = luaL_tolstring(L, 1, NULL);
		skynet_error(context, "%s", s);
		return;
	}
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
		if (i < n)
			luaL_addchar(&b, ' ');
	}
	luaL_pushresult(&b);
	skynet_error(context, "%s", lua_tostring(L, -1));
}

/* error(...) */
static int lerror(lua_State *L) {
	luaskynet_log(L, get_context(L));
	return 0;
}

static int ltostring(lua_State *L) {
	if (lua_isnoneornil(L, 1))
		return 0;
	char *msg = lua_touserdata(L, 1);
	int sz = (int)luaL_checkinteger(L, 2);
	lua_pushlstring(L, msg, (size_t)sz);
	return 1;
}

static int lharbor(lua_State *L) {
	struct skynet_context *context = get_context(L);
	uint32_t handle = (uint32_t)luaL_checkinteger(L, 1);
	int harbor = 0;
	int remote = skynet_isremote(context, handle, &harbor);
	lua_pushinteger(L, harbor);
	lua_pushboolean(L, remote);
	return 2;
}

/* trace(tag, text): one `<TRACE tag> <hpc ns> text` log line. */
static int ltrace(lua_State *L) {
	struct skynet_context *context = get_context(L);
	const char *tag = luaL_checkstring(L, 1);
	const char *text = luaL_optstring(L, 2, "");
	skynet_error(context, "<TRACE %s> %llu %s", tag, (unsigned long long)skynet_hpc(), text);
	return 0;
}

/*
 * alive(handle) -> boolean: whether a service with this handle exists now.
 * Added for the debug console, which must tell a dead address from a slow
 * one without sending the target anything (a message would queue behind a
 * stuck handler).  A handle of another harbor is reported alive: only its
 * own node knows.
 */
static int lalive(lua_State *L) {
	struct skynet_context *context = get_context(L);
	uint32_t handle = (uint32_t)luaL_checkinteger(L, 1);
	int harbor = 0;
	if (handle == 0) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (skynet_isremote(context, handle, &harbor)) {
		lua_pushboolean(L, 1);
		return 1;
	}
	struct skynet_context *target = skynet_handle_grab(handle);
	int alive = target != NULL;
	if (target)
		skynet_context_release(target);
	lua_pushboolean(L, alive);
	return 1;
}

static int lnow(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)skynet_now());
	return 1;
}

static int lhpc(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)skynet_hpc());
	return 1;
}

int luaopen_skynet_core(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg with_context[] = {
		{"send", lsend},         {"genid", lgenid},       {"redirect", lredirect},
		{"command", lcommand},   {"intcommand", lintcommand}, {"addresscommand", laddresscommand},
		{"error", lerror},       {"harbor", lharbor},     {"callback", lcallback},
		{"trace", ltrace},       {"alive", lalive},       {NULL, NULL},
	};
	luaL_Reg plain[] = {
		{"tostring", ltostring},   {"pack", luaseri_pack}, {"unpack", luaseri_unpack},
		{"packstring", luaseri_packstring}, {"trash", luaseri_trash}, {"now", lnow},
		{"hpc", lhpc},             {NULL, NULL},
	};
	lua_createtable(L, 0, sizeof(with_context) / sizeof(with_context[0]) + sizeof(plain) / sizeof(plain[0]));
	lua_getfield(L, LUA_REGISTRYINDEX, "skynet_context");
	struct skynet_context *ctx = lua_touserdata(L, -1);
	if (ctx == NULL)
		return luaL_error(L, "Init skynet context first");
	luaL_setfuncs(L, with_context, 1);
	luaL_setfuncs(L, plain, 0);
	return 1;
}
