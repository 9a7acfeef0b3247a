/*
 * lua-bson.c -- the `bson` module (luaclib/bson.so): BSON documents for the
 * MongoDB driver and anyone else (upstream's API).
 *
 *   bson.encode(t) / bson.encode_order(k1, v1, ...) -> document object
 *   bson.decode(doc) -> table             doc:decode(), doc:makeindex(),
 *   doc.key = v (in place), tostring(doc) -> bytes, #doc -> size
 *   bson.int64, date, timestamp, regex, binary, objectid, null, minkey,
 *   maxkey: typed values, Lua strings "\0" .. <BSON type byte> .. payload
 *   bson.type(v) -> name, fields...
 *   bson.fromstring(bytes) -> document object (ours: lets a caller or a test
 *   hand raw bytes to decode; nothing is checked until decode)
 *
 * Encoding runs in an inner protected call with its buffer outside the Lua
 * stack: an error half-way frees the buffer and is re-raised as is (so its
 * message carries no position, as upstream's).  Argument checks of the
 * public functions raise with the caller's position.
 *
 * Decoding trusts nothing: every length (document, string, binary, code
 * with scope) is checked against the bytes that remain in the enclosing
 * document before it is used, nesting is limited to BSON_MAX_DEPTH, and a
 * malformed document raises one of: "Invalid bson block (<have>:<need>)",
 * "Invalid bson block : cstring", "Invalid document end", "Invalid bson
 * string , length = <n>", "Invalid bson type : <n>", "Too depth while
 * decoding bson".  The one exception is a light userdata handed to decode
 * (what to_lightuserdata returns): its size is taken from its own header.
 */
#include <lauxlib.h>
#include <lua.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Deepest nesting of documents/arrays, both ways (a reference cycle in a
 * table being encoded ends here too). */
#define BSON_MAX_DEPTH 128
/* Largest document: BSON lengths are int32. */
#define BSON_MAX_SIZE ((size_t)INT32_MAX)

#define BSON_META "bson"

enum {
	BSON_DOUBLE = 1,
	BSON_STRING = 2,
	BSON_DOCUMENT = 3,
	BSON_ARRAY = 4,
	BSON_BINARY = 5,
	BSON_UNDEFINED = 6,
	BSON_OBJECTID = 7,
	BSON_BOOLEAN = 8,
	BSON_DATE = 9,
	BSON_NULL = 10,
	BSON_REGEX = 11,
	BSON_DBPOINTER = 12,
	BSON_JSCODE = 13,
	BSON_SYMBOL = 14,
	BSON_CODEWS = 15,
	BSON_INT32 = 16,
	BSON_TIMESTAMP = 17,
	BSON_INT64 = 18,
	BSON_MINKEY = 255,
	BSON_MAXKEY = 127,
};

/* Raises msg without a position (lua_error adds none). */
static int bson_error(lua_State *L, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return lua_error(L);
}

static int32_t get_i32(const uint8_t *p) {
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static int64_t get_i64(const uint8_t *p) {
	return (int64_t)((uint64_t)(uint32_t)get_i32(p) | (uint64_t)(uint32_t)get_i32(p + 4) << 32);
}

static void put_i32(uint8_t *p, int32_t v) {
	uint32_t u = (uint32_t)v;
	p[0] = (uint8_t)u;
	p[1] = (uint8_t)(u >> 8);
	p[2] = (uint8_t)(u >> 16);
	p[3] = (uint8_t)(u >> 24);
}

static void put_i64(uint8_t *p, int64_t v) {
	put_i32(p, (int32_t)(uint32_t)(uint64_t)v);
	put_i32(p + 4, (int32_t)(uint32_t)((uint64_t)v >> 32));
}

/* UTF-8 as BSON wants it: no bad or overlong sequences, nothing above
 * U+10FFFF (NUL bytes are the caller's business). */
static int utf8_valid(const uint8_t *s, size_t len) {
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		int n;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return 0;
		}
		if (len - i <= (size_t)n)
			return 0;
		for (int j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff)
			return 0;
		i += (size_t)n + 1;
	}
	return 1;
}

/* encoding buffer ----------------------------------------------------------------- */

struct bbuf {
	lua_State *L;
	uint8_t *p;
	size_t n, cap;
};

static void buf_free(struct bbuf *b) {
	void *ud;
	lua_Alloc f = lua_getallocf(b->L, &ud);
	if (b->p)
		f(ud, b->p, b->cap, 0);
	b->p = NULL;
	b->cap = b->n = 0;
}

static uint8_t *buf_reserve(struct bbuf *b, size_t more) {
	if (b->cap - b->n < more) {
		if (more > BSON_MAX_SIZE - b->n)
			bson_error(b->L, "bson document too large (over 2 GiB)");
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->n < more)
			cap *= 2;
		void *ud;
		lua_Alloc f = lua_getallocf(b->L, &ud);
		uint8_t *np = f(ud, b->p, b->cap, cap);
		if (np == NULL)
			bson_error(b->L, "not enough memory for a bson document");
		b->p = np;
		b->cap = cap;
	}
	return b->p + b->n;
}

static void buf_add(struct bbuf *b, const void *s, size_t len) {
	memcpy(buf_reserve(b, len), s, len);
	b->n += len;
}

static void buf_byte(struct bbuf *b, uint8_t c) {
	*buf_reserve(b, 1) = c;
	b->n++;
}

static void buf_i32(struct bbuf *b, int32_t v) {
	put_i32(buf_reserve(b, 4), v);
	b->n += 4;
}

static void buf_i64(struct bbuf *b, int64_t v) {
	put_i64(buf_reserve(b, 8), v);
	b->n += 8;
}

static size_t doc_begin(struct bbuf *b) {
	size_t at = b->n;
	buf_i32(b, 0);
	return at;
}

static void doc_end(struct bbuf *b, size_t at) {
	buf_byte(b, 0);
	put_i32(b->p + at, (int32_t)(b->n - at));
}

static void write_key(struct bbuf *b, uint8_t type, const char *key, size_t klen) {
	buf_byte(b, type);
	buf_add(b, key, klen);
	buf_byte(b, 0);
}

/* decoding: sizes --------------------------------------------------------------------- */

static size_t cstring_len(lua_State *L, const uint8_t *p, size_t avail) {
	const uint8_t *z = memchr(p, 0, avail);
	if (z == NULL)
		bson_error(L, "Invalid bson block : cstring");
	return (size_t)(z - p);
}

static void need(lua_State *L, size_t have, size_t want) {
	if (have < want)
		bson_error(L, "Invalid bson block (%d:%d)", (int)have, (int)(want > INT32_MAX ? INT32_MAX : want));
}

/* int32 length + bytes + NUL; returns the whole size (4 + length). */
static size_t string_size(lua_State *L, const uint8_t *p, size_t avail) {
	need(L, avail, 4);
	int32_t n = get_i32(p);
	if (n < 1 || (size_t)n > avail - 4 || p[4 + n - 1] != 0)
		bson_error(L, "Invalid bson string , length = %d", (int)n);
	return 4 + (size_t)n;
}

/* A document's length, checked: at least 5, within avail, NUL at its end. */
static size_t document_size(lua_State *L, const uint8_t *p, size_t avail) {
	need(L, avail, 5);
	int32_t n = get_i32(p);
	if (n < 5 || (size_t)n > avail)
		bson_error(L, "Invalid bson block (%d:%d)", (int)avail, (int)n);
	if (p[n - 1] != 0)
		bson_error(L, "Invalid document end");
	return (size_t)n;
}

static void check_document(lua_State *L, const uint8_t *p, size_t size, int depth);

/* Size of the value of an element of `type` at p (avail bytes left in the
 * enclosing document); nested documents are checked whole. */
static size_t value_size(lua_State *L, int type, const uint8_t *p, size_t avail, int depth) {
	size_t n, m;
	switch (type) {
	case BSON_DOUBLE:
	case BSON_DATE:
	case BSON_TIMESTAMP:
	case BSON_INT64:
		need(L, avail, 8);
		return 8;
	case BSON_STRING:
	case BSON_JSCODE:
	case BSON_SYMBOL:
		return string_size(L, p, avail);
	case BSON_DOCUMENT:
	case BSON_ARRAY:
		n = document_size(L, p, avail);
		check_document(L, p, n, depth + 1);
		return n;
	case BSON_BINARY: {
		need(L, avail, 5);
		int32_t len = get_i32(p);
		if (len < 0)
			bson_error(L, "Invalid bson block (%d:%d)", (int)avail, (int)len);
		need(L, avail, 5 + (size_t)len);
		return 5 + (size_t)len;
	}
	case BSON_OBJECTID:
		need(L, avail, 12);
		return 12;
	case BSON_BOOLEAN:
		need(L, avail, 1);
		return 1;
	case BSON_NULL:
	case BSON_MINKEY:
	case BSON_MAXKEY:
		return 0;
	case BSON_REGEX:
		n = cstring_len(L, p, avail) + 1;
		m = cstring_len(L, p + n, avail - n) + 1;
		return n + m;
	case BSON_DBPOINTER:
		n = string_size(L, p, avail);
		need(L, avail - n, 12);
		return n + 12;
	case BSON_INT32:
		need(L, avail, 4);
		return 4;
	case BSON_CODEWS: {
		need(L, avail, 4);
		int32_t total = get_i32(p);
		if (total < 4 + 5 + 5 || (size_t)total > avail)
			bson_error(L, "Invalid bson block (%d:%d)", (int)avail, (int)total);
		n = 4 + string_size(L, p + 4, (size_t)total - 4);
		m = document_size(L, p + n, (size_t)total - n);
		check_document(L, p + n, m, depth + 1);
		if (n + m != (size_t)total)
			bson_error(L, "Invalid bson block (%d:%d)", (int)total, (int)(n + m));
		return (size_t)total;
	}
	default:
		return (size_t)bson_error(L, "Invalid bson type : %d", type);
	}
}

/* Walks a document (size checked by document_size) element by element. */
static void check_document(lua_State *L, const uint8_t *p, size_t size, int depth) {
	if (depth > BSON_MAX_DEPTH)
		bson_error(L, "Too depth while decoding bson");
	size_t pos = 4, end = size - 1;
	while (pos < end) {
		int type = p[pos++];
		pos += cstring_len(L, p + pos, end - pos) + 1;
		pos += value_size(L, type, p + pos, end - pos, depth);
	}
}

/* encoding -------------------------------------------------------------------------- */

static void encode_value(lua_State *L, struct bbuf *b, const char *key, size_t klen, int idx, int depth);

static void check_key(lua_State *L, const char *key, size_t klen) {
	if (memchr(key, 0, klen))
		bson_error(L, "Invalid key (contains \\0) : %s", key);
	if (!utf8_valid((const uint8_t *)key, klen))
		bson_error(L, "Invalid utf8 string");
}

/* The key of lua_next/__pairs at idx: must be a string. */
static const char *table_key(lua_State *L, int idx, size_t *klen) {
	switch (lua_type(L, idx)) {
	case LUA_TSTRING: {
		const char *k = lua_tolstring(L, idx, klen);
		check_key(L, k, *klen);
		return k;
	}
	case LUA_TNUMBER:
		bson_error(L, "Bson dictionary's key can't be number");
		return NULL;
	default:
		bson_error(L, "Invalid key type : %s", luaL_typename(L, idx));
		return NULL;
	}
}

/* Fields of the table at idx (absolute) into an open document. */
static void encode_fields(lua_State *L, struct bbuf *b, int idx, int depth) {
	luaL_checkstack(L, 8, "bson: nested too deep");
	if (luaL_getmetafield(L, idx, "__pairs") != LUA_TNIL) {
		lua_pushvalue(L, idx);
		lua_call(L, 1, 3); /* iter, state, control */
		int it = lua_gettop(L) - 2;
		for (;;) {
			lua_pushvalue(L, it);
			lua_pushvalue(L, it + 1);
			lua_pushvalue(L, it + 2);
			lua_call(L, 2, 2); /* key, value */
			if (lua_isnil(L, -2)) {
				lua_pop(L, 2);
				break;
			}
			size_t klen;
			const char *k = table_key(L, -2, &klen);
			encode_value(L, b, k, klen, -1, depth);
			lua_pop(L, 1);
			lua_replace(L, it + 2); /* control = key */
		}
		lua_pop(L, 3);
		return;
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		size_t klen;
		const char *k = table_key(L, -2, &klen);
		encode_value(L, b, k, klen, -1, depth);
		lua_pop(L, 1);
	}
}

static void encode_array(lua_State *L, struct bbuf *b, int idx, lua_Integer n, int raw, int depth) {
	char key[24];
	for (lua_Integer i = 1; i <= n; i++) {
		int t = raw ? lua_rawgeti(L, idx, i) : lua_geti(L, idx, i);
		if (t == LUA_TNIL)
			bson_error(L, "Bson array has a hole (nil), Use bson.null instead");
		int klen = snprintf(key, sizeof(key), "%lld", (long long)(i - 1));
		encode_value(L, b, key, (size_t)klen, -1, depth);
		lua_pop(L, 1);
	}
}

/* A table value: array (__len, or integer keys from 1) or document. */
static void encode_table(lua_State *L, struct bbuf *b, const char *key, size_t klen, int idx, int depth) {
	if (depth > BSON_MAX_DEPTH)
		bson_error(L, "Too depth while encoding bson");
	luaL_checkstack(L, 8, "bson: nested too deep");
	idx = lua_absindex(L, idx);
	if (luaL_getmetafield(L, idx, "__len") != LUA_TNIL) {
		lua_pop(L, 1);
		lua_Integer n = luaL_len(L, idx);
		write_key(b, BSON_ARRAY, key, klen);
		size_t at = doc_begin(b);
		encode_array(L, b, idx, n, 0, depth);
		doc_end(b, at);
		return;
	}
	int is_array = 0;
	if (luaL_getmetafield(L, idx, "__pairs") != LUA_TNIL) {
		lua_pop(L, 1);
	} else {
		lua_pushnil(L);
		if (lua_next(L, idx)) {
			if (lua_isinteger(L, -2)) {
				lua_Integer k = lua_tointeger(L, -2);
				if (k == 1 || (k > 1 && (lua_Unsigned)k <= lua_rawlen(L, idx)))
					is_array = 1;
			}
			lua_pop(L, 2);
		}
	}
	write_key(b, is_array ? BSON_ARRAY : BSON_DOCUMENT, key, klen);
	size_t at = doc_begin(b);
	if (is_array)
		encode_array(L, b, idx, (lua_Integer)lua_rawlen(L, idx), 1, depth);
	else
		encode_fields(L, b, idx, depth);
	doc_end(b, at);
}

/* A string "\0" .. type .. payload. */
static void encode_typed(lua_State *L, struct bbuf *b, const char *key, size_t klen, const uint8_t *s, size_t len,
	int depth) {
	int type = s[1];
	const uint8_t *pl = s + 2;
	size_t plen = len - 2;
	switch (type) {
	case BSON_BINARY:
		if (plen < 1)
			bson_error(L, "Invalid binary (no subtype)");
		write_key(b, BSON_BINARY, key, klen);
		buf_i32(b, (int32_t)(plen - 1));
		buf_add(b, pl, plen);
		return;
	case BSON_OBJECTID:
		if (plen != 12)
			bson_error(L, "Invalid object id %s", (const char *)pl);
		write_key(b, BSON_OBJECTID, key, klen);
		buf_add(b, pl, 12);
		return;
	case BSON_DATE:
		if (plen != 4)
			bson_error(L, "Invalid date");
		write_key(b, BSON_DATE, key, klen);
		buf_i64(b, (int64_t)get_i32(pl) * 1000);
		return;
	case BSON_TIMESTAMP:
		if (plen != 8)
			bson_error(L, "Invalid timestamp");
		write_key(b, BSON_TIMESTAMP, key, klen);
		buf_add(b, pl, 8);
		return;
	case BSON_INT64:
		if (plen != 8)
			bson_error(L, "Invalid int64");
		write_key(b, BSON_INT64, key, klen);
		buf_add(b, pl, 8);
		return;
	case BSON_REGEX: {
		const uint8_t *z1 = memchr(pl, 0, plen);
		const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, plen - (size_t)(z1 + 1 - pl)) : NULL;
		if (z2 == NULL)
			bson_error(L, "Invalid regex");
		size_t n1 = (size_t)(z1 - pl), n2 = (size_t)(z2 - z1 - 1);
		if (!utf8_valid(pl, n1) || !utf8_valid(z1 + 1, n2))
			bson_error(L, "Invalid utf8 string");
		write_key(b, BSON_REGEX, key, klen);
		buf_add(b, pl, n1 + 1 + n2 + 1);
		return;
	}
	case BSON_NULL:
	case BSON_MINKEY:
	case BSON_MAXKEY:
		write_key(b, (uint8_t)type, key, klen);
		return;
	case BSON_DBPOINTER:
	case BSON_JSCODE:
	case BSON_SYMBOL:
	case BSON_CODEWS:
		/* copied as they came (from decode); checked so the document
		 * written stays well formed */
		if (value_size(L, type, pl, plen, depth) != plen)
			bson_error(L, "Invalid bson block (%d:%d)", (int)plen, (int)value_size(L, type, pl, plen, depth));
		write_key(b, (uint8_t)type, key, klen);
		buf_add(b, pl, plen);
		return;
	default:
		bson_error(L, "Invalid subtype %d", type);
	}
}

/* A document object or a light userdata pointing at BSON bytes, nested. */
static void encode_userdata(lua_State *L, struct bbuf *b, const char *key, size_t klen, int idx) {
	const uint8_t *p;
	size_t size;
	if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) {
		p = lua_touserdata(L, idx);
		if (p == NULL)
			bson_error(L, "Invalid bson document (NULL)");
		size = (size_t)(uint32_t)get_i32(p);
	} else {
		p = luaL_testudata(L, idx, BSON_META);
		if (p == NULL)
			bson_error(L, "Invalid value type : userdata (not a bson document)");
		size = lua_rawlen(L, idx);
	}
	size_t n = document_size(L, p, size);
	write_key(b, BSON_DOCUMENT, key, klen);
	buf_add(b, p, n);
}

static void encode_value(lua_State *L, struct bbuf *b, const char *key, size_t klen, int idx, int depth) {
	switch (lua_type(L, idx)) {
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			lua_Integer i = lua_tointeger(L, idx);
			if (i >= INT32_MIN && i <= INT32_MAX) {
				write_key(b, BSON_INT32, key, klen);
				buf_i32(b, (int32_t)i);
			} else {
				write_key(b, BSON_INT64, key, klen);
				buf_i64(b, (int64_t)i);
			}
		} else {
			double d = (double)lua_tonumber(L, idx);
			uint64_t u;
			memcpy(&u, &d, 8);
			write_key(b, BSON_DOUBLE, key, klen);
			buf_i64(b, (int64_t)u);
		}
		return;
	case LUA_TBOOLEAN:
		write_key(b, BSON_BOOLEAN, key, klen);
		buf_byte(b, lua_toboolean(L, idx) ? 1 : 0);
		return;
	case LUA_TSTRING: {
		size_t len;
		const uint8_t *s = (const uint8_t *)lua_tolstring(L, idx, &len);
		if (len >= 2 && s[0] == 0) {
			encode_typed(L, b, key, klen, s, len, depth);
			return;
		}
		if (!utf8_valid(s, len))
			bson_error(L, "Invalid utf8 string");
		if (len >= BSON_MAX_SIZE)
			bson_error(L, "bson document too large (over 2 GiB)");
		write_key(b, BSON_STRING, key, klen);
		buf_i32(b, (int32_t)(len + 1));
		buf_add(b, s, len);
		buf_byte(b, 0);
		return;
	}
	case LUA_TTABLE:
		encode_table(L, b, key, klen, idx, depth + 1);
		return;
	case LUA_TUSERDATA:
	case LUA_TLIGHTUSERDATA:
		encode_userdata(L, b, key, klen, idx);
		return;
	default:
		bson_error(L, "Invalid value type : %s", luaL_typename(L, idx));
	}
}

/* Pushes a new document object holding the buffer's bytes. */
static void push_document(lua_State *L, const void *p, size_t n) {
	void *ud = lua_newuserdatauv(L, n, 1);
	memcpy(ud, p, n);
	luaL_setmetatable(L, BSON_META);
}

/* Inner protected calls: (buf, table) and (buf, k1, v1, ...). */
static int encode_inner(lua_State *L) {
	struct bbuf *b = lua_touserdata(L, 1);
	size_t at = doc_begin(b);
	encode_fields(L, b, 2, 0);
	doc_end(b, at);
	return 0;
}

static int encode_order_inner(lua_State *L) {
	struct bbuf *b = lua_touserdata(L, 1);
	int top = lua_gettop(L);
	size_t at = doc_begin(b);
	for (int i = 2; i < top; i += 2) {
		size_t klen;
		lua_pushvalue(L, i);
		const char *k = lua_tolstring(L, -1, &klen); /* a number key becomes a string */
		check_key(L, k, klen);
		encode_value(L, b, k, klen, i + 1, 0);
		lua_pop(L, 1);
	}
	doc_end(b, at);
	return 0;
}

/* Runs inner(buf, args at 1..top) protected; pushes the document or
 * re-raises the error as it is. */
static int run_encoder(lua_State *L, lua_CFunction inner) {
	int top = lua_gettop(L);
	struct bbuf b = { L, NULL, 0, 0 };
	lua_pushcfunction(L, inner);
	lua_pushlightuserdata(L, &b);
	for (int i = 1; i <= top; i++)
		lua_pushvalue(L, i);
	int status = lua_pcall(L, top + 1, 0, 0);
	if (status != LUA_OK) {
		buf_free(&b);
		return lua_error(L);
	}
	push_document(L, b.p, b.n);
	buf_free(&b);
	return 1;
}

static int lencode(lua_State *L) {
	if (lua_type(L, 1) != LUA_TTABLE) /* upstream's exact words (Lua would say 'bson.encode') */
		return luaL_error(L, "bad argument #1 to 'encode' (table expected, got %s)", luaL_typename(L, 1));
	lua_settop(L, 1);
	return run_encoder(L, encode_inner);
}

static int lencode_order(lua_State *L) {
	int top = lua_gettop(L);
	if (top % 2 != 0)
		return luaL_error(L, "Invalid ordered dict");
	for (int i = 1; i < top; i += 2) {
		int t = lua_type(L, i);
		if (t != LUA_TSTRING && t != LUA_TNUMBER)
			return luaL_error(L, "Argument %d need a string", i);
	}
	return run_encoder(L, encode_order_inner);
}

/* decoding ------------------------------------------------------------------------- */

static void push_typed(lua_State *L, int type, const uint8_t *p, size_t n) {
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addchar(&b, 0);
	luaL_addchar(&b, (char)type);
	luaL_addlstring(&b, (const char *)p, n);
	luaL_pushresult(&b);
}

static void decode_document(lua_State *L, const uint8_t *p, size_t size, int array, int depth);

/* Pushes the value of an element; returns its size. */
static size_t decode_value(lua_State *L, int type, const uint8_t *p, size_t avail, int depth) {
	size_t n;
	switch (type) {
	case BSON_DOUBLE: {
		need(L, avail, 8);
		uint64_t u = (uint64_t)get_i64(p);
		double d;
		memcpy(&d, &u, 8);
		lua_pushnumber(L, (lua_Number)d);
		return 8;
	}
	case BSON_STRING:
		n = string_size(L, p, avail);
		lua_pushlstring(L, (const char *)p + 4, n - 5);
		return n;
	case BSON_DOCUMENT:
	case BSON_ARRAY:
		n = document_size(L, p, avail);
		decode_document(L, p, n, type == BSON_ARRAY, depth + 1);
		return n;
	case BSON_BINARY:
		n = value_size(L, type, p, avail, depth);
		push_typed(L, BSON_BINARY, p + 4, n - 4); /* subtype .. data */
		return n;
	case BSON_OBJECTID:
		need(L, avail, 12);
		push_typed(L, BSON_OBJECTID, p, 12);
		return 12;
	case BSON_BOOLEAN:
		need(L, avail, 1);
		lua_pushboolean(L, p[0] != 0);
		return 1;
	case BSON_DATE: {
		need(L, avail, 8);
		uint8_t sec[4];
		put_i32(sec, (int32_t)(uint32_t)(get_i64(p) / 1000));
		push_typed(L, BSON_DATE, sec, 4);
		return 8;
	}
	case BSON_NULL:
	case BSON_MINKEY:
	case BSON_MAXKEY:
		push_typed(L, type, p, 0);
		return 0;
	case BSON_REGEX:
		n = value_size(L, type, p, avail, depth);
		push_typed(L, BSON_REGEX, p, n);
		return n;
	case BSON_INT32:
		need(L, avail, 4);
		lua_pushinteger(L, get_i32(p));
		return 4;
	case BSON_TIMESTAMP:
		need(L, avail, 8);
		push_typed(L, BSON_TIMESTAMP, p, 8);
		return 8;
	case BSON_INT64:
		need(L, avail, 8);
		lua_pushinteger(L, (lua_Integer)get_i64(p));
		return 8;
	case BSON_DBPOINTER:
	case BSON_JSCODE:
	case BSON_SYMBOL:
	case BSON_CODEWS:
		n = value_size(L, type, p, avail, depth);
		push_typed(L, type, p, n);
		return n;
	default:
		return (size_t)bson_error(L, "Invalid bson type : %d", type);
	}
}

/* Array keys "0", "1", ... become integer keys 1, 2, ... */
static lua_Integer array_index(lua_State *L, const char *key, size_t klen) {
	lua_Integer v = 0;
	if (klen == 0 || klen > 18)
		bson_error(L, "Invalid bson array index : %s", key);
	for (size_t i = 0; i < klen; i++) {
		if (key[i] < '0' || key[i] > '9')
			bson_error(L, "Invalid bson array index : %s", key);
		v = v * 10 + (key[i] - '0');
	}
	return v + 1;
}

static void decode_document(lua_State *L, const uint8_t *p, size_t size, int array, int depth) {
	if (depth > BSON_MAX_DEPTH)
		bson_error(L, "Too depth while decoding bson");
	luaL_checkstack(L, 6, "bson: nested too deep");
	lua_newtable(L);
	size_t pos = 4, end = size - 1;
	while (pos < end) {
		int type = p[pos++];
		const char *key = (const char *)p + pos;
		size_t klen = cstring_len(L, p + pos, end - pos);
		pos += klen + 1;
		pos += decode_value(L, type, p + pos, end - pos, depth);
		if (array) {
			lua_rawseti(L, -2, array_index(L, key, klen));
		} else {
			lua_pushlstring(L, key, klen);
			lua_insert(L, -2);
			lua_rawset(L, -3);
		}
	}
}

/* The bytes of a document argument: a document object (size known) or a
 * light userdata (size from its header).  NULL for anything else. */
static const uint8_t *document_bytes(lua_State *L, int idx, size_t *size) {
	if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) {
		const uint8_t *p = lua_touserdata(L, idx);
		if (p == NULL)
			return NULL;
		int32_t n = get_i32(p);
		*size = n < 5 ? 5 : (size_t)n;
		return p;
	}
	const uint8_t *p = luaL_testudata(L, idx, BSON_META);
	if (p)
		*size = lua_rawlen(L, idx);
	return p;
}

static int ldecode(lua_State *L) {
	size_t size;
	const uint8_t *p = document_bytes(L, 1, &size);
	if (p == NULL)
		return 0;
	size_t n = document_size(L, p, size);
	decode_document(L, p, n, 0, 0);
	return 1;
}

/* document object --------------------------------------------------------------------- */

static int ldoc_tostring(lua_State *L) {
	const char *p = luaL_checkudata(L, 1, BSON_META);
	lua_pushlstring(L, p, lua_rawlen(L, 1));
	return 1;
}

static int ldoc_len(lua_State *L) {
	luaL_checkudata(L, 1, BSON_META);
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
	return 1;
}

/* doc:makeindex(): key -> offset of the value (type in the byte before
 * the key) for the fixed-size top-level fields that can be replaced. */
static int lmakeindex(lua_State *L) {
	const uint8_t *p = luaL_checkudata(L, 1, BSON_META);
	size_t size = document_size(L, p, lua_rawlen(L, 1));
	lua_newtable(L);
	size_t pos = 4, end = size - 1;
	while (pos < end) {
		size_t tpos = pos;
		int type = p[pos++];
		size_t klen = cstring_len(L, p + pos, end - pos);
		const char *key = (const char *)p + pos;
		pos += klen + 1;
		size_t vsize = value_size(L, type, p + pos, end - pos, 0);
		switch (type) {
		case BSON_DOUBLE:
		case BSON_BOOLEAN:
		case BSON_OBJECTID:
		case BSON_DATE:
		case BSON_INT32:
		case BSON_TIMESTAMP:
		case BSON_INT64:
			lua_pushlstring(L, key, klen);
			lua_pushinteger(L, (lua_Integer)tpos);
			lua_rawset(L, -3);
			break;
		default:
			break;
		}
		pos += vsize;
	}
	lua_setiuservalue(L, 1, 1);
	lua_settop(L, 1);
	return 1;
}

static int64_t integral(lua_State *L, int idx, const char *what) {
	if (lua_isinteger(L, idx))
		return (int64_t)lua_tointeger(L, idx);
	lua_Number x = luaL_checknumber(L, idx);
	if (x != floor(x) || !(x >= -9223372036854775808.0 && x < 9223372036854775808.0)) {
		char tmp[64];
		snprintf(tmp, sizeof(tmp), "%.14g", (double)x);
		luaL_error(L, "%s must be a %s integer ", tmp, what);
	}
	return (int64_t)x;
}

static const uint8_t *typed_arg(lua_State *L, int idx, int type, size_t want, const char *invalid) {
	size_t len;
	const uint8_t *s = (const uint8_t *)lua_tolstring(L, idx, &len);
	if (lua_type(L, idx) != LUA_TSTRING || len < 6 || s[0] != 0 || s[1] != type)
		luaL_error(L, "Type mismatch, need bson type %d", type);
	if (len != want + 2)
		luaL_error(L, "%s", invalid);
	return s + 2;
}

/* doc.key = value: in place, same size (after makeindex). */
static int ldoc_newindex(lua_State *L) {
	uint8_t *p = luaL_checkudata(L, 1, BSON_META);
	const char *key = luaL_checkstring(L, 2);
	if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE)
		return luaL_error(L, "call makeindex first");
	lua_pushvalue(L, 2);
	if (lua_rawget(L, -2) != LUA_TNUMBER)
		return luaL_error(L, "Can't replace key : %s", key);
	size_t tpos = (size_t)lua_tointeger(L, -1);
	int type = p[tpos];
	uint8_t *v = p + tpos + 1 + strlen((const char *)p + tpos + 1) + 1;
	switch (type) {
	case BSON_DOUBLE: {
		double d = (double)luaL_checknumber(L, 3);
		uint64_t u;
		memcpy(&u, &d, 8);
		put_i64(v, (int64_t)u);
		break;
	}
	case BSON_BOOLEAN:
		v[0] = lua_toboolean(L, 3) ? 1 : 0;
		break;
	case BSON_INT32:
		put_i32(v, (int32_t)(uint32_t)(uint64_t)integral(L, 3, "32bit"));
		break;
	case BSON_INT64:
		put_i64(v, integral(L, 3, "64bit"));
		break;
	case BSON_OBJECTID:
		memcpy(v, typed_arg(L, 3, BSON_OBJECTID, 12, "Invalid object id"), 12);
		break;
	case BSON_DATE:
		put_i64(v, (int64_t)get_i32(typed_arg(L, 3, BSON_DATE, 4, "Invalid date")) * 1000);
		break;
	case BSON_TIMESTAMP:
		memcpy(v, typed_arg(L, 3, BSON_TIMESTAMP, 8, "Invalid timestamp"), 8);
		break;
	default:
		return luaL_error(L, "Can't replace key : %s", key);
	}
	return 0;
}

static int lto_lightuserdata(lua_State *L) {
	void *p = luaL_checkudata(L, 1, BSON_META);
	lua_pushlightuserdata(L, p);
	return 1;
}

static int lfromstring(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	push_document(L, s, len);
	return 1;
}

/* typed values ---------------------------------------------------------------------------- */

static void push_typed_bytes(lua_State *L, int type, const void *p, size_t n) {
	push_typed(L, type, p, n);
}

static int lint64(lua_State *L) {
	uint8_t v[8];
	put_i64(v, (int64_t)luaL_checkinteger(L, 1));
	push_typed_bytes(L, BSON_INT64, v, 8);
	return 1;
}

static int ldate(lua_State *L) {
	uint8_t v[4];
	put_i32(v, (int32_t)(uint32_t)(uint64_t)luaL_checkinteger(L, 1)); /* seconds, as a C int */
	push_typed_bytes(L, BSON_DATE, v, 4);
	return 1;
}

/* Per process: the increment of timestamps made without one, so two made
 * in the same second differ (upstream always wrote 0). */
static atomic_uint timestamp_inc;

static int ltimestamp(lua_State *L) {
	uint8_t v[8];
	uint32_t t = (uint32_t)luaL_checkinteger(L, 1);
	uint32_t inc = lua_isnoneornil(L, 2) ? atomic_fetch_add(&timestamp_inc, 1) + 1 : (uint32_t)luaL_checkinteger(L, 2);
	put_i32(v, (int32_t)inc);
	put_i32(v + 4, (int32_t)t);
	push_typed_bytes(L, BSON_TIMESTAMP, v, 8);
	return 1;
}

static int lregex(lua_State *L) {
	size_t plen, olen;
	const char *pat = luaL_checklstring(L, 1, &plen);
	const char *opt = luaL_optlstring(L, 2, "", &olen);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addchar(&b, 0);
	luaL_addchar(&b, BSON_REGEX);
	luaL_addlstring(&b, pat, plen);
	luaL_addchar(&b, 0);
	luaL_addlstring(&b, opt, olen);
	luaL_addchar(&b, 0);
	luaL_pushresult(&b);
	return 1;
}

static int lbinary(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addchar(&b, 0);
	luaL_addchar(&b, BSON_BINARY);
	luaL_addchar(&b, 0); /* subtype 0: generic */
	luaL_addlstring(&b, s, len);
	luaL_pushresult(&b);
	return 1;
}

/* objectid: time (4, big-endian), host hash (3), pid (2, little-endian),
 * counter (3, big-endian; process-wide, atomic). */
static pthread_once_t oid_once = PTHREAD_ONCE_INIT;
static uint32_t oid_host;
static atomic_uint oid_counter;

static void oid_init(void) {
	char name[256] = { 0 };
	gethostname(name, sizeof(name) - 1);
	uint32_t h = 2166136261u;
	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	oid_host = h;
	atomic_store(&oid_counter, h ^ (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)&name);
}

static int hexval(int c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int lobjectid(lua_State *L) {
	uint8_t id[12];
	if (!lua_isnoneornil(L, 1)) {
		size_t len;
		const char *s = luaL_checklstring(L, 1, &len);
		if (len != 24)
			return luaL_error(L, "Invalid objectid %s", s);
		for (int i = 0; i < 12; i++) {
			int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return luaL_error(L, "Invalid objectid %s", s);
			id[i] = (uint8_t)(hi << 4 | lo);
		}
	} else {
		pthread_once(&oid_once, oid_init);
		uint32_t t = (uint32_t)time(NULL);
		uint32_t pid = (uint32_t)getpid();
		uint32_t c = atomic_fetch_add(&oid_counter, 1) + 1;
		id[0] = (uint8_t)(t >> 24);
		id[1] = (uint8_t)(t >> 16);
		id[2] = (uint8_t)(t >> 8);
		id[3] = (uint8_t)t;
		id[4] = (uint8_t)oid_host;
		id[5] = (uint8_t)(oid_host >> 8);
		id[6] = (uint8_t)(oid_host >> 16);
		id[7] = (uint8_t)pid;
		id[8] = (uint8_t)(pid >> 8);
		id[9] = (uint8_t)(c >> 16);
		id[10] = (uint8_t)(c >> 8);
		id[11] = (uint8_t)c;
	}
	push_typed_bytes(L, BSON_OBJECTID, id, 12);
	return 1;
}

/* bson.type ------------------------------------------------------------------------------- */

static int ltype(lua_State *L) {
	static const char hex[] = "0123456789abcdef";
	switch (lua_type(L, 1)) {
	case LUA_TNONE:
	case LUA_TNIL:
		lua_pushliteral(L, "nil");
		return 1;
	case LUA_TNUMBER:
		lua_pushliteral(L, "number");
		break;
	case LUA_TBOOLEAN:
		lua_pushliteral(L, "boolean");
		break;
	case LUA_TTABLE:
		lua_pushliteral(L, "table");
		break;
	case LUA_TSTRING: {
		size_t len;
		const uint8_t *s = (const uint8_t *)lua_tolstring(L, 1, &len);
		if (len < 2 || s[0] != 0) {
			lua_pushliteral(L, "string");
			break;
		}
		const uint8_t *pl = s + 2;
		size_t plen = len - 2;
		switch (s[1]) {
		case BSON_BINARY:
			if (plen < 1)
				return luaL_error(L, "Invalid binary");
			lua_pushliteral(L, "binary");
			lua_pushlstring(L, (const char *)pl + 1, plen - 1);
			lua_pushinteger(L, pl[0]);
			return 3;
		case BSON_OBJECTID: {
			if (plen != 12)
				return luaL_error(L, "Invalid object id");
			char out[24];
			for (int i = 0; i < 12; i++) {
				out[2 * i] = hex[pl[i] >> 4];
				out[2 * i + 1] = hex[pl[i] & 15];
			}
			lua_pushliteral(L, "objectid");
			lua_pushlstring(L, out, 24);
			return 2;
		}
		case BSON_TIMESTAMP:
			if (plen != 8)
				return luaL_error(L, "Invalid timestamp");
			lua_pushliteral(L, "timestamp");
			lua_pushinteger(L, (uint32_t)get_i32(pl + 4));
			lua_pushinteger(L, (uint32_t)get_i32(pl));
			return 3;
		case BSON_DATE:
			if (plen != 4)
				return luaL_error(L, "Invalid date");
			lua_pushliteral(L, "date");
			lua_pushinteger(L, get_i32(pl));
			return 2;
		case BSON_REGEX: {
			const uint8_t *z1 = memchr(pl, 0, plen);
			const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, plen - (size_t)(z1 + 1 - pl)) : NULL;
			if (z2 == NULL)
				return luaL_error(L, "Invalid regex");
			lua_pushliteral(L, "regex");
			lua_pushlstring(L, (const char *)pl, (size_t)(z1 - pl));
			lua_pushlstring(L, (const char *)z1 + 1, (size_t)(z2 - z1 - 1));
			return 3;
		}
		case BSON_MINKEY:
			lua_pushliteral(L, "minkey");
			return 1;
		case BSON_MAXKEY:
			lua_pushliteral(L, "maxkey");
			return 1;
		case BSON_NULL:
			lua_pushliteral(L, "nil");
			return 1;
		case BSON_INT64:
			if (plen != 8)
				return luaL_error(L, "Invalid int64");
			lua_pushliteral(L, "int64");
			lua_pushinteger(L, (lua_Integer)get_i64(pl));
			return 2;
		case BSON_DBPOINTER:
		case BSON_JSCODE:
		case BSON_SYMBOL:
		case BSON_CODEWS:
			lua_pushliteral(L, "unsupported");
			lua_pushlstring(L, (const char *)pl, plen);
			return 2;
		default:
			return luaL_error(L, "Invalid subtype %d", s[1]);
		}
	}
	default:
		return luaL_error(L, "Invalid type %s", luaL_typename(L, 1));
	}
	lua_pushvalue(L, 1);
	return 2;
}

LUAMOD_API int luaopen_bson(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
		{ "encode", lencode },
		{ "encode_order", lencode_order },
		{ "decode", ldecode },
		{ "to_lightuserdata", lto_lightuserdata },
		{ "fromstring", lfromstring },
		{ "int64", lint64 },
		{ "date", ldate },
		{ "timestamp", ltimestamp },
		{ "regex", lregex },
		{ "binary", lbinary },
		{ "objectid", lobjectid },
		{ "type", ltype },
		{ NULL, NULL },
	};
	luaL_newlib(L, l);
	push_typed_bytes(L, BSON_NULL, "", 0);
	lua_setfield(L, -2, "null");
	push_typed_bytes(L, BSON_MINKEY, "", 0);
	lua_setfield(L, -2, "minkey");
	push_typed_bytes(L, BSON_MAXKEY, "", 0);
	lua_setfield(L, -2, "maxkey");

	if (luaL_newmetatable(L, BSON_META)) {
		luaL_Reg m[] = {
			{ "__tostring", ldoc_tostring },
			{ "__len", ldoc_len },
			{ "__newindex", ldoc_newindex },
			{ NULL, NULL },
		};
		luaL_setfuncs(L, m, 0);
		lua_createtable(L, 0, 2);
		lua_pushcfunction(L, ldecode);
		lua_setfield(L, -2, "decode");
		lua_pushcfunction(L, lmakeindex);
		lua_setfield(L, -2, "makeindex");
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	return 1;
}
