/*
 * lua-skynet.h -- what skynet.core (lua-skynet.c) shares with the other C
 * modules of luaclib/skynet.so, so skynet.sched needs not open skynet.core.
 */
#ifndef LUA_SKYNET_H
#define LUA_SKYNET_H

#include "skynet.h"

#include <lua.h>

int luaopen_skynet_core(lua_State *L);

/* The function at stack index 1 becomes the message callback of context
 * (core.callback(f, forward)); the stack is cut to that function. */
void luaskynet_set_callback(lua_State *L, struct skynet_context *context, int forward);

/* The payload of a send at stack index idx: a string (the framework
 * copies it), a lightuserdata with its size at idx+1 (handed over: adds
 * PTYPE_TAG_DONTCOPY to *type), or nil / none (no payload).  Raises
 * "invalid param <type>" for anything else. */
void luaskynet_payload(lua_State *L, int idx, int *type, void **data, size_t *len);

/* Logs every value on the stack, tostring'ed and joined by one space
 * (core.error(...)). */
void luaskynet_log(lua_State *L, struct skynet_context *context);

#endif
