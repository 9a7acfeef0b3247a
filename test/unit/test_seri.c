/*
 * test_seri.c -- unit tests of the skynet.pack / skynet.unpack serializer
 * (lualib-src/lua-seri.c) against upstream's byte format: 57 worked
 * examples byte for byte, round trips, the decoder's rejection of malformed
 * input, the depth limit, unsupported types, hostile and truncated input,
 * and (under ASan/LSan) that a failing pack does not leak its buffer.
 *
 * The serializer is registered as globals pack, packstring, unpack, trash;
 * most checks are small Lua chunks that must return true.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua-seri.h"
#include "unit.h"

static lua_State *L;

/* Helpers available to every chunk. */
static const char *prelude =
	"function hex(s)\n"
	"  return (s:gsub('.', function(c) return string.format('%02x ', c:byte()) end)):sub(1, -2)\n"
	"end\n"
	"function unhex(h)\n"
	"  return (h:gsub('%s', ''):gsub('..', function(x) return string.char(tonumber(x, 16)) end))\n"
	"end\n"
	/* canonical text of a value: keeps the integer/float subtype and the
	 * exact float bits, sorts table entries (so table keys work and hash
	 * order does not matter); deq compares canonical texts */
	"function canon(v)\n"
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
	"function deq(a, b) return canon(a) == canon(b) end\n"
	/* pack through the lightuserdata API, unpack, free; returns the values */
	"function rt(...)\n"
	"  local p, n = pack(...)\n"
	"  local r = table.pack(unpack(p, n))\n"
	"  trash(p, n)\n"
	"  return table.unpack(r, 1, r.n)\n"
	"end\n"
	/* round trip of one value through both APIs */
	"function rt1(v)\n"
	"  local a = table.pack(rt(v))\n"
	"  local b = table.pack(unpack(packstring(v)))\n"
	"  return a.n == 1 and b.n == 1 and deq(v, a[1]) and deq(v, b[1])\n"
	"end\n"
	"function nest(n, inner)\n"
	"  local t = inner or {}\n"
	"  for i = 2, n do t = {t} end\n"
	"  return t\n"
	"end\n";

/* Bytes in use on the C heap (0 where unknown, e.g. under ASan). */
static int l_heapbytes(lua_State *Ls) {
#ifdef __GLIBC__
	lua_pushinteger(Ls, (lua_Integer)mallinfo2().uordblks);
#else
	lua_pushinteger(Ls, 0);
#endif
	return 1;
}

static int l_nullptr(lua_State *Ls) {
	lua_pushlightuserdata(Ls, NULL);
	return 1;
}

/* Run code; return 1 if it ran and its first result is true. */
static int lua_ok(const char *code) {
	lua_settop(L, 0);
	if (luaL_dostring(L, code) != LUA_OK) {
		printf("# error: %s\n", lua_tostring(L, -1));
		return 0;
	}
	if (lua_gettop(L) < 1 || !lua_toboolean(L, 1)) {
		printf("# chunk returned %s\n", lua_gettop(L) ? luaL_tolstring(L, 1, NULL) : "nothing");
		return 0;
	}
	return 1;
}

static void check_lua(const char *name, const char *code) {
	CHECK(lua_ok(code), name);
}

/* code must raise; its message must equal msg (exact) or contain it. */
static int lua_fails(const char *code, const char *msg, int exact) {
	lua_settop(L, 0);
	if (luaL_dostring(L, code) == LUA_OK) {
		printf("# expected an error, chunk succeeded\n");
		return 0;
	}
	const char *got = lua_tostring(L, -1);
	if (got == NULL)
		return 0;
	/* luaL_error prefixes the caller's position when called from Lua
	 * code ("chunk:1: "); "exact" means the text after it is msg. */
	size_t gl = strlen(got), ml = strlen(msg);
	int match = exact ? (gl == ml || (gl > ml + 2 && memcmp(got + gl - ml - 2, ": ", 2) == 0)) &&
	                        gl >= ml && strcmp(got + gl - ml, msg) == 0
	                  : strstr(got, msg) != NULL;
	if (!match) {
		printf("# error was: %s\n", got);
		return 0;
	}
	return 1;
}

static void check_fails(const char *name, const char *code, const char *msg, int exact) {
	CHECK(lua_fails(code, msg, exact), name);
}

/* Normalise a hex dump: lowercase, single spaces. */
static char *norm_hex(const char *s) {
	size_t n = strlen(s);
	char *out = malloc(n + n / 2 + 2), *o = out;
	int digits = 0;
	for (; *s; s++) {
		char c = *s;
		if (c >= 'A' && c <= 'F')
			c += 'a' - 'A';
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
			if (digits && digits % 2 == 0)
				*o++ = ' ';
			*o++ = c;
			digits++;
		}
	}
	*o = 0;
	return out;
}

/* "78" x n, space separated */
static char *rep_hex(const char *prefix, const char *byte, int n, const char *suffix) {
	size_t sz = strlen(prefix) + (size_t)n * 3 + strlen(suffix) + 4;
	char *s = malloc(sz), *o = s;
	o += sprintf(o, "%s", prefix);
	for (int i = 0; i < n; i++)
		o += sprintf(o, " %s", byte);
	sprintf(o, " %s", suffix);
	return s;
}

/* Worked example: packstring(args) must have exactly the expected bytes. */
static void check_example(int num, const char *what, const char *args, const char *expect) {
	char name[160], code[512];
	snprintf(name, sizeof(name), "example #%d %s", num, what);
	snprintf(code, sizeof(code), "return hex(packstring(%s))", args);
	char *want = norm_hex(expect);
	int ok = 0;
	lua_settop(L, 0);
	if (luaL_dostring(L, code) != LUA_OK) {
		printf("# error: %s\n", lua_tostring(L, -1));
	} else {
		const char *got = lua_tostring(L, 1);
		ok = got != NULL && strcmp(got, want) == 0;
		if (!ok)
			printf("# got  %.200s\n# want %.200s\n", got ? got : "(nil)", want);
	}
	CHECK(ok, name);
	free(want);
}

static void check_example_rep(int num, const char *what, const char *args, const char *prefix,
                              const char *byte, int n, const char *suffix) {
	char *e = rep_hex(prefix, byte, n, suffix);
	check_example(num, what, args, e);
	free(e);
}

static void worked_examples(void) {
	check_example(1, "nil", "nil", "00");
	check_example(2, "true", "true", "09");
	check_example(3, "false", "false", "01");
	check_example(4, "0", "0", "02");
	check_example(5, "1", "1", "0a 01");
	check_example(6, "-1", "-1", "22 ff ff ff ff");
	check_example(7, "255", "255", "0a ff");
	check_example(8, "256", "256", "12 00 01");
	check_example(9, "65535", "65535", "12 ff ff");
	check_example(10, "65536", "65536", "22 00 00 01 00");
	check_example(11, "-129", "-129", "22 7f ff ff ff");
	check_example(12, "0x7fffffff", "0x7fffffff", "22 ff ff ff 7f");
	check_example(13, "2^31 integer", "0x80000000", "32 00 00 00 80 00 00 00 00");
	check_example(14, "-0x80000000", "-0x80000000", "22 00 00 00 80");
	check_example(15, "-0x80000001", "-0x80000001", "32 ff ff ff 7f ff ff ff ff");
	check_example(16, "1<<40", "1 << 40", "32 00 00 00 00 00 01 00 00");
	check_example(17, "mininteger", "math.mininteger", "32 00 00 00 00 00 00 00 80");
	check_example(18, "2.0^40 float", "2.0^40", "42 00 00 00 00 00 00 70 42");
	check_example(19, "3.5", "3.5", "42 00 00 00 00 00 00 0c 40");
	check_example(20, "1.0 float", "1.0", "42 00 00 00 00 00 00 f0 3f");
	check_example(21, "0.5", "0.5", "42 00 00 00 00 00 00 e0 3f");
	check_example(22, "-0.0", "-0.0", "42 00 00 00 00 00 00 00 80");
	check_example(23, "math.huge", "math.huge", "42 00 00 00 00 00 00 f0 7f");
	check_example(24, "empty string", "\"\"", "04");
	check_example(25, "abc", "\"abc\"", "1c 61 62 63");
	check_example_rep(26, "31-byte string", "string.rep('x', 31)", "fc", "78", 31, "");
	check_example_rep(27, "32-byte string", "string.rep('y', 32)", "15 20 00", "79", 32, "");
	check_example_rep(28, "40-byte string", "string.rep('a', 40)", "15 28 00", "61", 40, "");
	check_example_rep(29, "65535-byte string", "string.rep('q', 65535)", "15 ff ff", "71", 65535, "");
	check_example_rep(30, "65536-byte string", "string.rep('r', 65536)", "25 00 00 01 00", "72", 65536, "");
	check_example(31, "{}", "{}", "06 00");
	check_example(32, "{1,2,3}", "{1,2,3}", "1e 0a 01 0a 02 0a 03 00");
	check_example(33, "{a=1}", "{a=1}", "06 0c 61 0a 01 00");
	check_example(34, "{true}", "{true}", "0e 09 00");
	check_example(35, "{1,2,x='y'}", "{1,2,x='y'}", "16 0a 01 0a 02 0c 78 0c 79 00");
	check_example(36, "{{1},{}}", "{{1},{}}", "16 0e 0a 01 00 06 00 00");
	check_example(37, "{1,{2,3}}", "{1,{2,3}}", "16 0a 01 16 0a 02 0a 03 00 00");
	check_example(38, "{a={b=1}}", "{a={b=1}}", "06 0c 61 06 0c 62 0a 01 00 00");
	check_example(39, "{x={1,2}}", "{x={1,2}}", "06 0c 78 16 0a 01 0a 02 00 00");
	check_example(40, "{{{}}}", "{{{}}}", "0e 0e 06 00 00 00");
	check_example(41, "{[2]=5}", "{[2]=5}", "06 0a 02 0a 05 00");
	check_example(42, "{[0]=1}", "{[0]=1}", "06 02 0a 01 00");
	check_example(43, "{[-1]=1}", "{[-1]=1}", "06 22 ff ff ff ff 0a 01 00");
	check_example(44, "{[1.5]=true}", "{[1.5]=true}", "06 42 00 00 00 00 00 00 f8 3f 09 00");
	check_example(45, "{1,2,[4]=4}", "{1,2,[4]=4}", "16 0a 01 0a 02 0a 04 0a 04 00");
	/* The bytes of #46 depend on the border the VM reports: upstream's Lua
	 * 5.4.7 said 1 for the constructor {1,nil,3}; Lua 5.4.4 says 3.  Check
	 * the example's bytes on a table whose border is 1 for sure, and the
	 * constructor against the border this VM reports. */
	check_example(46, "border-1 table {1,[3]=3}", "(function() local t = {1}; t[3] = 3; return t end)()",
	              "0e 0a 01 0a 03 0a 03 00");
	check_lua("example #46 {1,nil,3} constructor follows rawlen",
	          "local t = {1,nil,3}\n"
	          "local h = hex(packstring(t))\n"
	          "if rawlen(t) == 1 then return h == '0e 0a 01 0a 03 0a 03 00' end\n"
	          "return rawlen(t) == 3 and h == '1e 0a 01 00 0a 03 00'");
	{
		char e[400], *o = e;
		o += sprintf(o, "fe 0a 1f");
		for (int i = 1; i <= 31; i++)
			o += sprintf(o, " 0a %02x", i);
		sprintf(o, " 00");
		check_example(47, "31-element array", "(function() local t = {} for i = 1, 31 do t[i] = i end return t end)()", e);
	}
	check_example_rep(48, "30 zeros", "(function() local t = {} for i = 1, 30 do t[i] = 0 end return t end)()",
	                  "f6", "02", 30, "00");
	check_example(49, "__pairs yielding 1,'v'",
	              "setmetatable({}, {__pairs = function(t) return function(_, k) if k == nil then return 1, 'v' end end, t, nil end})",
	              "06 0a 01 0c 76 00");
	check_example(50, "1,'a',nil,true", "1, 'a', nil, true", "0a 01 0c 61 00 09");
	check_example(51, "'hello',42,true", "'hello', 42, true", "2c 68 65 6c 6c 6f 0a 2a 09");
	check_example(52, "'PING',1", "'PING', 1", "24 50 49 4e 47 0a 01");
	check_example(53, "1,nil", "1, nil", "0a 01 00");
	check_example(54, "nil,nil", "nil, nil", "00 00");
	check_example(55, "no arguments", "", "");
	check_lua("example #56 pack() pointer re-packed is 03 + 8 bytes + 02",
	          "local p, n = pack()\n"
	          "local s = packstring(p, n)\n"
	          "trash(p, n)\n"
	          "return p ~= nil and n == 0 and #s == 10 and s:byte(1) == 0x03 and s:byte(10) == 0x02");
	check_example_rep(57, "300 zeros", "(function() local t = {} for i = 1, 300 do t[i] = 0 end return t end)()",
	                  "fe 12 2c 01", "02", 300, "00");
}

static void pack_api(void) {
	check_lua("pack returns lightuserdata and size",
	          "local p, n = pack(1, 'a')\n"
	          "local ok = type(p) == 'userdata' and math.type(n) == 'integer' and n == 4\n"
	          "local a, b = unpack(p, n)\n"
	          "trash(p, n)\n"
	          "return ok and a == 1 and b == 'a'");
	check_lua("pack bytes equal packstring bytes",
	          "local v = {1, 2, x = {y = 'z'}, s = string.rep('w', 1000)}\n"
	          "local p, n = pack(v, 7)\n"
	          "local a = table.pack(unpack(p, n)); trash(p, n)\n"
	          "return deq(a[1], v) and a[2] == 7 and #packstring(v, 7) == n");
	check_lua("pack() gives non-NULL pointer and size 0",
	          "local p, n = pack(); local ok = p ~= nullptr() and n == 0; trash(p, n); return ok");
	check_lua("unpack() returns nothing", "return select('#', unpack()) == 0");
	check_lua("unpack(nil) returns nothing", "return select('#', unpack(nil)) == 0");
	check_lua("unpack('') returns nothing", "return select('#', unpack('')) == 0");
	check_lua("unpack(p, 0) returns nothing",
	          "local p, n = pack(1); local c = select('#', unpack(p, 0)); trash(p, n); return c == 0");
	check_lua("unpack(NULL, 0) returns nothing", "return select('#', unpack(nullptr(), 0)) == 0");
	check_fails("unpack(NULL, 5) raises deserialize null pointer", "unpack(nullptr(), 5)",
	            "deserialize null pointer", 1);
	check_fails("unpack(p, -1) raises", "unpack(nullptr(), -1)", "deserialize invalid size", 0);
	check_fails("unpack(123) raises a type error", "unpack(123)", "string or lightuserdata", 0);
	check_lua("trash ignores a string", "trash('abc', 3); return true");
	check_lua("unpack does not free its input (unpack twice)",
	          "local p, n = pack({1, 2, 3}, 'x')\n"
	          "local a = unpack(p, n); local b = unpack(p, n); trash(p, n)\n"
	          "return deq(a, {1, 2, 3}) and deq(b, {1, 2, 3})");
	check_lua("unpack of a sub-range (size smaller than buffer)",
	          "local p, n = pack(1, 2, 3); local c = select('#', unpack(p, 2)); trash(p, n); return c == 1");
}

static void round_trips(void) {
	check_lua("round trip integers keep subtype and value",
	          "for _, v in ipairs{0, 1, -1, 127, 128, 255, 256, 65535, 65536, -128, -129, -65536,\n"
	          "  0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, -0x80000000, -0x80000001,\n"
	          "  math.maxinteger, math.mininteger, 1 << 40, -(1 << 40)} do\n"
	          "  if not rt1(v) then return false end\n"
	          "end\n"
	          "return true");
	check_lua("round trip floats keep subtype (1.0, 0.0, 2^53, 0.1, +-inf)",
	          "for _, v in ipairs{1.0, 0.0, 2.0^53, 0.1, -2.5, math.huge, -math.huge, 1e308, 5e-324} do\n"
	          "  if not rt1(v) or math.type((unpack(packstring(v)))) ~= 'float' then return false end\n"
	          "end\n"
	          "return true");
	check_lua("round trip NaN", "local v = unpack(packstring(0/0)); return v ~= v and math.type(v) == 'float'");
	check_lua("round trip -0.0 keeps the sign", "local v = unpack(packstring(-0.0)); return 1/v == -math.huge");
	check_lua("round trip 1 and 1.0 differ", "local a, b = unpack(packstring(1, 1.0)); return math.type(a) == 'integer' and math.type(b) == 'float'");
	check_lua("round trip booleans and nil",
	          "local r = table.pack(rt(true, false, nil)); return r.n == 3 and r[1] == true and r[2] == false and r[3] == nil");
	check_lua("round trip binary string with NULs", "return rt1('\\0a\\0\\255\\0') and rt1(string.rep('\\0', 100))");
	check_lua("round trip all 256 byte values",
	          "local t = {} for i = 0, 255 do t[#t + 1] = string.char(i) end\n"
	          "return rt1(table.concat(t))");
	check_lua("round trip strings at length boundaries",
	          "for _, n in ipairs{0, 1, 30, 31, 32, 33, 255, 256, 65534, 65535, 65536, 65537} do\n"
	          "  if not rt1(string.rep('s', n)) then return false end\n"
	          "end\n"
	          "return true");
	check_lua("round trip 64 KiB string", "return rt1(string.rep('0123456789abcdef', 4096))");
	check_lua("round trip 1 MiB string",
	          "local s = string.rep('\\1\\2\\3\\0', 262144); local p, n = pack(s)\n"
	          "local ok = n == 1048576 + 5 and unpack(p, n) == s; trash(p, n); return ok");
	check_lua("round trip mixed table",
	          "local t = {1, 2.5, 'three', {4}, true, x = 'y', [1.5] = false, [-1] = 0, [0] = 'zero',\n"
	          "  [true] = 'yes', nested = {a = {b = {c = {1, 2, 3}}}}, big = string.rep('b', 70000),\n"
	          "  f = 1.0, i = 1, nan_free = -0.5, [1 << 40] = math.mininteger}\n"
	          "return rt1(t)");
	check_lua("round trip table keys that are tables",
	          "local t = {[{1, 2}] = 'a'}\n"
	          "local r = unpack(packstring(t)); local k, v = next(r)\n"
	          "return deq(k, {1, 2}) and v == 'a' and next(r, k) == nil");
	check_lua("round trip 1000-element array and sparse table",
	          "local a, s = {}, {} for i = 1, 1000 do a[i] = i * 3 end\n"
	          "for i = 1, 1000, 7 do s[i * 11] = i end\n"
	          "return rt1(a) and rt1(s)");
	check_lua("round trip table with holes in array part",
	          "local t = {1, nil, 3, nil, nil, 6}; return rt1(t)");
	check_lua("round trip many values", "local t = {} for i = 1, 5000 do t[i] = i end\n"
	          "local r = table.pack(rt(table.unpack(t))); return r.n == 5000 and deq({table.unpack(r, 1, r.n)}, t)");
	check_lua("round trip light userdata",
	          "local p, n = pack(); local q = unpack(packstring(p)); trash(p, n); return q == p");
	check_lua("round trip 32-deep nested table", "return rt1(nest(32, {'deep'}))");
	check_lua("decode 100-deep nested table",
	          "local s = string.rep('0e', 99) .. '06 00' .. string.rep('00', 99)\n"
	          "local t = unpack(unhex(s)); local d = 1\n"
	          "while t[1] do t = t[1]; d = d + 1 end\n"
	          "return d == 100 and next(t) == nil");
	check_lua("__pairs table: integer keys go to hash part",
	          "local t = setmetatable({}, {__pairs = function(t)\n"
	          "  local i = 0\n"
	          "  return function() i = i + 1; if i <= 3 then return i, i * 10 end end, t, nil end})\n"
	          "local s = packstring(t)\n"
	          "return s:byte(1) == 0x06 and deq(unpack(s), {10, 20, 30})");
	check_lua("__len and __index are ignored",
	          "local t = setmetatable({1, 2}, {__len = function() return 10 end, __index = function() return 9 end})\n"
	          "return hex(packstring(t)) == '16 0a 01 0a 02 00'");
	check_lua("integer-valued float key becomes integer key (Lua normalises)",
	          "local t = unpack(unhex('06 42 00 00 00 00 00 00 00 40 0a 07 00')); return t[2] == 7 and math.type(next(t)) == 'integer'");
}

static void decoder_checks(void) {
	check_lua("decode (empty) gives zero values", "return select('#', unpack(unhex(''))) == 0");
	check_lua("decode f8 gives nil", "local r = table.pack(unpack(unhex('f8'))); return r.n == 1 and r[1] == nil");
	check_lua("decode 29 gives true", "local r = table.pack(unpack(unhex('29'))); return r.n == 1 and r[1] == true");
	check_lua("decode 12 34 12 gives 4660", "local v = unpack(unhex('12 34 12')); return v == 4660 and math.type(v) == 'integer'");
	check_lua("decode 22 ff ff ff ff gives -1", "return unpack(unhex('22 ff ff ff ff')) == -1");
	check_lua("decode 15 03 00 61 62 63 gives abc", "return unpack(unhex('15 03 00 61 62 63')) == 'abc'");
	check_lua("decode 25 03 00 00 00 61 62 63 gives abc", "return unpack(unhex('25 03 00 00 00 61 62 63')) == 'abc'");
	check_lua("decode fe 0a 02 0a 05 0a 06 00 gives {5,6}",
	          "return deq(unpack(unhex('fe 0a 02 0a 05 0a 06 00')), {5, 6})");
	check_lua("decode fe 32 <1> 0a 07 00 gives {7}",
	          "return deq(unpack(unhex('fe 32 01 00 00 00 00 00 00 00 0a 07 00')), {7})");
	check_lua("decode fe 02 00 (zero form count) gives {}", "return deq(unpack(unhex('fe 02 00')), {})");
	check_lua("decode fe 12 01 00 0a 09 00 (word count) gives {9}", "return deq(unpack(unhex('fe 12 01 00 0a 09 00')), {9})");
	check_lua("decode fe 22 01 00 00 00 0a 09 00 (dword count)", "return deq(unpack(unhex('fe 22 01 00 00 00 0a 09 00')), {9})");
	check_lua("decode boolean cookie 31 is true", "return unpack(unhex('f9')) == true");
	check_lua("decode light userdata cookie ignored",
	          "local p = unpack(unhex('fb 00 00 00 00 00 00 00 00')); return p == nullptr()");
	check_lua("decode table terminated by nil with cookie", "return deq(unpack(unhex('0e 0a 01 f8')), {1})");
	check_lua("decode 0a 80 is unsigned 128", "return unpack(unhex('0a 80')) == 128");
	check_lua("decode 12 ff ff is unsigned 65535", "return unpack(unhex('12 ff ff')) == 65535");
	check_lua("decode 22 00 00 00 80 is sign-extended", "return unpack(unhex('22 00 00 00 80')) == -0x80000000");
	check_lua("decode nil in array part", "local t = unpack(unhex('1e 0a 01 00 0a 03 00')); return t[1] == 1 and t[2] == nil and t[3] == 3");

	const char *msg = "Invalid serialize stream";
	check_fails("decode 07 errors (type 7)", "unpack(unhex('07'))", msg, 0);
	check_fails("decode 0a errors (truncated)", "unpack(unhex('0a'))", msg, 0);
	check_fails("decode 1a errors (number cookie 3)", "unpack(unhex('1a 00 00 00'))", msg, 0);
	check_fails("decode number cookie 5 errors", "unpack(unhex('2a 00 00 00 00 00 00 00 00'))", msg, 0);
	check_fails("decode number cookie 31 errors", "unpack(unhex('fa 00 00 00 00 00 00 00 00'))", msg, 0);
	check_fails("decode 1d 01 00 00 78 errors (long-string cookie 3)", "unpack(unhex('1d 01 00 00 78'))", msg, 0);
	check_fails("decode long-string cookie 0 errors", "unpack(unhex('05 01 00 78'))", msg, 0);
	check_fails("decode fe 0a 00 errors (missing terminator)", "unpack(unhex('fe 0a 00'))", msg, 0);
	check_fails("decode fe 42 ... errors (real count)", "unpack(unhex('fe 42 00 00 00 00 00 00 f0 3f 0a 01 00'))", msg, 0);
	check_fails("decode fe 0c 61 errors (string count)", "unpack(unhex('fe 0c 61 00'))", msg, 0);
	check_fails("decode fe 00 errors (nil count)", "unpack(unhex('fe 00 00'))", msg, 0);
	check_fails("decode fe alone errors", "unpack(unhex('fe'))", msg, 0);
	check_fails("decode 0e 0a 01 errors (missing terminator)", "unpack(unhex('0e 0a 01'))", msg, 0);
	check_fails("decode 0a 01 07 errors (second value type 7)", "unpack(unhex('0a 01 07'))", msg, 0);
	check_fails("decode negative array count errors", "unpack(unhex('fe 22 ff ff ff ff 00'))", msg, 0);
	check_fails("decode truncated light userdata errors", "unpack(unhex('03 00 00 00'))", msg, 0);
	check_fails("decode truncated real errors", "unpack(unhex('42 00 00 00 00 00 00 f0'))", msg, 0);
	check_fails("decode truncated short string errors", "unpack(unhex('1c 61 62'))", msg, 0);
	check_fails("decode table key without value errors", "unpack(unhex('06 0c 61'))", msg, 0);
	check_fails("decode NaN table key raises (not crash)", "unpack(unhex('06 42 00 00 00 00 00 00 f8 7f 0a 01 00'))", "NaN", 0);
	check_lua("decode error message names remaining bytes",
	          "local ok, e = pcall(unpack, unhex('0a 01 1a 00'))\n"
	          "return not ok and e:match('^Invalid serialize stream %d+ %(line:%d+%)$') ~= nil");
}

static void depth_limit(void) {
	const char *msg = "serialize can't pack too depth table";
	check_lua("32 nested tables holding an integer pack", "return pcall(packstring, nest(32, {1}))");
	check_fails("33 nested tables holding an integer fail", "packstring(nest(33, {1}))", msg, 1);
	check_lua("33 nested tables, innermost empty, pack", "return pcall(packstring, nest(33))");
	check_fails("34 nested tables, innermost empty, fail", "packstring(nest(34))", msg, 1);
	check_fails("depth limit also applies to pack", "pack(nest(34))", msg, 1);
	check_fails("depth limit applies to table keys", "packstring(nest(33, {[{}] = 1}))", msg, 1);
	check_fails("cyclic t[1] = t fails with depth error", "local t = {}; t[1] = t; packstring(t)", msg, 1);
	check_fails("cyclic t.self = t fails with depth error", "local t = {}; t.self = t; packstring(t)", msg, 1);
	check_fails("cyclic __pairs table fails with depth error",
	            "local t = setmetatable({}, {__pairs = function(t) return function(_, k) if k == nil then return 1, t end end, t, nil end})\n"
	            "packstring(t)", msg, 1);
	check_lua("decode 128 nested tables ok",
	          "local t = unpack(unhex(string.rep('0e', 127) .. '06 00' .. string.rep('00', 127))); return type(t) == 'table'");
	check_fails("decode 129 nested tables rejected",
	            "unpack(unhex(string.rep('0e', 128) .. '06 00' .. string.rep('00', 128)))", "nested deeper than 128", 0);
	check_fails("decode 200000 nested tables rejected without overflow",
	            "unpack(string.rep('\\x0e', 200000))", "nested deeper than", 0);
	check_fails("decode deep nesting via hash keys rejected",
	            "unpack(string.rep('\\x06', 100000))", "nested deeper than", 0);
}

static void unsupported_types(void) {
	check_fails("function is unsupported", "packstring(print)", "Unsupport type function to serialize", 1);
	check_fails("Lua function is unsupported", "packstring(function() end)", "Unsupport type function to serialize", 1);
	check_fails("coroutine is unsupported", "packstring(coroutine.create(print))", "Unsupport type thread to serialize", 1);
	check_fails("full userdata is unsupported", "packstring(io.stdout)", "Unsupport type userdata to serialize", 1);
	check_fails("function inside a table is unsupported", "pack({1, 2, {f = print}})", "Unsupport type function to serialize", 1);
	check_fails("function as a table key is unsupported", "packstring({[print] = 1})", "Unsupport type function to serialize", 1);
}

static void hostile_inputs(void) {
	const char *msg = "Invalid serialize stream";
	check_fails("huge array count (dword) on short input", "unpack(unhex('fe 22 ff ff ff 7f 0a 01 00'))", msg, 0);
	check_fails("huge array count (qword) on short input", "unpack(unhex('fe 32 ff ff ff ff ff ff ff 7f 00'))", msg, 0);
	check_fails("array count equal to remaining bytes", "unpack(unhex('fe 0a 03 00 00 00'))", msg, 0);
	check_lua("array count one less than remaining bytes ok", "return deq(unpack(unhex('fe 0a 03 00 00 00 00')), {})");
	check_fails("huge string length prefix (4-byte)", "unpack(unhex('25 ff ff ff ff 61 62'))", msg, 0);
	check_fails("string length 2^31 prefix", "unpack(unhex('25 00 00 00 80 61'))", msg, 0);
	check_fails("string length prefix truncated", "unpack(unhex('25 ff ff'))", msg, 0);
	check_fails("2-byte string length past end", "unpack(unhex('15 ff ff 61 62'))", msg, 0);
	check_lua("every strict prefix of single-value encodings raises, never crashes",
	          "local vals = {{1, 2, 3, x = 'y', z = {a = 1.5, b = {true, false}}}, string.rep('L', 70000),\n"
	          "  string.rep('m', 300), -123456, 1 << 50, 3.25, {[{1}] = {2}}, (function() local t = {} for i = 1, 40 do t[i] = i * 1000 end return t end)()}\n"
	          "for _, v in ipairs(vals) do\n"
	          "  local s = packstring(v)\n"
	          "  local step = #s > 1000 and 997 or 1\n"
	          "  for i = 1, #s - 1, step do\n"
	          "    local ok, e = pcall(unpack, s:sub(1, i))\n"
	          "    if ok or not tostring(e):find('Invalid serialize stream', 1, true) then return false end\n"
	          "  end\n"
	          "  if not deq(unpack(s), v) then return false end\n"
	          "end\n"
	          "return true");
	check_lua("every prefix of multi-value encodings decodes or raises",
	          "local s = packstring(1, 'two', {3, x = {4}}, nil, 5.5, string.rep('6', 40))\n"
	          "local okc, errc = 0, 0\n"
	          "for i = 0, #s do\n"
	          "  local ok = pcall(unpack, s:sub(1, i))\n"
	          "  if ok then okc = okc + 1 else errc = errc + 1 end\n"
	          "end\n"
	          "return okc == 7 and okc + errc == #s + 1");
	check_lua("every single-byte input decodes or raises",
	          "for b = 0, 255 do pcall(unpack, string.char(b)) end return true");
	check_lua("every two-byte input decodes or raises",
	          "for a = 0, 255 do for b = 0, 255 do pcall(unpack, string.char(a, b)) end end return true");
	check_lua("200000 values decode",
	          "return select('#', unpack(string.rep('\\0', 200000))) == 200000");
	check_fails("2000000 values exceed the Lua stack with a clear error",
	            "unpack(string.rep('\\0', 2000000))", "deserialize can't grow the Lua stack", 0);
}

static void no_leaks(void) {
	/* These errors are raised after the buffer moved to the heap; run
	 * under LeakSanitizer a leak fails the whole program. */
	check_fails("pack error after 1 MiB of output does not leak",
	            "pack(string.rep('x', 1 << 20), print)", "Unsupport type function to serialize", 1);
	check_fails("packstring error after 64 KiB of output does not leak",
	            "packstring({string.rep('x', 65536), coroutine.create(print)})", "Unsupport type thread to serialize", 1);
	check_fails("depth error after large output does not leak",
	            "pack(string.rep('x', 5000), nest(40))", "serialize can't pack too depth table", 1);
	check_fails("__pairs raising mid-encode does not leak",
	            "pack(string.rep('x', 5000), setmetatable({}, {__pairs = function() error('boom') end}))", "boom", 0);
	/* Outside ASan the same property is measured on the C heap directly:
	 * 200 failing 1 MB packs must not leave 200 MB behind. */
	check_lua("repeated failing packs do not accumulate C heap",
	          "local big = string.rep('y', 1000000)\n"
	          "collectgarbage(); local before = heapbytes()\n"
	          "for i = 1, 200 do pcall(pack, big, print) end\n"
	          "collectgarbage(); collectgarbage(); return heapbytes() - before < 4000000");
}

int main(void) {
	L = luaL_newstate();
	luaL_openlibs(L);
	lua_register(L, "pack", luaseri_pack);
	lua_register(L, "packstring", luaseri_packstring);
	lua_register(L, "unpack", luaseri_unpack);
	lua_register(L, "trash", luaseri_trash);
	lua_register(L, "nullptr", l_nullptr);
	lua_register(L, "heapbytes", l_heapbytes);
	if (luaL_dostring(L, prelude) != LUA_OK) {
		printf("FAIL prelude: %s\n", lua_tostring(L, -1));
		return 1;
	}
	worked_examples();
	pack_api();
	round_trips();
	decoder_checks();
	depth_limit();
	unsupported_types();
	hostile_inputs();
	no_leaks();
	lua_close(L);
	UNIT_EXIT();
}
