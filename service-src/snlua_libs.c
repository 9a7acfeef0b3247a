/*
 * snlua_libs.c -- the standard libraries of a service's Lua state, some of
 * them opened on first use.
 *
 * Opening every library costs each new service about a quarter of its
 * start-up time and a few kB, and a typical service never touches io, os,
 * utf8 or debug.  So base, package, coroutine, table and string open now;
 * io, os, utf8, debug and math open the first time their global is read
 * (an __index on _G) or they are required (package.preload).  After that
 * they are ordinary globals.
 *
 * What a user can observe: getmetatable(_G) is our small table instead of
 * nil until setmetatable replaces it; setmetatable(_G, mt) first opens the
 * libraries still pending, so a strict-mode metatable sees them all; and
 * pairs(_G) lists a lazy library only once it was opened.
 *
 * print is ours too: the same text as Lua's (tostring of each argument,
 * tabs between, a newline), but written as one line.  Lua's writes each
 * piece separately, so lines printed by services on other workers, and
 * the logger's lines on the same stdout, came out cut into one another.
 */
#include "snlua_libs.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

static const luaL_Reg eager_libs[] = {
	{LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package}, {LUA_COLIBNAME, luaopen_coroutine},
	{LUA_TABLIBNAME, luaopen_table},    {LUA_STRLIBNAME, luaopen_string},   {NULL, NULL},
};

static const luaL_Reg lazy_libs[] = {
	{LUA_IOLIBNAME, luaopen_io},     {LUA_OSLIBNAME, luaopen_os},   {LUA_UTF8LIBNAME, luaopen_utf8},
	{LUA_DBLIBNAME, luaopen_debug},  {LUA_MATHLIBNAME, luaopen_math}, {NULL, NULL},
};

static const luaL_Reg *find_lazy(const char *name) {
	for (const luaL_Reg *lib = lazy_libs; lib->name; lib++)
		if (strcmp(lib->name, name) == 0)
			return lib;
	return NULL;
}

/* Opens `lib` as a global and in package.loaded (once); pushes it. */
static void open_lazy(lua_State *L, const luaL_Reg *lib) {
	luaL_requiref(L, lib->name, lib->func, 1);
}

/* _G's __index(t, k) */
static int lazy_global(lua_State *L) {
	const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
	const luaL_Reg *lib = name ? find_lazy(name) : NULL;
	if (lib == NULL)
		return 0;
	open_lazy(L, lib);
	return 1;
}

/* package.preload[name](name): require "io" and friends */
static int lazy_preload(lua_State *L) {
	const luaL_Reg *lib = find_lazy(luaL_checkstring(L, 1));
	if (lib == NULL)
		return 0;
	open_lazy(L, lib);
	return 1;
}

/* setmetatable, wrapped (upvalue 1: the original): replacing _G's
 * metatable first opens the libraries still pending. */
static int guarded_setmetatable(lua_State *L) {
	lua_pushglobaltable(L);
	int is_g = lua_rawequal(L, 1, -1);
	lua_pop(L, 1);
	if (is_g) {
		for (const luaL_Reg *lib = lazy_libs; lib->name; lib++) {
			open_lazy(L, lib);
			lua_pop(L, 1);
		}
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* print(...): Lua's output, as one locked write of the whole line. */
static int line_print(lua_State *L) {
	int n = lua_gettop(L);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
	size_t len;
	const char *line = lua_tolstring(L, -1, &len);
	flockfile(stdout);
	fwrite(line, 1, len, stdout);
	fflush(stdout);
	funlockfile(stdout);
	return 0;
}

void snlua_openlibs(lua_State *L) {
	/* The globals and the module tables start empty and would be rehashed
	 * at every power of two while the libraries fill them: give them room
	 * for what a service puts there (~45 globals, ~12 modules) at once. */
	lua_createtable(L, 0, 64);
	lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	lua_createtable(L, 0, 16);
	lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_createtable(L, 0, 8);
	lua_setfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	for (const luaL_Reg *lib = eager_libs; lib->name; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	for (const luaL_Reg *lib = lazy_libs; lib->name; lib++) {
		lua_pushcfunction(L, lazy_preload);
		lua_setfield(L, -2, lib->name);
	}
	lua_pop(L, 1);
	lua_pushglobaltable(L);
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, lazy_global);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_getfield(L, -1, "setmetatable");
	lua_pushcclosure(L, guarded_setmetatable, 1);
	lua_setfield(L, -2, "setmetatable");
	lua_pushcfunction(L, line_print);
	lua_setfield(L, -2, "print");
	lua_pop(L, 1);
}
