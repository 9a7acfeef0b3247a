/*
 * lua-seri.c -- the skynet.pack / skynet.unpack value serializer.
 *
 * Encodes Lua values (nil, booleans, integers, floats, strings, light
 * userdata, tables) into upstream's tag-driven byte stream, byte for byte,
 * and decodes such streams back.
 * The format is always little-endian, whatever the host.
 *
 * Encoder: writes into one growable buffer that starts on the C stack and,
 * past STACK_BUFSZ bytes, moves into a heap block owned by a Lua userdata
 * (a "box" with __gc).  A Lua error raised mid-encode (too deep, bad type,
 * an erroring __pairs) unwinds past us; the box is then garbage and the
 * collector frees the block, so nothing leaks.
 *
 * Decoder: trusts nothing.  Every length and count is checked against the
 * bytes left before anything is read or allocated, and table nesting is
 * capped at DECODE_MAX_DEPTH so hostile input cannot exhaust the C stack.
 */
#include "lua-seri.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "skynet_malloc.h"

/* Tag layout: type in bits 0..2, cookie in bits 3..7. */
#define TYPE_NIL 0
#define TYPE_BOOLEAN 1
#define TYPE_NUMBER 2
#define TYPE_USERDATA 3
#define TYPE_SHORT_STRING 4
#define TYPE_LONG_STRING 5
#define TYPE_TABLE 6

#define NUMBER_ZERO 0
#define NUMBER_BYTE 1
#define NUMBER_WORD 2
#define NUMBER_DWORD 4
#define NUMBER_QWORD 6
#define NUMBER_REAL 8

#define MAX_COOKIE 32 /* cookie is 5 bits: 0..31 */
#define COMBINE_TYPE(t, v) ((uint8_t)((t) | (v) << 3))

#define ENCODE_MAX_DEPTH 32   /* values at depth 33+ fail, as upstream */
#define DECODE_MAX_DEPTH 128  /* our own cap on nested tables when decoding */
#define STACK_BUFSZ 256

/* ------------------------------------------------------------------ */
/* Encoder buffer                                                      */
/* ------------------------------------------------------------------ */

/* Heap block owned by a Lua userdata; freed by __gc unless detached. */
struct seri_box {
	uint8_t *ptr;
	size_t cap;
};

struct wbuf {
	lua_State *L;
	uint8_t *ptr;           /* local[] or box->ptr */
	size_t len;
	size_t cap;
	int boxidx;             /* stack slot reserved for the box */
	struct seri_box *box;   /* NULL while still in local[] */
	uint8_t local[STACK_BUFSZ];
};

static int box_gc(lua_State *L) {
	struct seri_box *box = lua_touserdata(L, 1);
	skynet_free(box->ptr);
	box->ptr = NULL;
	return 0;
}

static const char box_key = 0; /* registry key of the box metatable */

static void wb_init(struct wbuf *b, lua_State *L, int boxidx) {
	b->L = L;
	b->ptr = b->local;
	b->len = 0;
	b->cap = sizeof(b->local);
	b->boxidx = boxidx;
	b->box = NULL;
}

/*
 * Make room for n more bytes, doubling the capacity.  The first growth
 * moves the data into a new box placed in the reserved stack slot; later
 * ones realloc the box's block.  On allocation failure the old block stays
 * owned by the box and a Lua error is raised.
 */
static void wb_grow(struct wbuf *b, size_t n) {
	lua_State *L = b->L;
	size_t need = b->len + n, cap = b->cap;
	if (need < b->len)
		luaL_error(L, "serialize buffer overflow");
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			luaL_error(L, "serialize buffer overflow");
		cap *= 2;
	}
	if (b->box == NULL) {
		struct seri_box *box = lua_newuserdatauv(L, sizeof(*box), 0);
		box->ptr = NULL;
		box->cap = 0;
		if (lua_rawgetp(L, LUA_REGISTRYINDEX, &box_key) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_createtable(L, 0, 1);
			lua_pushcfunction(L, box_gc);
			lua_setfield(L, -2, "__gc");
			lua_pushvalue(L, -1);
			lua_rawsetp(L, LUA_REGISTRYINDEX, &box_key);
		}
		lua_setmetatable(L, -2);
		lua_replace(L, b->boxidx);
		box->ptr = skynet_malloc(cap);
		if (box->ptr == NULL)
			luaL_error(L, "serialize out of memory (%I bytes)", (lua_Integer)cap);
		memcpy(box->ptr, b->local, b->len);
		box->cap = cap;
		b->box = box;
	} else {
		uint8_t *p = skynet_realloc(b->box->ptr, cap);
		if (p == NULL)
			luaL_error(L, "serialize out of memory (%I bytes)", (lua_Integer)cap);
		b->box->ptr = p;
		b->box->cap = cap;
	}
	b->ptr = b->box->ptr;
	b->cap = cap;
}

/* Returns a pointer where n bytes may be written; the caller commits them
 * by advancing b->len. */
static inline uint8_t *wb_reserve(struct wbuf *b, size_t n) {
	if (b->cap - b->len < n)
		wb_grow(b, n);
	return b->ptr + b->len;
}

static inline void wb_byte(struct wbuf *b, uint8_t v) {
	*wb_reserve(b, 1) = v;
	b->len++;
}

/* Little-endian stores by shifts: portable, and a single store on x86. */
static inline void put_le(uint8_t *p, uint64_t v, int n) {
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void wb_tag_le(struct wbuf *b, uint8_t tag, uint64_t v, int n) {
	uint8_t *p = wb_reserve(b, 1 + n);
	p[0] = tag;
	put_le(p + 1, v, n);
	b->len += 1 + n;
}

/* ------------------------------------------------------------------ */
/* Encoder                                                             */
/* ------------------------------------------------------------------ */

/* Integer width: the smallest of upstream's encodings that holds v
 * (first matching rule wins; negatives always take 4 or 8 bytes). */
static void wb_integer(struct wbuf *b, lua_Integer v) {
	if (v == 0) {
		wb_byte(b, COMBINE_TYPE(TYPE_NUMBER, NUMBER_ZERO));
	} else if (v != (int32_t)v) {
		wb_tag_le(b, COMBINE_TYPE(TYPE_NUMBER, NUMBER_QWORD), (uint64_t)v, 8);
	} else if (v < 0) {
		wb_tag_le(b, COMBINE_TYPE(TYPE_NUMBER, NUMBER_DWORD), (uint32_t)(int32_t)v, 4);
	} else if (v < 0x100) {
		wb_tag_le(b, COMBINE_TYPE(TYPE_NUMBER, NUMBER_BYTE), (uint64_t)v, 1);
	} else if (v < 0x10000) {
		wb_tag_le(b, COMBINE_TYPE(TYPE_NUMBER, NUMBER_WORD), (uint64_t)v, 2);
	} else {
		wb_tag_le(b, COMBINE_TYPE(TYPE_NUMBER, NUMBER_DWORD), (uint64_t)v, 4);
	}
}

static void wb_real(struct wbuf *b, lua_Number d) {
	uint64_t bits;
	double v = (double)d;
	memcpy(&bits, &v, sizeof(bits));
	wb_tag_le(b, COMBINE_TYPE(TYPE_NUMBER, NUMBER_REAL), bits, 8);
}

static void wb_string(struct wbuf *b, const char *s, size_t n) {
	uint8_t *p;
	if (n < MAX_COOKIE) {
		p = wb_reserve(b, 1 + n);
		*p++ = COMBINE_TYPE(TYPE_SHORT_STRING, n);
		b->len += 1 + n;
	} else if (n < 0x10000) {
		p = wb_reserve(b, 3 + n);
		p[0] = COMBINE_TYPE(TYPE_LONG_STRING, 2);
		put_le(p + 1, n, 2);
		p += 3;
		b->len += 3 + n;
	} else {
		if (n > INT32_MAX)
			luaL_error(b->L, "serialize can't pack a string of %I bytes (limit 2^31-1)",
			           (lua_Integer)n);
		p = wb_reserve(b, 5 + n);
		p[0] = COMBINE_TYPE(TYPE_LONG_STRING, 4);
		put_le(p + 1, n, 4);
		p += 5;
		b->len += 5 + n;
	}
	memcpy(p, s, n);
}

static void wb_value(struct wbuf *b, int idx, int depth);

/* Table with __pairs: count 0, then every pair the iterator
 * yields, then the nil terminator.  The metafield is on the stack top. */
static void wb_table_pairs(struct wbuf *b, int idx, int depth) {
	lua_State *L = b->L;
	wb_byte(b, COMBINE_TYPE(TYPE_TABLE, 0));
	lua_pushvalue(L, idx);
	lua_call(L, 1, 3);              /* f s c */
	int c = lua_gettop(L);
	for (;;) {
		lua_pushvalue(L, c - 2);
		lua_pushvalue(L, c - 1);
		lua_pushvalue(L, c);
		lua_call(L, 2, 2);          /* f s c k v */
		if (lua_isnil(L, c + 1))
			break;
		wb_value(b, c + 1, depth + 1);
		wb_value(b, c + 2, depth + 1);
		lua_pop(L, 1);
		lua_replace(L, c);          /* f s k */
	}
	lua_settop(L, c - 3);
	wb_byte(b, COMBINE_TYPE(TYPE_NIL, 0));
}

/* Plain table: border-sized array part, then the remaining
 * pairs in next() order, then the nil terminator.  Raw access only. */
static void wb_table(struct wbuf *b, int idx, int depth) {
	lua_State *L = b->L;
	luaL_checkstack(L, 8, "serialize: table nested too deep for the Lua stack");
	if (luaL_getmetafield(L, idx, "__pairs") != LUA_TNIL) {
		wb_table_pairs(b, idx, depth);
		return;
	}
	lua_Unsigned n = lua_rawlen(L, idx);
	if (n < MAX_COOKIE - 1) {
		wb_byte(b, COMBINE_TYPE(TYPE_TABLE, n));
	} else {
		wb_byte(b, COMBINE_TYPE(TYPE_TABLE, MAX_COOKIE - 1));
		wb_integer(b, (lua_Integer)n);
	}
	for (lua_Unsigned i = 1; i <= n; i++) {
		lua_rawgeti(L, idx, (lua_Integer)i);
		wb_value(b, lua_gettop(L), depth + 1);
		lua_pop(L, 1);
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		int top = lua_gettop(L);
		if (lua_isinteger(L, top - 1)) {
			lua_Integer k = lua_tointeger(L, top - 1);
			if (k >= 1 && (lua_Unsigned)k <= n) {
				lua_pop(L, 1);
				continue;
			}
		}
		wb_value(b, top - 1, depth + 1);
		wb_value(b, top, depth + 1);
		lua_pop(L, 1);
	}
	wb_byte(b, COMBINE_TYPE(TYPE_NIL, 0));
}

/* Encode the value at absolute stack index idx, found at nesting depth
 * `depth` (top-level arguments are depth 0).  Leaves the stack as found. */
static void wb_value(struct wbuf *b, int idx, int depth) {
	lua_State *L = b->L;
	if (depth > ENCODE_MAX_DEPTH)
		luaL_error(L, "serialize can't pack too depth table");
	int type = lua_type(L, idx);
	switch (type) {
	case LUA_TNIL:
		wb_byte(b, COMBINE_TYPE(TYPE_NIL, 0));
		break;
	case LUA_TBOOLEAN:
		wb_byte(b, COMBINE_TYPE(TYPE_BOOLEAN, lua_toboolean(L, idx) ? 1 : 0));
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			wb_integer(b, lua_tointeger(L, idx));
		else
			wb_real(b, lua_tonumber(L, idx));
		break;
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		wb_string(b, s, n);
		break;
	}
	case LUA_TLIGHTUSERDATA:
		wb_tag_le(b, COMBINE_TYPE(TYPE_USERDATA, 0),
		          (uint64_t)(uintptr_t)lua_touserdata(L, idx), (int)sizeof(void *));
		break;
	case LUA_TTABLE:
		wb_table(b, idx, depth);
		break;
	default:
		luaL_error(L, "Unsupport type %s to serialize", lua_typename(L, type));
	}
}

/* Encode arguments 1..n into b; one slot above them is reserved for the
 * buffer box.  Returns n. */
static int encode_args(lua_State *L, struct wbuf *b) {
	int n = lua_gettop(L);
	luaL_checkstack(L, LUA_MINSTACK, NULL);
	lua_pushnil(L);
	wb_init(b, L, n + 1);
	for (int i = 1; i <= n; i++)
		wb_value(b, i, 0);
	return n;
}

int luaseri_pack(lua_State *L) {
	struct wbuf b;
	encode_args(L, &b);
	luaL_checkstack(L, 2, NULL); /* no allocation may fail after detaching */
	uint8_t *out;
	if (b.box != NULL) {
		/* Hand the heap block over; shrink it if it is mostly slack. */
		out = b.box->ptr;
		b.box->ptr = NULL;
		if (b.len + b.len / 4 < b.box->cap) {
			uint8_t *p = skynet_realloc(out, b.len ? b.len : 1);
			if (p != NULL)
				out = p;
		}
	} else {
		out = skynet_malloc(b.len ? b.len : 1);
		if (out == NULL)
			return luaL_error(L, "serialize out of memory (%I bytes)", (lua_Integer)b.len);
		memcpy(out, b.local, b.len);
	}
	lua_pushlightuserdata(L, out);
	lua_pushinteger(L, (lua_Integer)b.len);
	return 2;
}

int luaseri_packstring(lua_State *L) {
	struct wbuf b;
	encode_args(L, &b);
	lua_pushlstring(L, (const char *)b.ptr, b.len);
	return 1;
}

int luaseri_trash(lua_State *L) {
	if (lua_type(L, 1) == LUA_TLIGHTUSERDATA)
		skynet_free(lua_touserdata(L, 1));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Decoder                                                             */
/* ------------------------------------------------------------------ */

struct rbuf {
	lua_State *L;
	const uint8_t *p;
	size_t left;
};

#define BAD_STREAM(rb) bad_stream((rb), __LINE__)

static int bad_stream(struct rbuf *rb, int line) {
	return luaL_error(rb->L, "Invalid serialize stream %I (line:%d)",
	                  (lua_Integer)rb->left, line);
}

static inline uint64_t get_le(const uint8_t *p, int n) {
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Consume n bytes and return them, or raise if fewer are left. */
static inline const uint8_t *rb_take(struct rbuf *rb, size_t n) {
	if (rb->left < n)
		BAD_STREAM(rb);
	const uint8_t *p = rb->p;
	rb->p += n;
	rb->left -= n;
	return p;
}

/* Read the body of an integer tag with the given cookie; raises on a
 * cookie that is not an integer form (including NUMBER_REAL). */
static lua_Integer rb_integer(struct rbuf *rb, int cookie) {
	switch (cookie) {
	case NUMBER_ZERO:
		return 0;
	case NUMBER_BYTE:
		return *rb_take(rb, 1);
	case NUMBER_WORD:
		return (lua_Integer)get_le(rb_take(rb, 2), 2);
	case NUMBER_DWORD:
		return (int32_t)(uint32_t)get_le(rb_take(rb, 4), 4);
	case NUMBER_QWORD:
		return (lua_Integer)get_le(rb_take(rb, 8), 8);
	default:
		return BAD_STREAM(rb);
	}
}

static void rb_value(struct rbuf *rb, uint8_t tag, int depth);

/* Read one tag and push the value it starts; raises at end of input. */
static inline void rb_next(struct rbuf *rb, int depth) {
	uint8_t tag = *rb_take(rb, 1);
	rb_value(rb, tag, depth);
}

/*
 * Decode a table body.  The declared array count is bounded by the bytes
 * left (each element takes at least one byte, plus the terminator), so a
 * hostile count cannot force a large allocation.  Nesting beyond
 * DECODE_MAX_DEPTH is rejected instead of recursing on.
 */
static void rb_table(struct rbuf *rb, int cookie, int depth) {
	lua_State *L = rb->L;
	if (depth >= DECODE_MAX_DEPTH)
		luaL_error(L, "Invalid serialize stream %I (tables nested deeper than %d)",
		           (lua_Integer)rb->left, DECODE_MAX_DEPTH);
	if (!lua_checkstack(L, 4))
		luaL_error(L, "deserialize can't grow the Lua stack");
	lua_Integer n = cookie;
	if (cookie == MAX_COOKIE - 1) {
		uint8_t tag = *rb_take(rb, 1);
		if ((tag & 7) != TYPE_NUMBER || (tag >> 3) == NUMBER_REAL)
			BAD_STREAM(rb);
		n = rb_integer(rb, tag >> 3);
	}
	if (n < 0 || (lua_Unsigned)n >= rb->left || n > INT_MAX)
		BAD_STREAM(rb);
	lua_createtable(L, (int)n, 0);
	int t = lua_gettop(L);
	for (lua_Integer i = 1; i <= n; i++) {
		rb_next(rb, depth + 1);
		lua_rawseti(L, t, i);
	}
	for (;;) {
		uint8_t tag = *rb_take(rb, 1);
		if ((tag & 7) == TYPE_NIL)
			break;
		rb_value(rb, tag, depth + 1);
		rb_next(rb, depth + 1);
		lua_rawset(L, t);
	}
}

/* Push the value whose tag byte was just consumed. */
static void rb_value(struct rbuf *rb, uint8_t tag, int depth) {
	lua_State *L = rb->L;
	int cookie = tag >> 3;
	switch (tag & 7) {
	case TYPE_NIL:
		lua_pushnil(L);
		break;
	case TYPE_BOOLEAN:
		lua_pushboolean(L, cookie != 0);
		break;
	case TYPE_NUMBER:
		if (cookie == NUMBER_REAL) {
			uint64_t bits = get_le(rb_take(rb, 8), 8);
			double d;
			memcpy(&d, &bits, sizeof(d));
			lua_pushnumber(L, (lua_Number)d);
		} else {
			lua_pushinteger(L, rb_integer(rb, cookie));
		}
		break;
	case TYPE_USERDATA: {
		uint64_t v = get_le(rb_take(rb, sizeof(void *)), (int)sizeof(void *));
		lua_pushlightuserdata(L, (void *)(uintptr_t)v);
		break;
	}
	case TYPE_SHORT_STRING:
		lua_pushlstring(L, (const char *)rb_take(rb, (size_t)cookie), (size_t)cookie);
		break;
	case TYPE_LONG_STRING: {
		size_t n = 0;
		if (cookie == 2)
			n = (size_t)get_le(rb_take(rb, 2), 2);
		else if (cookie == 4)
			n = (size_t)get_le(rb_take(rb, 4), 4);
		else
			BAD_STREAM(rb);
		lua_pushlstring(L, (const char *)rb_take(rb, n), n);
		break;
	}
	case TYPE_TABLE:
		rb_table(rb, cookie, depth);
		break;
	default:
		BAD_STREAM(rb);
	}
}

int luaseri_unpack(lua_State *L) {
	struct rbuf rb;
	const void *data;
	size_t sz;
	int type = lua_type(L, 1);
	if (type <= LUA_TNIL)
		return 0;
	if (type == LUA_TSTRING) {
		data = lua_tolstring(L, 1, &sz);
	} else if (type == LUA_TLIGHTUSERDATA) {
		lua_Integer n = luaL_checkinteger(L, 2);
		if (n < 0)
			return luaL_error(L, "deserialize invalid size %I", n);
		data = lua_touserdata(L, 1);
		sz = (size_t)n;
	} else {
		return luaL_typeerror(L, 1, "string or lightuserdata");
	}
	if (sz == 0)
		return 0;
	if (data == NULL)
		return luaL_error(L, "deserialize null pointer");
	rb.L = L;
	rb.p = data;
	rb.left = sz;
	int base = lua_gettop(L);
	while (rb.left > 0) {
		if (!lua_checkstack(L, LUA_MINSTACK))
			return luaL_error(L, "deserialize can't grow the Lua stack for value %d",
			                  lua_gettop(L) - base + 1);
		rb_next(&rb, 0);
	}
	return lua_gettop(L) - base;
}
