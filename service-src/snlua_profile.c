/*
 * snlua_profile.c -- `skynet.profile`: start(co)/stop(co) measure the time a
 * coroutine actually runs, excluding the time it spends suspended.
 *
 * resume/wrap replace the coroutine library's and add the time between
 * resume and yield to a profiled coroutine's total.  When nothing is being
 * profiled (the common case) resume costs one table lookup more than the
 * stock one.  Times come from skynet_hpc() (seconds, float).
 */
#include "snlua_profile.h"
#include "skynet.h"

#include <lauxlib.h>

/* upvalue 1: starttime table (co -> time when last resumed)
 * upvalue 2: totaltime table (co -> seconds accumulated) */
#define START_TABLE lua_upvalueindex(1)
#define TOTAL_TABLE lua_upvalueindex(2)
/* upvalue 3: lightuserdata `lua_State **` where snlua keeps the coroutine
 * that is running now (so SIGNAL can interrupt it), or NULL. */
#define ACTIVE_SLOT lua_upvalueindex(3)

static double now_seconds(void) { return (double)skynet_hpc() / 1e9; }

static lua_State *get_co(lua_State *L, int idx) {
	if (lua_isnoneornil(L, idx))
		return L;
	lua_State *co = lua_tothread(L, idx);
	luaL_argexpected(L, co, idx, "coroutine");
	return co;
}

static int lstart(lua_State *L) {
	lua_State *co = get_co(L, 1);
	lua_pushthread(co);
	lua_xmove(co, L, 1);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, TOTAL_TABLE) != LUA_TNIL)
		return luaL_error(L, "Thread %p start profile more than once", (void *)co);
	lua_pop(L, 1);
	lua_pushvalue(L, -1);
	lua_pushnumber(L, 0);
	lua_rawset(L, TOTAL_TABLE);
	lua_pushnumber(L, now_seconds());
	lua_rawset(L, START_TABLE);
	return 0;
}

static int lstop(lua_State *L) {
	lua_State *co = get_co(L, 1);
	lua_pushthread(co);
	lua_xmove(co, L, 1);
	int key = lua_gettop(L);
	lua_pushvalue(L, key);
	if (lua_rawget(L, START_TABLE) == LUA_TNIL)
		return luaL_error(L, "Call profile.start() before profile.stop()");
	double ti = now_seconds() - lua_tonumber(L, -1);
	lua_pushvalue(L, key);
	lua_rawget(L, TOTAL_TABLE);
	double total = lua_tonumber(L, -1) + ti;
	lua_pushvalue(L, key);
	lua_pushnil(L);
	lua_rawset(L, START_TABLE);
	lua_pushvalue(L, key);
	lua_pushnil(L);
	lua_rawset(L, TOTAL_TABLE);
	lua_pushnumber(L, total);
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

/* Runs aux_resume, charging the elapsed time to co when it is profiled.
 * `coidx` is a stack index (or upvalue pseudo-index) holding co itself,
 * used as the key of the timing tables. */
static int timed_resume(lua_State *L, lua_State *co, int coidx, int narg) {
	lua_State **active = lua_touserdata(L, ACTIVE_SLOT);
	lua_State *previous = active ? *active : NULL;
	if (active)
		*active = co;
	lua_pushvalue(L, coidx);
	int profiled = lua_rawget(L, TOTAL_TABLE) != LUA_TNIL;
	lua_pop(L, 1);
	if (profiled) {
		lua_pushvalue(L, coidx);
		lua_pushnumber(L, now_seconds());
		lua_rawset(L, START_TABLE);
	}
	int r = aux_resume(L, co, narg);
	if (active)
		*active = previous;
	if (profiled) {
		lua_pushvalue(L, coidx);
		if (lua_rawget(L, START_TABLE) != LUA_TNIL) {
			double ti = now_seconds() - lua_tonumber(L, -1);
			lua_pushvalue(L, coidx);
			lua_rawget(L, TOTAL_TABLE);
			double total = lua_tonumber(L, -1) + ti;
			lua_pop(L, 1);
			lua_pushvalue(L, coidx);
			lua_pushnumber(L, total);
			lua_rawset(L, TOTAL_TABLE);
		}
		lua_pop(L, 1);
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
	lua_State *co = lua_tothread(L, lua_upvalueindex(4));
	int r = timed_resume(L, co, lua_upvalueindex(4), lua_gettop(L));
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
	lua_pushvalue(L, START_TABLE);
	lua_pushvalue(L, TOTAL_TABLE);
	lua_pushvalue(L, ACTIVE_SLOT);
	lua_rotate(L, -4, 3); /* start, total, active, co */
	lua_pushcclosure(L, auxwrap, 4);
	return 1;
}

int luaopen_skynet_profile(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {{"start", lstart}, {"stop", lstop}, {"resume", lresume}, {"wrap", lwrap}, {NULL, NULL}};
	luaL_newlibtable(L, l);
	lua_newtable(L); /* starttime */
	lua_newtable(L); /* totaltime */
	lua_newtable(L); /* weak keys for both */
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_pushvalue(L, -1);
	lua_setmetatable(L, -3);
	lua_setmetatable(L, -3);
	lua_getfield(L, LUA_REGISTRYINDEX, "skynet.activeL");
	luaL_setfuncs(L, l, 3);
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
