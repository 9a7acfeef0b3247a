// fuzz-sources: lualib-src/lua-sproto.c lualib-src/lua-sproto-schema.c lualib-src/lua-sproto-pack.c lualib-src/lua-sproto-buf.c lualib-src/lua-sproto-names.c lualib-src/lua-sproto-encode.c lualib-src/lua-sproto-decode.c
/*
 * fuzz_sproto.c -- libFuzzer target for sproto.core's decoder, its RPC
 * header path and its binary schema reader (lualib-src/lua-sproto*.c).
 *
 * The first input byte picks what the rest is fed to:
 *   0..4  core.decode as one type of a schema using every field kind
 *         (Person, Data, Bag, Gaps, package), given as (pointer, size) so
 *         ASan sees any read past the input.  Decoding may fail only with
 *         the decoder's own errors; what it returns must encode again and
 *         decode to the same thing (bytes compared for Person: encode is
 *         deterministic there).
 *   5     host:dispatch of lualib/sproto.lua (unpack, header, body by
 *         protocol tag or pending session): only its own errors.
 *   6..   sproto_schema_load on the raw bytes; a schema it accepts is
 *         listed (dumpproto) and freed.
 * Run from the repository root (fuzz/run.sh does): it loads lualib/sproto.lua.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua-sproto.h"

int luaopen_sproto_core(lua_State *L);

static const char *driver_src =
	"package.path = 'lualib/?.lua'\n"
	"local core = require 'sproto.core'\n"
	"local sproto = require 'sproto'\n"
	"local sp = sproto.parse [[\n"
	".package { type 0 : integer  session 1 : integer  ud 2 : string }\n"
	".Person { name 0 : string  age 1 : integer  marital 2 : boolean  children 3 : *Person }\n"
	".Data { numbers 0 : *integer  bools 1 : *boolean  number 2 : integer  bignumber 3 : integer\n"
	"        double 4 : double  doubles 5 : *double  fpn 6 : integer(2)  fpns 7 : *integer(3) }\n"
	".Item { id 0 : integer  name 1 : string }\n"
	".KV { key 0 : string  value 1 : Item }\n"
	".Bag { items 0 : *Item(id)  byname 1 : *Item(name)  kv 2 : *KV()  strs 4 : *string  bin 5 : binary  sub 6 : Person }\n"
	".Gaps { a 0 : integer  b 5 : string  c 7 : *boolean  d 100 : *integer(3)  e 101 : boolean  f 30000 : integer }\n"
	"foo 1 { request Person response Data }\n"
	"bar 2 { request Bag }\n"
	"baz 3 { response nil }\n"
	"]]\n"
	"local types = { 'Person', 'Data', 'Bag', 'Gaps', 'package' }\n"
	"local host = sp:host 'package'\n"
	"local req = host:attach(sp)\n"
	"local function refill()\n"
	"  for s = 0, 7 do req('foo', {}, s) req('baz', nil, s + 8) req('bar', {}, s + 16) end\n"
	"end\n"
	"refill()\n"
	"local expected = { 'decode error', 'The table is too deep', \"Can't find\", 'Invalid unpack stream',\n"
	"  'table index is NaN', 'not found', 'Unknown session', 'session not found', 'Invalid map' }\n"
	"local function check(ok, err)\n"
	"  if ok then return true end\n"
	"  err = tostring(err)\n"
	"  for _, e in ipairs(expected) do if err:find(e, 1, true) then return false end end\n"
	"  error('unexpected error: ' .. err)\n"
	"end\n"
	"local n = 0\n"
	"return function(mode, ptr, size)\n"
	"  if mode < 5 then\n"
	"    local st = core.querytype(sp.__cobj, types[mode + 1])\n"
	"    local ok, t = pcall(core.decode, st, ptr, size)\n"
	"    if not check(ok, t) then return end\n"
	"    local ok2, bytes = pcall(core.encode, st, t)\n"
	"    if not ok2 then\n"
	"      if mode == 1 and tostring(bytes):find('out of the integer range', 1, true) then return end\n"
	"      error('re-encode failed: ' .. tostring(bytes))\n"
	"    end\n"
	"    local t2 = core.decode(st, bytes)\n"
	"    if mode == 0 and core.encode(st, t2) ~= bytes then error('Person round trip changed the bytes') end\n"
	"  elseif mode == 5 then\n"
	"    n = n + 1\n"
	"    if n % 8 == 0 then refill() end\n"
	"    local ok, kind, _, _, respond = pcall(host.dispatch, host, ptr, size)\n"
	"    if check(ok, kind) and kind == 'REQUEST' and respond then\n"
	"      local ok3, err = pcall(respond, {})\n"
	"      if not ok3 and not tostring(err):find('nil expected', 1, true) then error('respond: ' .. tostring(err)) end\n"
	"    end\n"
	"  end\n"
	"end\n";

static lua_State *L;
static int driver_ref;
static FILE *devnull;

static void setup(void) {
	L = luaL_newstate();
	luaL_openlibs(L);
	luaL_requiref(L, "sproto.core", luaopen_sproto_core, 0);
	lua_pop(L, 1);
	if (luaL_loadstring(L, driver_src) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
		fprintf(stderr, "driver: %s\n", lua_tostring(L, -1));
		abort();
	}
	driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	devnull = fopen("/dev/null", "w");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (L == NULL)
		setup();
	if (size == 0)
		return 0;
	int mode = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	if (mode >= 6) {
		const char *why;
		struct sproto *s = sproto_schema_load(p, n, &why);
		if (s) {
			sproto_schema_dump(s, devnull);
			sproto_schema_free(s);
		}
		return 0;
	}
	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
	lua_pushinteger(L, mode);
	lua_pushlightuserdata(L, n ? (void *)p : (void *)"");
	lua_pushinteger(L, (lua_Integer)n);
	if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		fprintf(stderr, "%s\n", msg ? msg : "(not a string)");
		abort();
	}
	/* Collect every run: libFuzzer runs LeakSanitizer after any run whose
	 * mallocs and frees do not balance, and Lua's garbage would make that
	 * every run (a hundred times slower than collecting). */
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
