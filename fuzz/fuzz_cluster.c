// fuzz-sources: lualib-src/lua-cluster.c
/*
 * fuzz_cluster.c -- libFuzzer target for the cluster frame and packet
 * decoders (lualib-src/lua-cluster.c, `skynet.cluster.core`).
 *
 * Input layout: byte 0 chooses how the rest is cut into socket reads; the
 * rest is a byte stream as it would arrive from a peer.  Each input is run
 * through the same steps a clusteragent / clustersender takes:
 *
 *   1. the stream is pushed into a framer in chunks (each chunk a malloc'd
 *      buffer of exactly its size, handed over as lightuserdata the way a
 *      socket DATA buffer is, so ASan sees any read past it or a bad free);
 *   2. every complete frame body is decoded as a request and as a response,
 *      from an exact-size heap copy (lightuserdata + size);
 *   3. checkresponse on the first bytes of each frame must agree with
 *      unpackresponse on its body (and no shorter prefix may be refused
 *      when the body is good); peek must show the unframed rest;
 *   4. decoded values must re-encode to the same values: a whole request
 *      through packrequest/packpush, a response through packresponse, a
 *      trace through packtrace, the multi-part form of a whole request
 *      through packfast + wbuf and, padded past 0x8000 bytes, through
 *      packfast + splitrequest and packrequest, joined again with
 *      append/concat; parts in the input are joined per session the way
 *      an agent does.
 *
 * The decoders may fail only with their own errors ("cluster: ..."); any
 * other error, or a round trip that changes a value, aborts.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int luaopen_skynet_cluster_core(lua_State *L);

static const char *driver_src =
    "local core, decode_req, decode_resp, ptrstr, free = ...\n"
    "local function expect(cond, what) if not cond then error('CHECK ' .. what, 0) end end\n"
    "local function own_error(ok, err)\n"
    "  if not ok and not tostring(err):find('cluster: ', 1, true) then\n"
    "    error('CHECK unexpected error: ' .. tostring(err), 0)\n"
    "  end\n"
    "end\n"
    "local PAD, BIGRESP = string.rep('p', 0x8000), string.rep('z', 0x8001)\n"
    "local function dehead(frame)\n"
    "  expect(#frame >= 2 and (frame:byte(1) << 8 | frame:byte(2)) == #frame - 2, 'frame length field')\n"
    "  return frame:sub(3)\n"
    "end\n"
    /* a multi-part request: start frame + parts -> the payload again */
    "local function join(start, parts, addr, session, push, payload)\n"
    "  local t, a, s, total = core.unpackrequest(dehead(start))\n"
    "  local want = (type(addr) == 'string' and 0x81 or 0x01) | (push and 0x40 or 0)\n"
    "  expect(t == want and a == addr and s == session and total == #payload, 'start frame')\n"
    "  local p = {}\n"
    "  for i, f in ipairs(parts) do\n"
    "    local pt, ps, bytes = core.unpackrequest(dehead(f))\n"
    "    expect(pt == (i == #parts and 0x03 or 0x02) and ps == session, 'part frame')\n"
    "    expect(i == #parts and #bytes >= 1 and #bytes <= 0x8000 or #bytes == 0x8000, 'part size')\n"
    "    core.append(p, bytes)\n"
    "  end\n"
    "  local ptr, sz = core.concat(p)\n"
    "  local joined = ptrstr(ptr, sz)\n"
    "  free(ptr)\n"
    "  expect(joined == payload, 'multi-part round trip')\n"
    "end\n"
    /* whole request: repack every way and compare */
    "local function check_whole(tag, addr, session, payload, big)\n"
    "  local f, nexts\n"
    "  if session == 0 then f, nexts = core.packpush(addr, 7, payload)\n"
    "  else f, nexts = core.packrequest(addr, session, payload) end\n"
    "  expect(#f == #payload + (type(addr) == 'string' and 8 + #addr or 11), 'frame size')\n"
    "  local t2, a2, s2, p2 = core.unpackrequest(dehead(f))\n"
    "  expect(t2 == tag and a2 == addr and s2 == session and p2 == payload, 'request round trip')\n"
    "  if session ~= 0 then\n"
    "    expect(nexts == (session >= 0x7fffffff and 1 or session + 1), 'next session')\n"
    "  else\n"
    "    expect(nexts == 7, 'a whole push keeps the session counter')\n"
    "  end\n"
    /* the internal-request path: packfast, then batched with a session */
    "  local ptr, sz = core.packfast(addr, payload)\n"
    "  local wb = core.wbuf()\n"
    "  local ok, whole = pcall(wb.request, wb, ptr, sz, 99, false)\n"
    "  free(ptr)\n"
    "  expect(ok and whole, 'small internal request is batched whole')\n"
    "  local bp, bn = wb:take()\n"
    "  local frame = ptrstr(bp, bn)\n"
    "  free(bp)\n"
    "  local t3, a3, s3, p3 = core.unpackrequest(dehead(frame))\n"
    "  expect(a3 == addr and s3 == 99 and p3 == payload, 'batched request')\n"
    /* and its multi-part form, padded past 0x8000 bytes */
    "  if big then\n"
    "    local long = payload .. PAD\n"
    "    local lp, ls = core.packfast(addr, long)\n"
    "    local ok2, w2 = pcall(wb.request, wb, lp, ls, 5, false)\n"
    "    expect(ok2 and w2 == false, 'a long internal request is not batched')\n"
    "    local ok3, start, parts = pcall(core.splitrequest, lp, ls, session == 0 and 5 or session, session == 0)\n"
    "    free(lp)\n"
    "    expect(ok3, 'splitrequest: ' .. tostring(start))\n"
    "    join(start, parts, addr, session == 0 and 5 or session, session == 0, long)\n"
    "    local s4, nexts4, parts4 = core.packrequest(addr, session == 0 and 1 or session, long)\n"
    "    join(s4, parts4, addr, session == 0 and 1 or session, false, long)\n"
    "  end\n"
    "end\n"
    /* checkresponse on the first bytes of a frame agrees with
     * unpackresponse on the whole body, and no prefix is stricter */
    "local function check_head(body)\n"
    "  local ok = pcall(decode_resp, body)\n"
    "  local head = string.char(#body >> 8, #body & 0xff) .. body:sub(1, 5)\n"
    "  for n = 0, #head do\n"
    "    local okh, err = pcall(core.checkresponse, head:sub(1, n))\n"
    "    own_error(okh, err)\n"
    "    expect(okh or not ok, 'checkresponse refuses the start of a good response')\n"
    "    if n == #head then expect(okh == ok, 'checkresponse agrees with unpackresponse') end\n"
    "  end\n"
    "end\n"
    "return function(chunks, big)\n"
    "  local fr = core.framer()\n"
    "  local partial = {}\n"
    "  local rest = ''  -- the bytes pushed and not framed yet\n"
    "  for i = 1, #chunks do\n"
    "    rest = rest .. ptrstr(chunks[i][1], chunks[i][2])\n"
    "    fr:push(chunks[i][1], chunks[i][2])\n"
    "    while true do\n"
    "      local body = fr:pop()\n"
    "      if body == nil then\n"
    "        expect(fr:peek(7) == rest:sub(1, 7) and fr:size() == #rest, 'framer peek')\n"
    "        break\n"
    "      end\n"
    "      rest = rest:sub(3 + #body)\n"
    "      check_head(body)\n"
    "      local ok, tag, a, b, d = pcall(decode_req, body)\n"
    "      own_error(ok, tag)\n"
    "      if ok then\n"
    "        if tag == 0x00 or tag == 0x80 then\n"
    "          expect(math.type(b) == 'integer' and type(d) == 'string', 'whole fields')\n"
    "          check_whole(tag, a, b, d, big)\n"
    "          big = false -- the multi-part form once per input is enough\n"
    "        elseif tag == 0x02 or tag == 0x03 then\n"
    "          expect(math.type(a) == 'integer' and type(b) == 'string' and #b == #body - 5, 'part fields')\n"
    "          local p = partial[a]\n"
    "          if p then\n"
    "            local n = core.append(p, b)\n"
    "            if tag == 0x03 then\n"
    "              partial[a] = nil\n"
    "              local ptr, sz = core.concat(p)\n"
    "              local joined = ptrstr(ptr, sz)\n"
    "              free(ptr)\n"
    "              expect(sz == n and joined == table.concat(p), 'concat')\n"
    "            end\n"
    "          end\n"
    "        elseif tag == 0x04 then\n"
    "          expect(core.packtrace(a):sub(4) == a or #a > 0x8000, 'trace round trip')\n"
    "        else\n"
    "          expect(math.type(d) == 'integer' and d >= 0 and d <= 0xffffffff, 'total size')\n"
    "          expect(tag == 0x01 or tag == 0x41 or tag == 0x81 or tag == 0xC1, 'start tag')\n"
    "          if not partial[b] then partial[b] = { n = 0 } end\n"
    "        end\n"
    "      end\n"
    "      local ok2, s, t, data = pcall(decode_resp, body)\n"
    "      own_error(ok2, s)\n"
    "      if ok2 and (t == 0 or t == 1 or t == 3 or t == 4) then\n"
    "        local f = core.packresponse(s, t ~= 0, data)\n"
    "        local s2, t2, d2 = core.unpackresponse(dehead(f))\n"
    "        expect(s2 == s and d2 == data and t2 == (t == 0 and 0 or 1), 'response round trip')\n"
    "      elseif ok2 and t == 2 then\n"
    "        expect(#body == 9 and math.type(data) == 'integer', 'begin frame')\n"
    "        local f, parts = core.packresponse(s, true, BIGRESP)\n"
    "        expect(parts and #parts == 2, 'split response')\n"
    "        local s3, t3, total = core.unpackresponse(dehead(f))\n"
    "        expect(s3 == s and t3 == 2 and total == 0x8001, 'begin round trip')\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n";

static lua_State *L;
static int driver_ref;

/* decode_req(body) / decode_resp(body): decode from an exact-size heap copy */
static int decode_with(lua_State *L, const char *fname) {
	size_t len;
	const char *body = luaL_checklstring(L, 1, &len);
	void *copy = malloc(len ? len : 1);
	memcpy(copy, body, len);
	lua_getfield(L, lua_upvalueindex(1), fname);
	lua_pushlightuserdata(L, copy);
	lua_pushinteger(L, (lua_Integer)len);
	int r = lua_pcall(L, 2, LUA_MULTRET, 0);
	free(copy);
	if (r != LUA_OK)
		return lua_error(L);
	return lua_gettop(L) - 1;
}

static int decode_req(lua_State *L) { return decode_with(L, "unpackrequest"); }

/* ptrstr(ptr, sz) -> string;  free(ptr) */
static int ptrstr(lua_State *L) {
	const char *p = lua_touserdata(L, 1);
	lua_pushlstring(L, p, (size_t)luaL_checkinteger(L, 2));
	return 1;
}

static int free_ptr(lua_State *L) {
	free(lua_touserdata(L, 1));
	return 0;
}
static int decode_resp(lua_State *L) { return decode_with(L, "unpackresponse"); }

static void setup(void) {
	L = luaL_newstate();
	luaL_openlibs(L);
	if (luaL_loadstring(L, driver_src) != LUA_OK) {
		fprintf(stderr, "driver: %s\n", lua_tostring(L, -1));
		abort();
	}
	luaL_requiref(L, "skynet.cluster.core", luaopen_skynet_cluster_core, 0);
	lua_pushvalue(L, -1);
	lua_pushcclosure(L, decode_req, 1);
	lua_pushvalue(L, -2);
	lua_pushcclosure(L, decode_resp, 1);
	lua_pushcfunction(L, ptrstr);
	lua_pushcfunction(L, free_ptr);
	lua_call(L, 5, 1);
	driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (L == NULL)
		setup();
	if (size == 0)
		return 0;
	unsigned seed = data[0];
	data++;
	size--;
	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
	/* Cut the stream into chunks of 1..(seed % 64 + 1) * 7 bytes, varying. */
	lua_newtable(L);
	size_t off = 0;
	int n = 0;
	while (off < size) {
		size_t span = (seed % 64 + 1) * 7;
		size_t len = 1 + (size_t)((seed * 31u + (unsigned)n * 17u) % span);
		if (seed & 0x80)
			len = size - off; /* one read for everything */
		if (len > size - off)
			len = size - off;
		void *chunk = malloc(len);
		memcpy(chunk, data + off, len);
		lua_createtable(L, 2, 0);
		lua_pushlightuserdata(L, chunk);
		lua_rawseti(L, -2, 1);
		lua_pushinteger(L, (lua_Integer)len);
		lua_rawseti(L, -2, 2);
		lua_rawseti(L, -2, ++n);
		off += len;
	}
	lua_pushboolean(L, (seed & 0x0f) == 1); /* 1 in 16: also the multi-part form (slow: 32 KiB copies) */
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		fprintf(stderr, "fuzz_cluster: %s\n", msg ? msg : "(not a string)");
		abort();
	}
	lua_settop(L, 0);
	/* A full collection every run keeps malloc and free counts balanced
	 * per input; otherwise libFuzzer suspects a leak after almost every
	 * input and runs LeakSanitizer's full heap scan, which costs far more. */
	lua_gc(L, LUA_GCCOLLECT);
	return 0;
}
