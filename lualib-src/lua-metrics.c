/*
 * lua-metrics.c -- `skynet.metrics`: lets a Lua service publish its own
 * series on the node's metrics endpoint (skynet_metrics.h).
 *
 *   local metrics = require "skynet.metrics"
 *   local id = metrics.series("myapp_logins_total", "counter",
 *                             "Logins accepted.", { realm = "eu" })
 *   metrics.add(id, 1)            -- counter or gauge
 *   metrics.set(id, 42)           -- gauge (or a counter you keep monotonic)
 *   metrics.observe(id, 0.003)    -- summary: _count and _sum
 *
 * `series` returns the same id for the same name and labels, from any
 * service; it returns nil and a reason when the name or a label is
 * invalid, the type differs from the family's, or the node's table
 * (METRICS_SERIES_MAX series) is full.  Updates are lock-free.
 */
#include "skynet_metrics.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool label_name_ok(const char *s, size_t n) {
	if (n == 0 || (n >= 2 && s[0] == '_' && s[1] == '_'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static int by_string(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The label table as exposition text, keys sorted so that the same table
 * always gives the same series.  Pushes the text; returns false (with a
 * reason pushed instead) when a label is invalid or the text too long. */
static bool labels_text(lua_State *L, int idx) {
	luaL_Buffer b;
	const char *keys[32];
	int n = 0;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING || n == 32) {
			lua_pop(L, 1);
			lua_pushstring(L, n == 32 ? "more than 32 labels" : "a label name is not a string");
			return false;
		}
		keys[n++] = lua_tostring(L, -1); /* anchored by the table */
	}
	qsort(keys, (size_t)n, sizeof(keys[0]), by_string);
	luaL_buffinit(L, &b);
	for (int i = 0; i < n; i++) {
		size_t kl;
		const char *k = keys[i];
		kl = strlen(k);
		if (!label_name_ok(k, kl)) {
			luaL_pushresult(&b);
			lua_pop(L, 1);
			lua_pushfstring(L, "invalid label name '%s'", k);
			return false;
		}
		lua_getfield(L, idx, k);
		size_t vl;
		const char *v = lua_tolstring(L, -1, &vl);
		if (v == NULL) {
			lua_pop(L, 1);
			luaL_pushresult(&b);
			lua_pop(L, 1);
			lua_pushfstring(L, "label '%s' is not a string or a number", k);
			return false;
		}
		/* The value leaves the stack before the buffer is touched again. */
		char esc[METRICS_LABELS_MAX + 1];
		size_t el = 0;
		for (size_t j = 0; j < vl && el + 2 < sizeof(esc); j++) {
			unsigned char c = (unsigned char)v[j];
			if (c == '\\' || c == '"') {
				esc[el++] = '\\';
				esc[el++] = (char)c;
			} else if (c == '\n') {
				esc[el++] = '\\';
				esc[el++] = 'n';
			} else {
				esc[el++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
			}
		}
		lua_pop(L, 1);
		if (i)
			luaL_addchar(&b, ',');
		luaL_addlstring(&b, k, kl);
		luaL_addstring(&b, "=\"");
		luaL_addlstring(&b, esc, el);
		luaL_addchar(&b, '"');
	}
	luaL_pushresult(&b);
	return true;
}

static int lseries(lua_State *L) {
	const char *name = luaL_checkstring(L, 1);
	static const char *const types[] = {"counter", "gauge", "summary", NULL};
	int type = luaL_checkoption(L, 2, NULL, types);
	const char *help = luaL_optstring(L, 3, "");
	const char *labels = "";
	if (!lua_isnoneornil(L, 4)) {
		luaL_checktype(L, 4, LUA_TTABLE);
		if (!labels_text(L, 4)) {
			lua_pushnil(L);
			lua_insert(L, -2);
			return 2;
		}
		labels = lua_tostring(L, -1);
	}
	int id = skynet_metrics_series(name, (enum metrics_type)type, help, labels);
	if (id < 0) {
		lua_pushnil(L);
		lua_pushfstring(L, "metrics: cannot publish %s{%s}: bad name, labels over %d bytes, "
		                   "another type for this name, or the table is full",
		                name, labels, METRICS_LABELS_MAX);
		return 2;
	}
	lua_pushinteger(L, id);
	return 1;
}

static int lset(lua_State *L) {
	skynet_metrics_set((int)luaL_checkinteger(L, 1), luaL_checknumber(L, 2));
	return 0;
}

static int ladd(lua_State *L) {
	skynet_metrics_add((int)luaL_checkinteger(L, 1), luaL_optnumber(L, 2, 1));
	return 0;
}

static int lobserve(lua_State *L) {
	skynet_metrics_observe((int)luaL_checkinteger(L, 1), luaL_checknumber(L, 2));
	return 0;
}

LUAMOD_API int luaopen_skynet_metrics(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
		{"series", lseries}, {"set", lset}, {"add", ladd}, {"observe", lobserve}, {NULL, NULL},
	};
	luaL_newlib(L, l);
	return 1;
}
