/*
 * lua-redisaux.c -- `skynet.redisaux`, the C half of the Redis driver
 * (lualib/skynet/db/redis.lua): building RESP2 requests and parsing replies,
 * the two loops every command goes through.
 *
 *   command(NAME, send [, flag]) -> method(self, ...)
 *       A C closure: builds the request for NAME and the arguments
 *       (as upstream: a table first argument is the argument list, elements
 *       1..(t.n or #t); otherwise every argument) and returns
 *       send(self, request, flag).  Being C, it takes any number of
 *       arguments without copying them (a Lua vararg function copies its
 *       arguments once more and overflows the stack at ~500,000).
 *   pipeline(ops) -> request, count
 *       Every op {name, arg...} (both lists iterated ipairs-style, names
 *       sent as given) in one request string.
 *   reply(s, pos [, depth]) -> nextpos, ok, value  |  nil (incomplete)
 *       Parses one reply starting at byte pos of s (depth: how deep inside
 *       arrays it sits, for the nesting limit).  ok is false for an
 *       error reply (value = its text) and for an array holding an error
 *       anywhere inside (value = the array).  Returns nil when s ends
 *       before the reply does; raises on bytes that are not RESP2.
 *
 *   crc16(s) -> integer (CRC-16/XMODEM, Redis Cluster's key hash)
 *
 * Arguments go on the wire as Lua's tostring would print them (integers,
 * floats "%.14g" plus ".0" when integral, booleans), strings byte for byte.
 * A nil argument is refused with an error naming its position (upstream
 * sends a null bulk, which makes Redis drop the connection).
 *
 * Nothing here trusts a length from the server: a bulk or array length is
 * compared with the bytes actually in s before anything is allocated, and
 * nesting is limited to REDIS_MAX_DEPTH.
 */
#include <lauxlib.h>
#include <lua.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Deepest nesting of arrays accepted in a reply (real replies: CLUSTER
 * SLOTS 3, XREAD 5, COMMAND DOCS ~7). */
#define REDIS_MAX_DEPTH 64
/* Longest status / error / integer / length line accepted. */
#define REDIS_MAX_LINE (64 * 1024)
/* Largest bulk or array length accepted (Redis' own limit is 512 MiB per
 * string; its proto-max-bulk-len can be raised, so allow more). */
#define REDIS_MAX_LEN ((int64_t)1 << 40)
/* The smallest encoding of one reply ("+\r\n"): an array of n elements
 * needs at least 3n more bytes, which is checked before allocating. */
#define REDIS_MIN_REPLY 3

/* request building --------------------------------------------------------
 * The request grows in a Lua userdata kept at a fixed stack slot (replaced
 * by a bigger one when full), so an error raised half-way (a __tostring or
 * __index metamethod, a nil argument) leaks nothing. */

struct wbuf {
	lua_State *L;
	int slot;   /* stack index of the userdata holding the bytes */
	char *p;
	size_t n, cap;
};

static void wbuf_init(struct wbuf *b, lua_State *L, size_t cap) {
	b->L = L;
	b->cap = cap < 256 ? 256 : cap;
	b->p = lua_newuserdatauv(L, b->cap, 0);
	b->slot = lua_gettop(L);
	b->n = 0;
}

static char *wbuf_reserve(struct wbuf *b, size_t more) {
	if (b->cap - b->n < more) {
		size_t cap = b->cap * 2;
		while (cap - b->n < more)
			cap *= 2;
		char *np = lua_newuserdatauv(b->L, cap, 0);
		memcpy(np, b->p, b->n);
		lua_replace(b->L, b->slot);
		b->p = np;
		b->cap = cap;
	}
	return b->p + b->n;
}

static void wbuf_add(struct wbuf *b, const char *s, size_t len) {
	memcpy(wbuf_reserve(b, len), s, len);
	b->n += len;
}

/* "*<argc>\r\n" */
static void wbuf_count(struct wbuf *b, char mark, size_t count) {
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "%c%zu\r\n", mark, count);
	wbuf_add(b, tmp, (size_t)len);
}

/* "$<len>\r\n<bytes>\r\n" */
static void wbuf_bulk(struct wbuf *b, const char *s, size_t len) {
	wbuf_count(b, '$', len);
	wbuf_add(b, s, len);
	wbuf_add(b, "\r\n", 2);
}

/* tostring(v) of a float, as Lua 5.4 prints it (LUA_NUMBER_FMT, ".0" added when
 * the result looks like an integer). */
static int format_float(char *out, size_t size, lua_Number x) {
	int len = snprintf(out, size, LUA_NUMBER_FMT, (LUAI_UACNUMBER)x);
	if (out[strspn(out, "-0123456789")] == '\0') {
		out[len++] = '.';
		out[len++] = '0';
		out[len] = '\0';
	}
	return len;
}

/* Appends the value at idx as one bulk.  what/argn name it in errors. */
static void add_value(struct wbuf *b, int idx, const char *what, lua_Integer argn) {
	lua_State *L = b->L;
	char tmp[64];
	size_t len;
	switch (lua_type(L, idx)) {
	case LUA_TSTRING: {
		const char *s = lua_tolstring(L, idx, &len);
		wbuf_bulk(b, s, len);
		return;
	}
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			len = (size_t)snprintf(tmp, sizeof(tmp), LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
		else
			len = (size_t)format_float(tmp, sizeof(tmp) - 2, lua_tonumber(L, idx));
		wbuf_bulk(b, tmp, len);
		return;
	case LUA_TBOOLEAN:
		if (lua_toboolean(L, idx))
			wbuf_bulk(b, "true", 4);
		else
			wbuf_bulk(b, "false", 5);
		return;
	case LUA_TNIL:
		luaL_error(L, "redis: %s: argument #%d is nil (a nil cannot be sent; nothing was sent)", what, (int)argn);
		return;
	default: {
		/* tables, functions, userdata: what tostring prints */
		idx = lua_absindex(L, idx);
		const char *s = luaL_tolstring(L, idx, &len);
		wbuf_bulk(b, s, len);
		lua_pop(L, 1);
		return;
	}
	}
}

/* Builds the request for the command named by upvalue 1 from the arguments
 * at stack slots first..last, and pushes it. */
static void build_command(lua_State *L, int first, int last) {
	size_t nlen;
	const char *name = lua_tolstring(L, lua_upvalueindex(1), &nlen);
	struct wbuf b;
	if (first <= last && lua_type(L, first) == LUA_TTABLE) {
		/* the table is the argument list; later arguments are ignored */
		lua_Integer n;
		if (lua_getfield(L, first, "n") == LUA_TNUMBER && lua_isinteger(L, -1))
			n = lua_tointeger(L, -1);
		else
			n = luaL_len(L, first);
		lua_pop(L, 1);
		if (n < 0)
			n = 0;
		wbuf_init(&b, L, nlen + 16 + (size_t)n * 16);
		wbuf_count(&b, '*', (size_t)n + 1);
		wbuf_bulk(&b, name, nlen);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_geti(L, first, i);
			add_value(&b, -1, name, i);
			lua_pop(L, 1);
		}
	} else {
		int argc = last >= first ? last - first + 1 : 0;
		wbuf_init(&b, L, nlen + 16 + (size_t)argc * 16);
		wbuf_count(&b, '*', (size_t)argc + 1);
		wbuf_bulk(&b, name, nlen);
		for (int i = first; i <= last; i++)
			add_value(&b, i, name, i - first + 1);
	}
	lua_pushlstring(L, b.p, b.n);
	lua_remove(L, b.slot);
}

static int command_done(lua_State *L, int status, lua_KContext base) {
	(void)status;
	return lua_gettop(L) - (int)base;
}

/* method(self, ...): return send(self, request, flag) */
static int lcommand_call(lua_State *L) {
	int top = lua_gettop(L);
	luaL_checkstack(L, 8, "redis: too many arguments");
	lua_pushvalue(L, lua_upvalueindex(2)); /* send */
	lua_pushvalue(L, 1);                   /* self */
	build_command(L, 2, top);
	lua_pushvalue(L, lua_upvalueindex(3)); /* flag */
	lua_callk(L, 3, LUA_MULTRET, top, command_done);
	return command_done(L, LUA_OK, top);
}

static int lcommand(lua_State *L) {
	luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_settop(L, 3);
	lua_pushcclosure(L, lcommand_call, 3);
	return 1;
}

static int lpipeline(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	struct wbuf b;
	wbuf_init(&b, L, 4096);
	lua_Integer count = 0;
	while (lua_geti(L, 1, count + 1) != LUA_TNIL) {
		count++;
		int op = lua_gettop(L);
		if (lua_type(L, op) != LUA_TTABLE)
			return luaL_error(L, "redis: pipeline: op #%d is a %s, not a table {cmd, arg...}", (int)count,
				luaL_typename(L, op));
		lua_Integer argc = 0;
		while (lua_geti(L, op, argc + 1) != LUA_TNIL) {
			lua_pop(L, 1);
			argc++;
		}
		lua_pop(L, 1);
		if (argc == 0)
			return luaL_error(L, "redis: pipeline: op #%d is empty (no command name)", (int)count);
		wbuf_count(&b, '*', (size_t)argc);
		for (lua_Integer i = 1; i <= argc; i++) {
			lua_geti(L, op, i);
			add_value(&b, -1, "pipeline", i);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_pushlstring(L, b.p, b.n);
	lua_pushinteger(L, count);
	return 2;
}

/* reply parsing -------------------------------------------------------------- */

struct rstate {
	lua_State *L;
	const char *s;
	size_t len;
	size_t pos; /* 0-based offset of the next unread byte */
};

enum parse_result { PARSE_OK, PARSE_ERROR_REPLY, PARSE_INCOMPLETE };

static int protocol_error(struct rstate *r, const char *why) {
	return luaL_error(r->L, "redis: protocol error: %s at byte %d of a reply", why, (int)r->pos);
}

/* The line starting at r->pos (without its "\r\n"): sets *start, *llen and
 * moves past it.  0 if the line is not complete yet. */
static int take_line(struct rstate *r, const char **start, size_t *llen) {
	const char *p = r->s + r->pos;
	size_t avail = r->len - r->pos;
	size_t scan = avail < REDIS_MAX_LINE + 2 ? avail : REDIS_MAX_LINE + 2;
	const char *cr = memmem(p, scan, "\r\n", 2);
	if (cr == NULL) {
		if (avail > REDIS_MAX_LINE + 2)
			protocol_error(r, "line longer than 64 KiB");
		return 0;
	}
	*start = p;
	*llen = (size_t)(cr - p);
	r->pos += *llen + 2;
	return 1;
}

/* Decimal integer of a whole line (optionally negative). */
static int parse_int(const char *p, size_t len, int64_t *out) {
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0;
	if (len > 0 && p[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len || len - i > 19)
		return 0;
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return 0;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 1;
}

/* Parses one reply at r->pos; on PARSE_OK / PARSE_ERROR_REPLY its value is
 * pushed.  On PARSE_INCOMPLETE nothing is pushed. */
static enum parse_result parse_reply(struct rstate *r, int depth) {
	lua_State *L = r->L;
	const char *line;
	size_t llen;
	int64_t n;
	if (!take_line(r, &line, &llen))
		return PARSE_INCOMPLETE;
	if (llen == 0)
		protocol_error(r, "empty line");
	switch (line[0]) {
	case '+':
		lua_pushlstring(L, line + 1, llen - 1);
		return PARSE_OK;
	case '-':
		lua_pushlstring(L, line + 1, llen - 1);
		return PARSE_ERROR_REPLY;
	case ':':
		if (!parse_int(line + 1, llen - 1, &n))
			protocol_error(r, "bad integer");
		lua_pushinteger(L, (lua_Integer)n);
		return PARSE_OK;
	case '$':
		if (!parse_int(line + 1, llen - 1, &n) || n < -1 || n > REDIS_MAX_LEN)
			protocol_error(r, "bad bulk length");
		if (n < 0) {
			lua_pushnil(L);
			return PARSE_OK;
		}
		if ((uint64_t)(r->len - r->pos) < (uint64_t)n + 2)
			return PARSE_INCOMPLETE;
		if (r->s[r->pos + (size_t)n] != '\r' || r->s[r->pos + (size_t)n + 1] != '\n')
			protocol_error(r, "bulk not followed by CRLF");
		lua_pushlstring(L, r->s + r->pos, (size_t)n);
		r->pos += (size_t)n + 2;
		return PARSE_OK;
	case '*': {
		if (!parse_int(line + 1, llen - 1, &n) || n < -1 || n > REDIS_MAX_LEN)
			protocol_error(r, "bad array length");
		if (n < 0) {
			lua_pushnil(L);
			return PARSE_OK;
		}
		if ((uint64_t)(r->len - r->pos) / REDIS_MIN_REPLY < (uint64_t)n)
			return PARSE_INCOMPLETE; /* cannot all be there: allocate nothing */
		if (depth >= REDIS_MAX_DEPTH)
			protocol_error(r, "arrays nested too deep");
		luaL_checkstack(L, 4, "redis: reply nested too deep");
		lua_createtable(L, (int)n, 0);
		enum parse_result res = PARSE_OK;
		for (int64_t i = 1; i <= n; i++) {
			enum parse_result e = parse_reply(r, depth + 1);
			if (e == PARSE_INCOMPLETE) {
				lua_pop(L, 1);
				return PARSE_INCOMPLETE;
			}
			if (e == PARSE_ERROR_REPLY)
				res = PARSE_ERROR_REPLY;
			lua_rawseti(L, -2, (lua_Integer)i);
		}
		return res;
	}
	default: {
		char why[96];
		unsigned char c = (unsigned char)line[0];
		snprintf(why, sizeof(why), "unsupported reply type 0x%02x%s", c,
			strchr("_,#!=(%~>|", c) && c ? " (a RESP3 type; only RESP2 is spoken)" : "");
		r->pos -= llen + 2;
		return (enum parse_result)protocol_error(r, why);
	}
	}
}

static int lreply(lua_State *L) {
	struct rstate r;
	r.L = L;
	r.s = luaL_checklstring(L, 1, &r.len);
	lua_Integer pos = luaL_optinteger(L, 2, 1);
	lua_Integer depth = luaL_optinteger(L, 3, 0);
	if (pos < 1 || (size_t)pos > r.len + 1)
		return luaL_argerror(L, 2, "position out of range");
	r.pos = (size_t)pos - 1;
	lua_settop(L, 2);
	enum parse_result res = parse_reply(&r, depth < 0 || depth > REDIS_MAX_DEPTH ? REDIS_MAX_DEPTH : (int)depth);
	if (res == PARSE_INCOMPLETE)
		return 0;
	lua_pushinteger(L, (lua_Integer)r.pos + 1);
	lua_pushboolean(L, res == PARSE_OK);
	lua_rotate(L, -3, 2);
	return 3;
}

/* crc16 ------------------------------------------------------------------------
 * CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no final xor), the
 * hash of Redis Cluster's key slots (slot = crc16(key) % 16384). */

static int lcrc16(lua_State *L) {
	size_t len;
	const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &len);
	uint16_t crc = 0;
	/* bit by bit: keys are short, and no table means no shared state */
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int j = 0; j < 8; j++)
			crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	lua_pushinteger(L, crc);
	return 1;
}

LUAMOD_API int luaopen_skynet_redisaux(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
		{ "command", lcommand },
		{ "pipeline", lpipeline },
		{ "reply", lreply },
		{ "crc16", lcrc16 },
		{ NULL, NULL },
	};
	luaL_newlib(L, l);
	return 1;
}
