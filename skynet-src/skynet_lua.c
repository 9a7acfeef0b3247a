/*
 * skynet_lua.c -- Lua helpers shared by the C services and modules (see
 * skynet_lua.h).
 */
#include "skynet_lua.h"

#include <lauxlib.h>

int skynet_lua_traceback(lua_State *L) {
	const char *msg = lua_tostring(L, 1);
	if (msg)
		luaL_traceback(L, L, msg, 1);
	else if (lua_isnoneornil(L, 1))
		lua_pushliteral(L, "(no error message)");
	else
		lua_settop(L, 1);
	return 1;
}
