/*
 * lua-sproto-encode.c -- Lua value -> sproto wire bytes (spec api-sproto.md
 * §3.1, §3.2, §3.4).
 *
 * One pass over the Lua value, straight into the buffer.  A struct's header
 * (u16 count + u16 records) precedes its data but its size is only known
 * once we know which fields are present, so encode_struct reserves the
 * worst case (a skip record and a field record per schema field), writes
 * the data after it, and slides the data down over the unused part at the
 * end: one memmove per struct, instead of upstream's restarting the whole
 * encode whenever its buffer turns out to be too small.
 *
 * Offsets, never pointers, are kept across anything that may grow the
 * buffer (any nested encode does).
 *
 * Values are read with ordinary indexing (lua_getfield / lua_geti, so
 * __index is honoured).  lua_getfield's C-string key costs a strcmp in
 * Lua's string cache; measured, that is still cheaper here than fetching
 * interned names (lua-sproto-names.c), which pays off only when setting
 * fields.  Errors name the type, the field and the array index, in
 * upstream's words where upstream has words for it.
 */
#include "lua-sproto.h"

#include <lauxlib.h>
#include <math.h>
#include <string.h>

struct encoder {
	lua_State *L;
	struct sproto_buf *b;
	int depth;  /* struct nesting, top level = 0 */
};

static void put_u16(uint8_t *p, unsigned v) {
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v) {
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Appends u32 length + bytes. */
static void write_chunk(struct sproto_buf *b, const void *data, size_t len) {
	if (len > SPROTO_MAX_SIZE)
		luaL_error(b->L, "object is too large (>%d)", SPROTO_MAX_SIZE);
	uint8_t *p = sproto_buf_need(b, 4 + len);
	put_u32(p, (uint32_t)len);
	memcpy(p + 4, data, len);
	b->len += 4 + len;
}

/* Reserves a u32 length slot; returns its offset for end_chunk. */
static size_t begin_chunk(struct sproto_buf *b) {
	sproto_buf_need(b, 4);
	size_t at = b->len;
	b->len += 4;
	return at;
}

static void end_chunk(struct sproto_buf *b, size_t at) {
	put_u32(b->ptr + at, (uint32_t)(b->len - at - 4));
}

static bool fits_int32(lua_Integer v) {
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* The integer to send for field f: integer(N) fields take any number
 * (non-numbers become 0) scaled and rounded half away from zero. */
static lua_Integer get_integer(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int idx, lua_Integer i) {
	lua_State *L = e->L;
	int isnum;
	if (f->decimal > 0) {
		lua_Number x = lua_tonumberx(L, idx, &isnum);
		if (!isnum)
			x = 0;
		double d = round((double)x * f->scale);
		/* [-2^63, 2^63): outside, the conversion would be undefined */
		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
			luaL_error(L, "%s.%s[%d] is out of the integer range", st->name, f->name, (int)i);
		return (lua_Integer)d;
	}
	lua_Integer v = lua_tointegerx(L, idx, &isnum);
	if (!isnum)
		luaL_error(L, "%s.%s[%d] is not an integer (Is a %s)", st->name, f->name, (int)i, luaL_typename(L, idx));
	return v;
}

static double get_double(lua_State *L, int idx) {
	int isnum;
	lua_Number x = lua_tonumberx(L, idx, &isnum);
	return isnum ? (double)x : 0.0;
}

static const char *get_string(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int idx, lua_Integer i, size_t *len) {
	lua_State *L = e->L;
	if (lua_type(L, idx) != LUA_TSTRING)
		luaL_error(L, "%s.%s[%d] is not a string (Is a %s)", st->name, f->name, (int)i, luaL_typename(L, idx));
	return lua_tolstring(L, idx, len);
}

static int get_boolean(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int idx, lua_Integer i) {
	lua_State *L = e->L;
	if (lua_type(L, idx) != LUA_TBOOLEAN)
		luaL_error(L, "%s.%s[%d] is not a boolean (Is a %s)", st->name, f->name, (int)i, luaL_typename(L, idx));
	return lua_toboolean(L, idx);
}

/* A table, or anything whose metatable can index it. */
static bool indexable(lua_State *L, int idx) {
	if (lua_type(L, idx) == LUA_TTABLE)
		return true;
	if (luaL_getmetafield(L, idx, "__index") == LUA_TNIL)
		return false;
	lua_pop(L, 1);
	return true;
}

static void encode_fields(struct encoder *e, const struct sproto_type *st, int idx, int kidx, int vidx);

/* A struct value as a chunk (the value at idx must be indexable). */
static void encode_struct_chunk(struct encoder *e, const struct sproto_type *parent, const struct sproto_field *f, int idx, lua_Integer i) {
	lua_State *L = e->L;
	if (!indexable(L, idx))
		luaL_error(L, "attempt to index a %s value (%s.%s[%d])", luaL_typename(L, idx), parent->name, f->name, (int)i);
	size_t at = begin_chunk(e->b);
	encode_fields(e, f->st, idx, 0, 0);
	end_chunk(e->b, at);
}

/* ---- arrays ----------------------------------------------------------------- */

/* Integer arrays start at width 4; the first element outside int32
 * widens what is already written to 8 bytes (sign-extended). */
static void encode_integer_array(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int idx) {
	lua_State *L = e->L;
	struct sproto_buf *b = e->b;
	size_t first = 0; /* offset of the width byte, once written */
	int width = 0;
	for (lua_Integer i = 1;; i++) {
		if (lua_geti(L, idx, i) == LUA_TNIL) {
			lua_pop(L, 1);
			break;
		}
		lua_Integer v = get_integer(e, st, f, -1, i);
		lua_pop(L, 1);
		if (width == 0) {
			sproto_buf_need(b, 1);
			first = b->len;
			b->ptr[b->len++] = 4;
			width = 4;
		}
		if (width == 4 && !fits_int32(v)) {
			size_t n = (b->len - first - 1) / 4;
			uint8_t *p = sproto_buf_need(b, n * 4) - n * 4; /* start of the elements */
			for (size_t k = n; k-- > 0;) {
				int32_t old = (int32_t)sproto_u32(p + k * 4);
				put_u64(p + k * 8, (uint64_t)(int64_t)old);
			}
			b->len += n * 4;
			b->ptr[first] = 8;
			width = 8;
		}
		uint8_t *p = sproto_buf_need(b, (size_t)width);
		if (width == 4)
			put_u32(p, (uint32_t)v);
		else
			put_u64(p, (uint64_t)v);
		b->len += (size_t)width;
	}
}

static void encode_plain_array(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int idx) {
	lua_State *L = e->L;
	struct sproto_buf *b = e->b;
	if (f->kind == SPROTO_TINTEGER) {
		encode_integer_array(e, st, f, idx);
		return;
	}
	for (lua_Integer i = 1;; i++) {
		if (lua_geti(L, idx, i) == LUA_TNIL) {
			lua_pop(L, 1);
			break;
		}
		switch (f->kind) {
		case SPROTO_TBOOLEAN: {
			int v = get_boolean(e, st, f, -1, i);
			*sproto_buf_need(b, 1) = (uint8_t)v;
			b->len++;
			break;
		}
		case SPROTO_TDOUBLE: {
			double d = get_double(L, -1);
			uint64_t bits;
			memcpy(&bits, &d, sizeof(bits));
			if (i == 1) {
				*sproto_buf_need(b, 1) = 8;
				b->len++;
			}
			put_u64(sproto_buf_need(b, 8), bits);
			b->len += 8;
			break;
		}
		case SPROTO_TSTRING: {
			size_t len;
			const char *s = get_string(e, st, f, -1, i, &len);
			write_chunk(b, s, len);
			break;
		}
		default:
			encode_struct_chunk(e, st, f, lua_gettop(L), i);
			break;
		}
		lua_pop(L, 1);
	}
}

/* Main-index and map arrays: every entry of the table, in traversal order
 * (__pairs when the value has one).  Main index: each value is an element
 * (its Lua key is not sent; decode rebuilds it from the key field).  Map:
 * each (k, v) is an element {keyfield = k, valuefield = v}. */
static void encode_keyed_entry(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int kidx, int vidx, lua_Integer i) {
	if (!f->map) {
		encode_struct_chunk(e, st, f, vidx, i);
		return;
	}
	if (f->keyfield == NULL)
		luaL_error(e->L, "Invalid map definition: %s, must only have two fields", f->name);
	size_t at = begin_chunk(e->b);
	encode_fields(e, f->st, 0, kidx, vidx);
	end_chunk(e->b, at);
}

static void encode_keyed_array(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int idx) {
	lua_State *L = e->L;
	lua_Integer i = 0;
	if (luaL_getmetafield(L, idx, "__pairs") != LUA_TNIL) {
		lua_pushvalue(L, idx);
		lua_call(L, 1, 3); /* iterator, state, control */
		for (;;) {
			lua_pushvalue(L, -3);
			lua_pushvalue(L, -3);
			lua_pushvalue(L, -3);
			lua_call(L, 2, 2);
			if (lua_isnil(L, -2)) {
				lua_pop(L, 5);
				break;
			}
			int top = lua_gettop(L);
			encode_keyed_entry(e, st, f, top - 1, top, ++i);
			lua_pop(L, 1);
			lua_replace(L, -2); /* the key becomes the control value */
		}
		return;
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		int top = lua_gettop(L);
		encode_keyed_entry(e, st, f, top - 1, top, ++i);
		lua_pop(L, 1);
	}
}

static void encode_array(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int idx) {
	lua_State *L = e->L;
	if (lua_type(L, idx) != LUA_TTABLE) {
		bool meta = luaL_getmetafield(L, idx, "__index") != LUA_TNIL;
		if (meta)
			lua_pop(L, 1);
		else if (luaL_getmetafield(L, idx, "__pairs") != LUA_TNIL) {
			lua_pop(L, 1);
			meta = true;
		}
		if (!meta)
			luaL_error(L, "%s.%s(1) should be a table or an userdata with metamethods (Is a %s)", st->name, f->name, luaL_typename(L, idx));
	}
	size_t at = begin_chunk(e->b);
	if (f->kind == SPROTO_TSTRUCT && f->key >= 0)
		encode_keyed_array(e, st, f, idx);
	else
		encode_plain_array(e, st, f, idx);
	end_chunk(e->b, at);
}

/* ---- scalar fields and structs ------------------------------------------------ */

/* Encodes the value at idx (absolute) of field f; returns the inline value
 * (>= 0) or -1 when a data chunk was appended. */
static int encode_value(struct encoder *e, const struct sproto_type *st, const struct sproto_field *f, int idx) {
	struct sproto_buf *b = e->b;
	if (f->array) {
		encode_array(e, st, f, idx);
		return -1;
	}
	switch (f->kind) {
	case SPROTO_TINTEGER: {
		lua_Integer v = get_integer(e, st, f, idx, 0);
		if (v >= 0 && v <= SPROTO_MAX_INLINE)
			return (int)v;
		uint8_t *p = sproto_buf_need(b, 12);
		if (fits_int32(v)) {
			put_u32(p, 4);
			put_u32(p + 4, (uint32_t)v);
			b->len += 8;
		} else {
			put_u32(p, 8);
			put_u64(p + 4, (uint64_t)v);
			b->len += 12;
		}
		return -1;
	}
	case SPROTO_TBOOLEAN:
		return get_boolean(e, st, f, idx, 0);
	case SPROTO_TDOUBLE: {
		double d = get_double(e->L, idx);
		uint64_t bits;
		memcpy(&bits, &d, sizeof(bits));
		uint8_t *p = sproto_buf_need(b, 12);
		put_u32(p, 8);
		put_u64(p + 4, bits);
		b->len += 12;
		return -1;
	}
	case SPROTO_TSTRING: {
		size_t len;
		const char *s = get_string(e, st, f, idx, 0, &len);
		write_chunk(b, s, len);
		return -1;
	}
	default:
		encode_struct_chunk(e, st, f, idx, 0);
		return -1;
	}
}

/* Encodes a struct of type st: its fields come from the value at idx, or,
 * when idx is 0, from the key (kidx) and value (vidx) of a map entry. */
static void encode_fields(struct encoder *e, const struct sproto_type *st, int idx, int kidx, int vidx) {
	lua_State *L = e->L;
	struct sproto_buf *b = e->b;
	if (e->depth >= SPROTO_MAX_DEPTH)
		luaL_error(L, "The table is too deep");
	e->depth++;
	luaL_checkstack(L, 8, "sproto encode");
	size_t start = b->len;
	size_t reserved = 2 + 4 * (size_t)st->n; /* count + (skip + record) per field */
	sproto_buf_need(b, reserved);
	b->len += reserved;
	size_t data = b->len;
	int nrec = 0;
	int last = -1;
	for (int k = 0; k < st->n; k++) {
		const struct sproto_field *f = &st->f[k];
		if (idx != 0) {
			if (lua_getfield(L, idx, f->name) == LUA_TNIL) {
				lua_pop(L, 1);
				continue;
			}
		} else {
			lua_pushvalue(L, k == 0 ? kidx : vidx); /* map element: 2 fields */
		}
		int v = encode_value(e, st, f, lua_gettop(L));
		lua_pop(L, 1);
		uint8_t *rec = b->ptr + start + 2 + 2 * nrec;
		int gap = f->tag - last - 1;
		if (gap > 0) {
			put_u16(rec, (unsigned)(2 * gap - 1));
			rec += 2;
			nrec++;
		}
		put_u16(rec, v < 0 ? 0 : (unsigned)(v + 1) * 2);
		nrec++;
		last = f->tag;
	}
	put_u16(b->ptr + start, (unsigned)nrec);
	size_t used = 2 + 2 * (size_t)nrec;
	if (used < reserved) {
		memmove(b->ptr + start + used, b->ptr + data, b->len - data);
		b->len -= reserved - used;
	}
	e->depth--;
}

void sproto_encode_struct(struct sproto_buf *b, const struct sproto_type *st, int idx) {
	lua_State *L = b->L;
	idx = lua_absindex(L, idx);
	if (!indexable(L, idx))
		luaL_error(L, "attempt to index a %s value (encoding %s)", luaL_typename(L, idx), st->name);
	struct encoder e = { L, b, 0 };
	encode_fields(&e, st, idx, 0, 0);
	if (b->len > SPROTO_MAX_SIZE)
		luaL_error(L, "object is too large (>%d)", SPROTO_MAX_SIZE);
}
