// fuzz-sources: lualib-src/lua-bson.c
/*
 * fuzz_bson.c -- libFuzzer target for bson.decode (lualib-src/lua-bson.c).
 *
 * The input is handed to decode as a document object (bson.fromstring), so
 * every length inside it is checked against the real size.  Any outcome
 * is fine except a crash or a sanitizer report: a table, or an error
 * string (malformed input).  A document that decodes is encoded again and
 * the result decoded once more; that must succeed (what decode makes,
 * encode takes), except for keys or strings that are not UTF-8 / contain
 * NUL, which the encoder refuses with an error.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int luaopen_bson(lua_State *L);

static lua_State *L;

static const char *SCRIPT =
	"local bson, bytes = ...\n"
	"local ok, t = pcall(bson.decode, bson.fromstring(bytes))\n"
	"if not ok then\n"
	"  if type(t) ~= 'string' then error('decode raised a ' .. type(t)) end\n"
	"  return\n"
	"end\n"
	"if t == nil then return end\n"
	"local eok, doc = pcall(bson.encode, t)\n"
	"if not eok then\n"
	"  if type(doc) ~= 'string' then error('encode raised a ' .. type(doc)) end\n"
	"  return\n"
	"end\n"
	"bson.decode(doc)\n"; /* must not raise: our own output */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (L == NULL) {
		L = luaL_newstate();
		luaL_openlibs(L);
		luaL_requiref(L, "bson", luaopen_bson, 1);
		lua_pop(L, 1);
		if (luaL_loadstring(L, SCRIPT) != LUA_OK) {
			fprintf(stderr, "%s\n", lua_tostring(L, -1));
			abort();
		}
		lua_setglobal(L, "fuzz_one");
	}
	lua_getglobal(L, "fuzz_one");
	lua_getglobal(L, "bson");
	lua_pushlstring(L, (const char *)data, size);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		/* an encoded document that does not decode is a bug */
		fprintf(stderr, "fuzz_bson: %s\n", msg ? msg : "?");
		abort();
	}
	lua_settop(L, 0);
	lua_gc(L, LUA_GCSTEP, 0);
	return 0;
}
