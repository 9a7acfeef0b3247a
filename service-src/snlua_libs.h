/*
 * snlua_libs.h -- opens the standard Lua libraries of a service's state;
 * io, os, utf8, debug and math open on first use (see snlua_libs.c).
 */
#ifndef SNLUA_LIBS_H
#define SNLUA_LIBS_H

#include <lua.h>

void snlua_openlibs(lua_State *L);

#endif
