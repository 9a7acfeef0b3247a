/*
 * skynet_config.c -- the config file is Lua source evaluated in an empty
 * environment.  Before evaluation every `$NAME` is replaced by the value of
 * that environment variable; `include "file"` evaluates another file (path
 * relative to the including file) into the same environment.  Every global
 * the file assigns becomes a config key.
 */
#include "skynet_config.h"
#include "skynet.h"
#include "skynet_env.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs in a full Lua state; the config itself sees only `include`. */
static const char config_evaluator[] =
	"local entry = ...\n"
	"local env, stack = {}, {}\n"
	"local function expand(text)\n"
	"  return (text:gsub('%$([%w_]+)', function(name)\n"
	"    local v = os.getenv(name)\n"
	"    if v == nil then error('os.getenv() failed: ' .. name) end\n"
	"    return v\n"
	"  end))\n"
	"end\n"
	"local function evaluate(path)\n"
	"  local f, err = io.open(path, 'r')\n"
	"  if not f then error('cannot open config file ' .. err, 0) end\n"
	"  local text = f:read('a')\n"
	"  f:close()\n"
	"  local chunk, perr = load(expand(text), '@' .. path, 't', env)\n"
	"  if not chunk then error(perr, 0) end\n"
	"  chunk()\n"
	"end\n"
	"local function include(name)\n"
	"  local path = name\n"
	"  local parent = stack[#stack]\n"
	"  if parent and name:sub(1, 1) ~= '/' then\n"
	"    path = (parent:match('^(.*/)') or '') .. name\n"
	"  end\n"
	"  stack[#stack + 1] = path\n"
	"  evaluate(path)\n"
	"  stack[#stack] = nil\n"
	"end\n"
	"setmetatable(env, { __index = { include = include } })\n"
	"include(entry)\n"
	"return setmetatable(env, nil)\n";

static int store_keys(lua_State *L) {
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			fprintf(stderr, "Invalid config table\n");
			return 1;
		}
		const char *key = lua_tostring(L, -2);
		int t = lua_type(L, -1);
		if (t == LUA_TBOOLEAN) {
			skynet_setenv(key, lua_toboolean(L, -1) ? "true" : "false");
		} else if (t == LUA_TSTRING || t == LUA_TNUMBER) {
			const char *value = luaL_tolstring(L, -1, NULL);
			skynet_setenv(key, value);
			lua_pop(L, 1);
		} else {
			fprintf(stderr, "Invalid config table key = %s\n", key);
			return 1;
		}
		lua_pop(L, 1);
	}
	return 0;
}

int skynet_config_load(const char *path) {
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	int r = luaL_loadbufferx(L, config_evaluator, sizeof(config_evaluator) - 1, "=[skynet config]", "t");
	if (r == LUA_OK) {
		lua_pushstring(L, path);
		r = lua_pcall(L, 1, 1, 0);
	}
	if (r != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		lua_close(L);
		return 1;
	}
	r = store_keys(L);
	lua_close(L);
	return r;
}

int skynet_config_int(const char *key, int def, int *value) {
	const char *str = skynet_getenv(key);
	if (str == NULL) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "%d", def);
		skynet_setenv(key, tmp);
		*value = def;
		return 0;
	}
	char *end;
	long v = strtol(str, &end, 10);
	if (end == str || *end != '\0') {
		fprintf(stderr, "Invalid config value %s = %s (an integer is expected)\n", key, str);
		return 1;
	}
	*value = (int)v;
	return 0;
}

const char *skynet_config_string(const char *key, const char *def) {
	const char *str = skynet_getenv(key);
	if (str == NULL && def) {
		skynet_setenv(key, def);
		str = skynet_getenv(key);
	}
	return str;
}

int skynet_config_bool(const char *key, int def) {
	const char *str = skynet_getenv(key);
	if (str == NULL) {
		skynet_setenv(key, def ? "true" : "false");
		return def;
	}
	return strcmp(str, "true") == 0;
}
