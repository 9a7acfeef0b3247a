// fuzz-sources: lualib-src/lua-crypt.c lualib-src/crypt_des.c -lcrypto
/*
 * fuzz_loginwire.c -- libFuzzer target for the frame and line parsers of
 * snax.loginserver and snax.msgserver (lualib/snax/loginwire.lua) and the
 * skynet.crypt decoders under them (lualib-src/lua-crypt.c: base64decode,
 * desdecode, hmac64, hmac_hash).
 *
 * The input's first byte picks what gets the rest of the bytes:
 *   0 login key line     1 login challenge line    2 login token line
 *   3 msgserver handshake body                     4 msgserver request body
 *   5 msgserver response (content, ok, session)    6 base64decode
 *   7 desdecode / desencode round trip
 * The checks are written in Lua (DRIVER below) and run in one lua_State
 * with the real module: a parser must never raise on client bytes, its
 * results must have the documented shapes, and encoders and decoders must
 * round-trip.  Any raise is a finding (abort), and ASan/UBSan watch the C
 * underneath.  Run from the repository root (fuzz/run.sh does).
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int luaopen_skynet_crypt(lua_State *L);

static const char DRIVER[] =
	"local wire = dofile 'lualib/snax/loginwire.lua'\n"
	"local crypt = require 'skynet.crypt'\n"
	"local secret = '\\1\\2\\3\\4\\5\\6\\7\\8'\n"
	"local challenge = 'abcdefgh'\n"
	"local function expect_error(ok, err, ...)\n"
	"  if ok then return end\n"
	"  for _, want in ipairs { ... } do\n"
	"    if tostring(err):find(want, 1, true) then return end\n"
	"  end\n"
	"  error('unexpected error: ' .. tostring(err))\n"
	"end\n"
	"return function(op, data)\n"
	"  if op == 0 then\n"
	"    local k, why = wire.clientkey(data)\n"
	"    assert((k and #k == 8) or why == 'Invalid client key')\n"
	"  elseif op == 1 then\n"
	"    assert(type(wire.challenge_ok(data, challenge, secret)) == 'boolean')\n"
	"  elseif op == 2 then\n"
	"    local t, why = wire.token(data, secret)\n"
	"    assert(type(t) == 'string' or type(why) == 'string')\n"
	"    if t then assert(crypt.desdecode(secret, crypt.desencode(secret, t)) == t) end\n"
	"  elseif op == 3 then\n"
	"    local user, idx, hmac, text = wire.handshake(data)\n"
	"    if user then\n"
	"      assert(type(user) == 'string' and not user:find(':', 1, true))\n"
	"      assert(idx == nil or (math.type(idx) == 'integer' and idx >= 0))\n"
	"      assert(hmac == nil or type(hmac) == 'string')\n"
	"      assert(data:sub(1, #text) == text and text:sub(1, #user + 1) == user .. ':')\n"
	"      if hmac and #hmac > 0 then wire.handshake_ok(secret, text, hmac) end\n"
	"    else\n"
	"      local _, colons = data:gsub(':', '')\n"
	"      assert(colons < 2)\n"
	"    end\n"
	"  elseif op == 4 then\n"
	"    local content, session = wire.request(data)\n"
	"    if content == nil then assert(#data < 4) return end\n"
	"    assert(content .. string.pack('>I4', session) == data)\n"
	"    local frame = wire.response(content, true, session)\n"
	"    if frame then\n"
	"      local body = string.unpack('>s2', frame)\n"
	"      assert(#body + 2 == #frame and body == content .. '\\1' .. string.pack('>I4', session))\n"
	"    else\n"
	"      assert(#content + 5 > 65535)\n"
	"    end\n"
	"  elseif op == 5 then\n"
	"    if #data < 5 then return end\n"
	"    local ok = data:byte(1) & 1 == 1\n"
	"    local session = string.unpack('>I4', data, 2)\n"
	"    local frame = wire.response(data:sub(6), ok, session)\n"
	"    local body = string.unpack('>s2', frame)\n"
	"    local content, okb, s2 = string.unpack('>c' .. (#body - 5) .. 'BI4', body)\n"
	"    assert(s2 == session and okb == (ok and 1 or 0) and content == (ok and data:sub(6) or ''))\n"
	"  elseif op == 6 then\n"
	"    local ok, plain = pcall(crypt.base64decode, data)\n"
	"    expect_error(ok, plain, 'Invalid base64 text')\n"
	"    if ok then assert(crypt.base64decode(crypt.base64encode(plain)) == plain) end\n"
	"  else\n"
	"    local key = (data .. ('\\0'):rep(8)):sub(1, 8)\n"
	"    local text = data:sub(9)\n"
	"    local ok, plain = pcall(crypt.desdecode, key, text, op & 1)\n"
	"    expect_error(ok, plain, 'Invalid des crypt text')\n"
	"    assert(crypt.desdecode(key, crypt.desencode(key, text, op & 1), op & 1) == text)\n"
	"  end\n"
	"end\n";

static lua_State *L;

static void setup(void) {
	L = luaL_newstate();
	luaL_openlibs(L);
	luaL_requiref(L, "skynet.crypt", luaopen_skynet_crypt, 0);
	lua_pop(L, 1);
	if (luaL_loadbuffer(L, DRIVER, sizeof(DRIVER) - 1, "=driver") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
		fprintf(stderr, "fuzz_loginwire: driver: %s\n", lua_tostring(L, -1));
		abort();
	}
	lua_setfield(L, LUA_REGISTRYINDEX, "fuzz_driver");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (L == NULL)
		setup();
	if (size == 0)
		return 0;
	lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_driver");
	lua_pushinteger(L, data[0] & 7);
	lua_pushlstring(L, (const char *)data + 1, size - 1);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		fprintf(stderr, "fuzz_loginwire: op %d: %s\n", data[0] & 7, lua_tostring(L, -1));
		abort();
	}
	lua_settop(L, 0);
	return 0;
}
