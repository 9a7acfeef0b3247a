/*
 * snlua_codecache.h -- process-wide cache of compiled Lua chunks, shared by
 * every snlua service, and the `skynet.codecache` module.
 */
#ifndef SNLUA_CODECACHE_H
#define SNLUA_CODECACHE_H

#include <lua.h>

/* Like luaL_loadfilex(L, path, "bt"): pushes the chunk or an error message.
 * Compiles the file once per (path, mtime, size) and loads later services
 * from the cached bytecode. */
int codecache_loadfile(lua_State *L, const char *path);
/* Replaces global loadfile and the Lua-file searcher of `require` with
 * cached versions. */
void codecache_install(lua_State *L);
int luaopen_skynet_codecache(lua_State *L);
/* Cache files under loader_path's directory without debug info (call once,
 * before any load; later calls are ignored). */
void codecache_strip_below(const char *loader_path);

#endif
