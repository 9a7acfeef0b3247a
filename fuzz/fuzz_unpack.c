// fuzz-sources: lualib-src/lua-seri.c
/*
 * fuzz_unpack.c -- libFuzzer target for skynet.unpack (lualib-src/lua-seri.c).
 *
 * Each input is handed to luaseri_unpack as (lightuserdata, size), so ASan
 * sees any read past the exact input bytes.  Decoding may fail only with
 * one of the decoder's own errors.  When it succeeds, the values must
 * survive a round trip: pack(values) must succeed unless they nest deeper
 * than the encoder's limit (and must fail if they do), and its output must
 * unpack again to the same values, twice over (pack, unpack, packstring,
 * unpack).  Values are compared in a canonical form (sorted table entries,
 * exact float bits), not as raw bytes, because equal tables need not encode
 * to equal bytes: the hash order and even the array border (the array
 * part is as long as whatever border the VM reports) depend on how the
 * table was built.  E.g. a decoded {true, {}, nil, 1, nil, {}, nil, true, true,
 * true} declared with array count 15 has border 2, so it re-packs with 2
 * array items and the rest as pairs; decoding that builds a table whose
 * border is 10, which re-packs 7 bytes shorter.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua-seri.h"

static const char *checker_src =
	"local pack, unpack, trash, packstring = ...\n"
	"local function canon(v)\n"
	"  local t = type(v)\n"
	"  if t == 'number' then\n"
	"    if math.type(v) == 'integer' then return 'i' .. v end\n"
	"    return 'f' .. string.unpack('<i8', string.pack('<d', v))\n"
	"  elseif t == 'string' then return string.format('%q', v)\n"
	"  elseif t == 'table' then\n"
	"    local e = {}\n"
	"    for k, x in next, v do e[#e + 1] = canon(k) .. '=' .. canon(x) end\n"
	"    table.sort(e)\n"
	"    return '{' .. table.concat(e, ',') .. '}'\n"
	"  end\n"
	"  return tostring(v)\n"
	"end\n"
	"local function canon_all(r)\n"
	"  local e = {}\n"
	"  for i = 1, r.n do e[i] = canon(r[i]) end\n"
	"  return r.n .. ':' .. table.concat(e, ';')\n"
	"end\n"
	/* deepest nesting level holding a value; top-level values are at 0 */
	"local function depth(v, d)\n"
	"  local m = d\n"
	"  if type(v) == 'table' then\n"
	"    for k, x in next, v do\n"
	"      m = math.max(m, depth(k, d + 1), depth(x, d + 1))\n"
	"    end\n"
	"  end\n"
	"  return m\n"
	"end\n"
	"return function(...)\n"
	"  local v1 = table.pack(...)\n"
	"  local deepest = 0\n"
	"  for i = 1, v1.n do deepest = math.max(deepest, depth(v1[i], 0)) end\n"
	"  local ok, p, n = pcall(pack, ...)\n"
	"  if not ok then\n"
	"    if deepest > 32 and p == 'serialize can\\'t pack too depth table' then return end\n"
	"    error('re-pack failed (depth ' .. deepest .. '): ' .. tostring(p))\n"
	"  end\n"
	"  if deepest > 32 then trash(p, n); error('re-pack of depth ' .. deepest .. ' succeeded') end\n"
	"  local ok2, v2 = pcall(function() return table.pack(unpack(p, n)) end)\n"
	"  trash(p, n)\n"
	"  if not ok2 then error('unpack of re-packed bytes failed: ' .. tostring(v2)) end\n"
	"  if canon_all(v1) ~= canon_all(v2) then error('round trip changed the values') end\n"
	"  local v3 = table.pack(unpack(packstring(table.unpack(v2, 1, v2.n))))\n"
	"  if canon_all(v1) ~= canon_all(v3) then error('second round trip changed the values') end\n"
	"end\n";

static lua_State *L;
static int checker_ref;
static unsigned long runs;

static void setup(void) {
	L = luaL_newstate();
	luaL_openlibs(L);
	if (luaL_loadstring(L, checker_src) != LUA_OK) {
		fprintf(stderr, "checker: %s\n", lua_tostring(L, -1));
		abort();
	}
	lua_pushcfunction(L, luaseri_pack);
	lua_pushcfunction(L, luaseri_unpack);
	lua_pushcfunction(L, luaseri_trash);
	lua_pushcfunction(L, luaseri_packstring);
	lua_call(L, 4, 1);
	checker_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Errors the decoder may legitimately raise on malformed input. */
static int expected_decode_error(const char *msg) {
	return msg != NULL && (strstr(msg, "Invalid serialize stream") != NULL ||
	                       strstr(msg, "table index is NaN") != NULL ||
	                       strstr(msg, "deserialize can't grow the Lua stack") != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (L == NULL)
		setup();
	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, checker_ref);
	lua_pushcfunction(L, luaseri_unpack);
	/* libFuzzer may pass NULL for an empty input: give a valid pointer. */
	lua_pushlightuserdata(L, size ? (void *)data : (void *)"");
	lua_pushinteger(L, (lua_Integer)size);
	if (lua_pcall(L, 2, LUA_MULTRET, 0) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		if (!expected_decode_error(msg)) {
			fprintf(stderr, "unexpected decode error: %s\n", msg ? msg : "(not a string)");
			abort();
		}
	} else if (lua_pcall(L, lua_gettop(L) - 1, 0, 0) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		fprintf(stderr, "round trip failed: %s\n", msg ? msg : "(not a string)");
		abort();
	}
	lua_settop(L, 0);
	if (++runs % 1000 == 0)
		lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
