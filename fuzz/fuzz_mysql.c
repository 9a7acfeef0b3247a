// fuzz-sources: lualib-src/lua-mysqlaux.c -lcrypto
/*
 * fuzz_mysql.c -- libFuzzer target for the MySQL driver's server-packet
 * parsers (lualib/skynet/db/mysql.lua) and the RSA helper of
 * lualib-src/lua-mysqlaux.c, whose key text comes off the network: the PEM
 * and DER are parsed by libcrypto, and what is checked here is our use of
 * it (every malformed key is a nil, reason; no leak, no crash).
 *
 * The parsers are Lua, so they run in a Lua state inside the fuzzer, the
 * real mysql.lua loaded from the source tree (the fuzzer runs from the
 * repository root; FUZZ_MYSQL_LUA overrides the path), with stand-ins for
 * the two skynet modules it requires: `skynet` (only skynet.error and
 * skynet.getenv, answering nil, are touched) and `skynet.socketchannel`
 * (only .error, the socket-failure value, is used by the parsers).  skynet.mysqlaux is the real C module.
 *
 * Input: the first byte picks what reads the rest, which plays the bytes
 * the server sent (a read past the end raises the socket-failure value, as
 * a closed connection would):
 *   0  a query result, text protocol (OK / ERR / result sets, multi)
 *   1  an execute result, binary protocol
 *   2  a prepare response
 *   3  the whole login exchange (greeting, auth switch, caching_sha2 /
 *      sha256 RSA paths with the server's PEM key), against a stand-in
 *      channel whose request/response call the readers directly
 *   4  rsa_encrypt(rest, password) -- key loading and RSA-OAEP
 *   bit 4 (0x10) of the first byte sets compact_arrays.
 * Every outcome must be a result or one of the driver's own errors: the
 * socket-failure value, or a string starting with "mysql: ".  Anything else
 * (a Lua runtime error such as indexing nil) aborts: it is a bug.
 *
 * Coverage: libFuzzer only sees the C code it instrumented, and most of the
 * parsing is Lua, run by the (uninstrumented) Lua VM.  A line hook turns
 * every executed Lua line transition (previous line, line, chunk) into a
 * counter in libFuzzer's extra-counters section, so inputs that reach new
 * Lua paths are kept in the corpus too.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int luaopen_skynet_mysqlaux(lua_State *L);

static const char *harness_src =
	"local mysql, aux, sc_error = ...\n"
	"local I = mysql._internal\n"
	"local function mksock(data)\n"
	"  local pos = 1\n"
	"  local s = {}\n"
	"  function s:read(n)\n"
	"    if n == nil then n = #data - pos + 1; if n == 0 then error(sc_error) end end\n"
	"    if pos + n - 1 > #data then error(sc_error) end\n"
	"    local r = data:sub(pos, pos + n - 1)\n"
	"    pos = pos + n\n"
	"    return r\n"
	"  end\n"
	"  return s\n"
	"end\n"
	"local function check_result(r)\n"
	"  assert(type(r) == 'table', 'result is not a table')\n"
	"  if r.badresult then assert(type(r.err) == 'string', 'badresult without err') end\n"
	"end\n"
	"return function(data)\n"
	"  local mode = data:byte(1) or 0\n"
	"  local body = data:sub(2)\n"
	"  local sock = mksock(body)\n"
	"  local db = I.new_db { host = 'fuzz', port = 1, user = 'u', password = 'pw', database = 'd',\n"
	"    max_packet_size = 1 << 20, compact_arrays = (mode & 0x10) ~= 0 }\n"
	"  local kind = (mode & 0x0f) % 5\n"
	"  local ok, err\n"
	"  if kind == 0 then\n"
	"    ok, err = pcall(I.read_query_result, db, sock, false)\n"
	"    if ok then check_result(err) end\n"
	"  elseif kind == 1 then\n"
	"    ok, err = pcall(I.read_query_result, db, sock, true)\n"
	"    if ok then check_result(err) end\n"
	"  elseif kind == 2 then\n"
	"    ok, err = pcall(I.read_prepare_result, db, sock)\n"
	"    if ok then check_result(err) end\n"
	"  elseif kind == 3 then\n"
	"    local ch = {}\n"
	"    function ch:response(reader) local _, v = reader(sock) return v end\n"
	"    function ch:request(packet, reader)\n"
	"      assert(type(packet) == 'string' or type(packet) == 'table')\n"
	"      if reader then local _, v = reader(sock) return v end\n"
	"    end\n"
	"    ok, err = pcall(I.login, db, ch)\n"
	"  else\n"
	"    ok, err = pcall(aux.rsa_encrypt, body, 'password\\0')\n"
	"  end\n"
	"  if not ok and err ~= sc_error and not (type(err) == 'string' and err:find('^mysql: ')) then\n"
	"    error('unexpected error: ' .. tostring(err), 0)\n"
	"  end\n"
	"end\n";

static lua_State *L;
static int harness_ref;
static unsigned long runs;

#define LUA_COV_SIZE 65536
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t lua_cov[LUA_COV_SIZE];
static uintptr_t prev_edge;

static void line_hook(lua_State *l, lua_Debug *ar) {
	if (lua_getinfo(l, "S", ar) == 0)
		return;
	uintptr_t here = ((uintptr_t)ar->source >> 4) * 2654435761u + (uintptr_t)ar->currentline;
	uintptr_t edge = (here ^ (prev_edge >> 1)) % LUA_COV_SIZE;
	prev_edge = here;
	if (lua_cov[edge] != 255)
		lua_cov[edge]++;
}

static void die(const char *what) {
	fprintf(stderr, "fuzz_mysql setup: %s: %s\n", what, lua_tostring(L, -1));
	abort();
}

static void setup(void) {
	L = luaL_newstate();
	luaL_openlibs(L);
	/* stand-ins for the skynet modules mysql.lua requires */
	if (luaL_dostring(L, "package.loaded['skynet'] = { error = function() end, getenv = function() return nil end }\n"
	                     "package.loaded['skynet.socketchannel'] = {\n"
	                     "  error = setmetatable({}, { __tostring = function() return '[Error: socket]' end }),\n"
	                     "  channel = function() error('no channel in the fuzzer') end }\n") != LUA_OK)
		die("stubs");
	luaL_requiref(L, "skynet.mysqlaux", luaopen_skynet_mysqlaux, 0);
	lua_pop(L, 1);
	const char *path = getenv("FUZZ_MYSQL_LUA");
	if (path == NULL)
		path = "lualib/skynet/db/mysql.lua";
	if (luaL_loadfile(L, path) != LUA_OK)
		die("load mysql.lua");
	lua_pushstring(L, "skynet.db.mysql");
	if (lua_pcall(L, 1, 1, 0) != LUA_OK)
		die("run mysql.lua");
	/* stack: mysql */
	if (luaL_loadstring(L, harness_src) != LUA_OK)
		die("harness");
	lua_insert(L, -2); /* harness, mysql */
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_getfield(L, -1, "skynet.mysqlaux");
	lua_getfield(L, -2, "skynet.socketchannel");
	lua_getfield(L, -1, "error");
	lua_remove(L, -2); /* harness, mysql, LOADED, aux, sc_error */
	lua_remove(L, -3); /* harness, mysql, aux, sc_error */
	if (lua_pcall(L, 3, 1, 0) != LUA_OK)
		die("harness setup");
	harness_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_sethook(L, line_hook, LUA_MASKLINE, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (L == NULL)
		setup();
	lua_settop(L, 0);
	prev_edge = 0;
	lua_rawgeti(L, LUA_REGISTRYINDEX, harness_ref);
	lua_pushlstring(L, size ? (const char *)data : "", size);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		fprintf(stderr, "%s\n", msg ? msg : "(error is not a string)");
		abort();
	}
	lua_settop(L, 0);
	if (++runs % 1000 == 0)
		lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
