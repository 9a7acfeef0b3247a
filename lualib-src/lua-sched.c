/*
 * lua-sched.c -- `skynet.sched`: the scheduler and core API behind
 * lualib/skynet.lua, in C.  This file is the module's entry point: it
 * builds the skynet table (and its lazy __index), fills skynet.internal,
 * and holds the small API (self, address, getenv, error).
 *
 * Why C: every service has its own Lua state and stock Lua cannot share
 * function prototypes between states, so each Lua function of the core
 * cost every service a few hundred bytes and its load time.  Here the API
 * is light C functions (no per-state cost but a table slot), which cut an
 * idle service by ~25 kB and its start by the bytecode load.
 *
 * Model.  Each request runs its protocol's dispatch function in a
 * coroutine of its own, taken from a pool of finished ones.  A coroutine
 * that blocks (call, sleep, wait) yields "SUSPEND" to the scheduler, which
 * resumes it when the reply, the timer or the wakeup for its session
 * arrives.  After a coroutine suspends, queued wakeups and failed sessions
 * are dispatched; after each message, the forked coroutines run.
 *
 * State.  The scheduler's tables are Lua tables (they hold Lua values)
 * owned by C and reached through registry references kept in struct sched.
 * The lazily loaded Lua modules (skynet/ext, introspect, request, response,
 * debug) see them only through skynet.internal (fill_internal below).
 *
 * Errors never hang a caller, and say why: a request whose handler raises
 * is answered with PTYPE_ERROR whose payload is ":<callee>: <message>"
 * (first line, no traceback); the caller's skynet.call raises
 * "call to <addr> failed: <payload>" (S.call_fail in skynet/ext.lua).
 *
 * The other files of the module and their order are listed in lua-sched.h.
 */
#include "lua-sched.h"
#include "lua-seri.h"

#include "lua-skynet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The interned strings of the K_* keys (lua-sched.h), in enum order. */
static const char *const key_names[K_COUNT] = {"dispatch", "unpack",     "pack",    "id",    "trace",
                                               "name",     "timer_hook", "SUSPEND", "BREAK", "TIMEOUT"};

/* ---------------------------------------------------------------- */
/* skynet.internal's proxy tables                                     */

/* The proxy tables S.session_coroutine_address / _tracetag: (t, co [, v]) */
static int address_index(lua_State *L) {
	sched_push_address(L, sched_get(L), 2);
	return 1;
}

static int address_newindex(lua_State *L) {
	sched_set_address(L, sched_get(L), 2, (uint32_t)luaL_optinteger(L, 3, 0));
	return 0;
}

static int tracetag_index(lua_State *L) {
	sched_co_tracetag(L, sched_get(L), 2);
	return 1;
}

static int tracetag_newindex(lua_State *L) {
	lua_settop(L, 3);
	sched_set_tracetag(L, sched_get(L), 2);
	return 0;
}

/* The proxy S.session_id_coroutine (read only): session -> coroutine (or
 * "BREAK"/"TIMEOUT"), from the SM_CO session map; pairs walks a copy. */
static int session_co_index(lua_State *L) {
	sched_smap_get(L, sched_get(L), SM_CO, lua_tointeger(L, 2));
	return 1;
}

static int session_co_newindex(lua_State *L) {
	return luaL_error(L, "skynet.internal: session_id_coroutine is read only");
}

static int table_next(lua_State *L) {
	lua_settop(L, 2);
	if (lua_next(L, 1))
		return 2;
	lua_pushnil(L);
	return 1;
}

static int session_co_pairs(lua_State *L) {
	lua_pushcfunction(L, table_next);
	sched_smap_push_table(L, sched_get(L), SM_CO);
	lua_pushnil(L);
	return 3;
}

static int l_error_payload(lua_State *L) {
	lua_settop(L, 1);
	sched_push_error_payload(L, sched_get(L), 1);
	return 1;
}

/* ---------------------------------------------------------------- */
/* Small API                                                         */

static int l_self(lua_State *L) {
	lua_pushinteger(L, sched_self(sched_get(L)));
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

/* error(...): one log line, the values tostring'ed and joined by a space */
static int l_error(lua_State *L) {
	luaskynet_log(L, sched_get(L)->ctx);
	return 0;
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

/* Plain values of the skynet table, also set on first use: every service
 * would otherwise pay for ~20 more strings and table slots at start. */
static const struct {
	const char *name;
	int id;
} ptypes[] = {
	{"PTYPE_TEXT", PTYPE_TEXT},     {"PTYPE_RESPONSE", PTYPE_RESPONSE}, {"PTYPE_MULTICAST", PTYPE_MULTICAST},
	{"PTYPE_CLIENT", PTYPE_CLIENT}, {"PTYPE_SYSTEM", PTYPE_SYSTEM},     {"PTYPE_HARBOR", PTYPE_HARBOR},
	{"PTYPE_SOCKET", PTYPE_SOCKET}, {"PTYPE_ERROR", PTYPE_ERROR},       {"PTYPE_QUEUE", PTYPE_QUEUE},
	{"PTYPE_DEBUG", PTYPE_DEBUG},   {"PTYPE_LUA", PTYPE_LUA},           {"PTYPE_SNAX", PTYPE_SNAX},
	{"PTYPE_TRACE", PTYPE_TRACE},
};
/* skynet.core functions the skynet table passes on as they are */
static const char *const core_aliases[] = {"harbor", "now", "hpc", "packstring", "tostring", "trash"};

/* Pushes the plain value `k` of the skynet table, or returns 0. */
static int lazy_value(lua_State *L, struct sched *s, const char *k) {
	if (strncmp(k, "PTYPE_", 6) == 0) {
		for (size_t i = 0; i < sizeof(ptypes) / sizeof(ptypes[0]); i++) {
			if (strcmp(k, ptypes[i].name) == 0) {
				lua_pushinteger(L, ptypes[i].id);
				return 1;
			}
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(core_aliases) / sizeof(core_aliases[0]); i++) {
		if (strcmp(k, core_aliases[i]) == 0) {
			luaL_requiref(L, "skynet.core", luaopen_skynet_core, 0);
			lua_getfield(L, -1, k);
			return 1;
		}
	}
	if (strcmp(k, "pcall") == 0) {
		lua_getglobal(L, "pcall");
		return 1;
	}
	if (strcmp(k, "_proto") == 0) {
		push_ref(L, s, R_PROTO);
		return 1;
	}
	return 0;
}

static int lazy_index(lua_State *L) {
	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	size_t len;
	const char *k = lua_tolstring(L, 2, &len);
	if (len == 0 || len > 64)
		return 0;
	if (lazy_value(L, sched_get(L), k)) {
		lua_pushvalue(L, 2);
		lua_pushvalue(L, -2);
		lua_rawset(L, 1);
		return 1;
	}
	char key[68];
	key[0] = ' ';
	memcpy(key + 1, k, len);
	key[len + 1] = ' ';
	key[len + 2] = '\0';
	for (size_t i = 0; i < sizeof(lazy_names) / sizeof(lazy_names[0]); i++) {
		if (strstr(lazy_names[i].names, key)) {
			sched_load_lazy(L, sched_get(L), lazy_names[i].module);
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

/* Pushes module `name`: package.loaded's, else loaded by the global
 * require (at luaopen, before any coroutine could make it yield). */
static void require_plain(lua_State *L, const char *name) {
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 2);
	lua_getglobal(L, "require");
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
}

/*
 * Pops the top value into a registry reference of its own.  luaL_ref
 * looks for the border of the registry every time (~700 instructions, and
 * a service takes 30 references at start), so the scheduler's references
 * are handed out in one contiguous run after the first, as long as the
 * next slot is free.
 */
static int new_ref(lua_State *L, int *next) {
	if (*next > 0) {
		if (lua_rawgeti(L, LUA_REGISTRYINDEX, *next) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_rawseti(L, LUA_REGISTRYINDEX, *next);
			return (*next)++;
		}
		lua_pop(L, 1);
	}
	int r = luaL_ref(L, LUA_REGISTRYINDEX);
	*next = r + 1;
	return r;
}

static void new_ref_table(lua_State *L, int *next, struct sched *s, int r) {
	lua_newtable(L);
	s->ref[r] = new_ref(L, next);
}

/* S[name]: an empty table whose reads and writes go to C. */
static void set_proxy(lua_State *L, int S, const char *name, lua_CFunction index, lua_CFunction newindex) {
	lua_newtable(L);
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, newindex);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -2);
	lua_setfield(L, S, name);
}

/* package.preload["skynet.internal"]: S, for the Lua modules that work on
 * the scheduler's state (skynet/ext, introspect, request, response, debug,
 * inject).  C owns that state: the modules change it only through the
 * functions below.  Two tables are visible to Lua, read-only:
 *   S.proto                 name/id -> protocol (written by register_protocol)
 *   S.session_id_coroutine  session -> waiting coroutine or "BREAK" (for
 *                           task, uniqtask, debug's listing)
 * and two proxies whose reads and writes go to C (requester address and
 * trace tag of a coroutine).  The modules set hooks in S that C calls:
 * call_fail, trace_event, timer_hook, unknown_request, unknown_response,
 * info_func, fail_responses, close_responses; and skynet/response.lua
 * leaves its tables S.unresponse / S.unresponse_session there, which only
 * the farewell of a killed service reads (lua-sched-exit.c). */
static int fill_internal(lua_State *L) {
	struct sched *s = sched_get(L);
	push_ref(L, s, R_S);
	int S = lua_gettop(L);
	push_ref(L, s, R_PROTO);
	lua_setfield(L, S, "proto");
	set_proxy(L, S, "session_id_coroutine", session_co_index, session_co_newindex);
	lua_getfield(L, S, "session_id_coroutine");
	lua_getmetatable(L, -1);
	lua_pushcfunction(L, session_co_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_pop(L, 2);
	set_proxy(L, S, "session_coroutine_address", address_index, address_newindex);
	set_proxy(L, S, "session_coroutine_tracetag", tracetag_index, tracetag_newindex);
	luaL_Reg internal[] = {
		{"resume", sched_l_resume},
		{"running", sched_l_running},
		{"set_running", sched_l_set_running},
		{"init_thread", sched_l_init_thread},
		{"send_session", sched_l_send_session},
		{"timer_session", sched_l_timer_session},
		{"wait_reply", sched_l_wait_reply},
		{"reply", sched_l_reply},
		{"reply_error", sched_l_reply_error},
		{"take_request", sched_l_take_request},
		{"forget", sched_l_forget},
		{"watch", sched_l_watch},
		{"settle", sched_l_settle},
		{"break_session", sched_l_break_session},
		{"forks", sched_l_forks},
		{"fork_remove", sched_l_fork_remove},
		{"fail_source", sched_l_fail_source},
		{"call_stats", sched_l_call_stats},
		{"error_payload", l_error_payload},
		{NULL, NULL},
	};
	luaL_setfuncs(L, internal, 0);
	return 1;
}

static void register_builtin(lua_State *L, const char *name, int id, int with_pack, lua_CFunction unpack,
                             lua_CFunction dispatch) {
	lua_pushcfunction(L, sched_l_register_protocol);
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

	int next = 0; /* see new_ref */
	struct sched *s = lua_newuserdatauv(L, sizeof(*s), 0);
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	lua_rawsetp(L, LUA_REGISTRYINDEX, &sched_key);
	for (int k = 0; k < K_COUNT; k++) {
		lua_pushstring(L, key_names[k]);
		if (k == K_SUSPEND)
			s->suspend = lua_tostring(L, -1);
		else if (k == K_TIMEOUT)
			s->timed_out = lua_tostring(L, -1);
		s->key[k] = new_ref(L, &next);
	}
	s->main_co.s = s;
	*(struct costate **)lua_getextraspace(L) = &s->main_co;
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	*(struct costate **)lua_getextraspace(lua_tothread(L, -1)) = &s->main_co;
	lua_pop(L, 1);

	require_plain(L, "skynet.require");
	int sreq = lua_gettop(L);

	/* S, the internal table of the lazy modules: filled by the first
	 * require "skynet.internal" (fill_internal); C only reads the hooks the
	 * modules set in it. */
	lua_newtable(L);
	int S = lua_gettop(L);
	lua_pushvalue(L, S);
	s->ref[R_S] = new_ref(L, &next);
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, fill_internal);
	lua_setfield(L, -2, "skynet.internal");
	lua_pop(L, 1);
	new_ref_table(L, &next, s, R_PROTO);
	new_ref_table(L, &next, s, R_SESSION_CO);
	new_ref_table(L, &next, s, R_DEADLINE_TIMERS);
	new_ref_table(L, &next, s, R_CO_SESSION);
	lua_newtable(L); /* R_COSTATES: weak keys */
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	s->ref[R_COSTATES] = new_ref(L, &next);
	new_ref_table(L, &next, s, R_WATCHING);
	new_ref_table(L, &next, s, R_ERROR_TEXT);
	new_ref_table(L, &next, s, R_SLEEP);
	new_ref_table(L, &next, s, R_TRACE_SOURCE);
	new_ref_table(L, &next, s, R_FORKQ);
	new_ref_table(L, &next, s, R_WAKEUPQ);
	new_ref_table(L, &next, s, R_ERRORQ);
	s->wakeupq.h = s->errorq.h = s->forkq.h = 1;
	lua_newtable(L); /* the coroutine pool, weak values */
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "v");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	s->ref[R_POOL] = new_ref(L, &next);

	lua_getglobal(L, "coroutine");
	lua_getfield(L, -1, "resume");
	s->ref[R_RESUME] = new_ref(L, &next);
	lua_pop(L, 1);
	lua_getfield(L, sreq, "lua_require");
	s->ref[R_LUA_REQUIRE] = new_ref(L, &next);
	lua_pushboolean(L, 0);
	s->ref[R_RUNNING] = new_ref(L, &next);
	lua_pushboolean(L, 0);
	s->ref[R_INIT_THREAD] = new_ref(L, &next);
	lua_pushboolean(L, 0);
	s->ref[R_DEADLINES] = new_ref(L, &next);
	s->deadlines.free = -1;
	lua_pushboolean(L, 0);
	s->ref[R_SMAP_CO_MEM] = new_ref(L, &next);
	lua_pushboolean(L, 0);
	s->ref[R_SMAP_WATCHING_MEM] = new_ref(L, &next);
	for (int i = 0; i < SM_COUNT; i++)
		s->smap[i].free_head = -1;
	const char *ct = skynet_command(ctx, "GETENV", "call_timeout");
	if (ct) {
		long v = strtol(ct, NULL, 10);
		s->call_timeout = v > 0 && v <= 0x7fffffff ? (int)v : 0;
	}

	/* the skynet table */
	luaL_Reg api[] = {
		{"self", l_self},
		{"address", l_address},
		{"getenv", l_getenv},
		{"genid", sched_l_genid},
		{"timeout", sched_l_timeout},
		{"sleep", sched_l_sleep},
		{"yield", sched_l_yield},
		{"wait", sched_l_wait},
		{"wakeup", sched_l_wakeup},
		{"fork", sched_l_fork},
		{"register_protocol", sched_l_register_protocol},
		{"dispatch", sched_l_dispatch},
		{"dispatch_message", sched_l_dispatch_message},
		{"send", sched_l_send},
		{"call", sched_l_call},
		{"call_timeout", sched_l_call_timeout},
		{"ret", sched_l_ret},
		{"retpack", sched_l_retpack},
		{"ignoreret", sched_l_ignoreret},
		{"context", sched_l_context},
		{"exit", sched_l_exit},
		{"info_func", sched_l_info_func},
		{"init_service", sched_l_init_service},
		{"start", sched_l_start},
		{NULL, NULL},
	};
	lua_createtable(L, 0, 32);
	int skynet = lua_gettop(L);
	luaL_setfuncs(L, api, 0);
	lua_pushcfunction(L, luaseri_pack);
	lua_setfield(L, skynet, "pack");
	lua_pushcfunction(L, luaseri_unpack);
	lua_setfield(L, skynet, "unpack");
	lua_pushcfunction(L, l_error);
	lua_setfield(L, skynet, "error");
	lua_getfield(L, sreq, "init");
	lua_setfield(L, skynet, "init");
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, lazy_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, skynet);
	lua_pushvalue(L, skynet);
	s->ref[R_SKYNET] = new_ref(L, &next);

	lua_pushcfunction(L, sched_l_farewell);
	lua_setfield(L, LUA_REGISTRYINDEX, SCHED_FAREWELL);

	register_builtin(L, "lua", PTYPE_LUA, 1, luaseri_unpack, NULL);
	register_builtin(L, "response", PTYPE_RESPONSE, 0, NULL, NULL);
	register_builtin(L, "error", PTYPE_ERROR, 0, sched_l_identity, sched_error_dispatch);
	register_builtin(L, "debug", PTYPE_DEBUG, 1, luaseri_unpack, sched_debug_dispatch);
	lua_settop(L, skynet);
	return 1;
}
