/*
 * skynet_lua.h -- Lua helpers shared by the C services (snlua) and the C
 * modules of luaclib/skynet.so.  They live in the core executable, which
 * exports its symbols, so there is one copy of each in the process.
 */
#ifndef SKYNET_LUA_H
#define SKYNET_LUA_H

#include <lua.h>

/* A message handler for lua_pcall: a string error gets a traceback, no
 * error value becomes "(no error message)", and any other error object
 * passes through untouched. */
int skynet_lua_traceback(lua_State *L);

#endif
