/* snlua_profile.h -- the `skynet.profile` module (per-coroutine timing). */
#ifndef SNLUA_PROFILE_H
#define SNLUA_PROFILE_H

#include <lua.h>

int luaopen_skynet_profile(lua_State *L);
/* Replaces coroutine.resume and coroutine.wrap with the timing versions. */
void profile_install(lua_State *L);

#endif
