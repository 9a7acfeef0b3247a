/*
 * lua-sproto-decode.c -- sproto wire bytes -> Lua tables (spec
 * api-sproto.md §3.3), and a type's default table (§5.1 sp:default).
 *
 * Trusts nothing: every record and chunk length is checked against the
 * bytes we were given before it is read (sproto_reader in lua-sproto.h);
 * element counts come from chunk sizes that are already inside the input,
 * so a table is never sized from a number the sender chose alone; struct
 * nesting is capped at SPROTO_MAX_DEPTH.  Any violation raises
 * "decode error: <why>" (upstream says just "decode error").
 *
 * Fields the schema does not know are skipped (their chunks consumed), so
 * an older reader accepts a newer writer's messages.  The top level may be
 * followed by trailing bytes (unpack pads to 8, and an RPC message is a
 * header followed by a body); a nested struct must fill its chunk exactly.
 */
#include "lua-sproto.h"

#include <lauxlib.h>
#include <string.h>

struct decoder {
	lua_State *L;
	int depth;
	int names;  /* stack index of the names cache */
};

#define derror(L, ...) luaL_error((L), "decode error: " __VA_ARGS__)

static size_t decode_struct(struct decoder *d, const struct sproto_type *st, const uint8_t *p, size_t sz, int tidx, bool raw, int nt);

static lua_Integer read_int(const uint8_t *p, int width) {
	if (width == 4)
		return (int32_t)sproto_u32(p);
	return (lua_Integer)((uint64_t)sproto_u32(p) | (uint64_t)sproto_u32(p + 4) << 32);
}

static void push_integer(lua_State *L, const struct sproto_field *f, lua_Integer v) {
	if (f->decimal > 0)
		lua_pushnumber(L, (lua_Number)((double)v / f->scale));
	else
		lua_pushinteger(L, v);
}

static double read_double(const uint8_t *p) {
	uint64_t bits = (uint64_t)sproto_u32(p) | (uint64_t)sproto_u32(p + 4) << 32;
	double x;
	memcpy(&x, &bits, sizeof(x));
	return x;
}

/* A nested struct: a fresh table filled from exactly [p, p+sz).  nt: the
 * stack index of st's names, or 0. */
static void push_struct(struct decoder *d, const struct sproto_type *st, const struct sproto_field *f, const uint8_t *p, size_t sz, int nt) {
	lua_State *L = d->L;
	lua_createtable(L, 0, st->n);
	if (decode_struct(d, st, p, sz, lua_gettop(L), true, nt) != sz)
		derror(L, "%s in field %s does not fill its chunk", st->name, f->name);
}

/* Elements of a struct/string array: u32 length + bytes each, exactly
 * filling the chunk.  Returns the next element or NULL at the end. */
static const uint8_t *next_item(lua_State *L, const struct sproto_field *f, const uint8_t **p, const uint8_t *end, size_t *len) {
	if (*p == end)
		return NULL;
	if (end - *p < 4)
		derror(L, "array %s: truncated element length", f->name);
	uint32_t n = sproto_u32(*p);
	if ((size_t)(end - *p) - 4 < n)
		derror(L, "array %s: element runs past the chunk", f->name);
	const uint8_t *item = *p + 4;
	*p = item + n;
	*len = n;
	return item;
}

/* How many whole elements a struct/string array chunk holds (to size the
 * table; next_item still checks each one). */
static int count_items(const uint8_t *p, const uint8_t *end) {
	int n = 0;
	while (end - p >= 4 && n < INT32_MAX) {
		uint32_t len = sproto_u32(p);
		if ((size_t)(end - p) - 4 < len)
			break;
		p += 4 + (size_t)len;
		n++;
	}
	return n;
}

static void decode_keyed_item(struct decoder *d, const struct sproto_field *f, int result) {
	lua_State *L = d->L;
	int elem = lua_gettop(L);
	if (!f->map) {
		if (f->keyfield == NULL || lua_getfield(L, elem, f->keyfield->name) == LUA_TNIL)
			luaL_error(L, "Can't find main index (tag=%d) in [%s]", f->key, f->name);
		lua_pushvalue(L, elem);
		lua_rawset(L, result);
		lua_pop(L, 1);
		return;
	}
	if (f->keyfield == NULL)
		luaL_error(L, "Invalid map definition: %s, must only have two fields", f->name);
	if (lua_getfield(L, elem, f->keyfield->name) == LUA_TNIL)
		luaL_error(L, "Can't find key field in [%s]", f->name);
	if (lua_getfield(L, elem, f->valuefield->name) == LUA_TNIL)
		luaL_error(L, "Can't find value field in [%s]", f->name);
	lua_rawset(L, result);
	lua_pop(L, 1);
}

static void push_array(struct decoder *d, const struct sproto_field *f, const uint8_t *p, size_t len) {
	lua_State *L = d->L;
	const uint8_t *end = p + len;
	switch (f->kind) {
	case SPROTO_TINTEGER:
	case SPROTO_TDOUBLE: {
		if (len <= 1 && f->kind == SPROTO_TINTEGER) {
			lua_createtable(L, 0, 0); /* empty; a lone width byte is accepted too */
			return;
		}
		if (len == 0) {
			lua_createtable(L, 0, 0);
			return;
		}
		int width = p[0];
		if (f->kind == SPROTO_TDOUBLE ? width != 8 : width != 4 && width != 8)
			derror(L, "array %s: bad element width %d", f->name, width);
		if ((len - 1) % (size_t)width != 0)
			derror(L, "array %s: %d bytes is not a whole number of elements", f->name, (int)len - 1);
		size_t n = (len - 1) / (size_t)width;
		lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
		p++;
		for (size_t i = 0; i < n; i++, p += width) {
			if (f->kind == SPROTO_TDOUBLE)
				lua_pushnumber(L, (lua_Number)read_double(p));
			else
				push_integer(L, f, read_int(p, width));
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		return;
	}
	case SPROTO_TBOOLEAN:
		lua_createtable(L, len > INT32_MAX ? 0 : (int)len, 0);
		for (size_t i = 0; i < len; i++) {
			lua_pushboolean(L, p[i] != 0);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		return;
	case SPROTO_TSTRING: {
		lua_createtable(L, count_items(p, end), 0);
		size_t n;
		const uint8_t *item;
		for (lua_Integer i = 1; (item = next_item(L, f, &p, end, &n)) != NULL; i++) {
			lua_pushlstring(L, (const char *)item, n);
			lua_rawseti(L, -2, i);
		}
		return;
	}
	default: {
		int n = count_items(p, end);
		if (f->key >= 0)
			lua_createtable(L, 0, n);
		else
			lua_createtable(L, n, 0);
		int result = lua_gettop(L);
		int nt = sproto_names_push(L, d->names, f->st); /* once for all elements */
		size_t len;
		const uint8_t *item;
		for (lua_Integer i = 1; (item = next_item(L, f, &p, end, &len)) != NULL; i++) {
			push_struct(d, f->st, f, item, len, nt);
			if (f->key >= 0)
				decode_keyed_item(d, f, result);
			else
				lua_rawseti(L, result, i);
		}
		lua_pop(L, 1);
		return;
	}
	}
}

/* Pushes the value of one record of field f. */
static void push_value(struct decoder *d, const struct sproto_type *st, const struct sproto_field *f, const struct sproto_record *rec) {
	lua_State *L = d->L;
	if (rec->value >= 0) {
		/* only integers and booleans travel inline */
		if (f->array || (f->kind != SPROTO_TINTEGER && f->kind != SPROTO_TBOOLEAN))
			derror(L, "%s.%s is not an inline value", st->name, f->name);
		if (f->kind == SPROTO_TBOOLEAN)
			lua_pushboolean(L, rec->value != 0);
		else
			push_integer(L, f, rec->value);
		return;
	}
	if (f->array) {
		push_array(d, f, rec->chunk, rec->len);
		return;
	}
	switch (f->kind) {
	case SPROTO_TINTEGER:
		if (rec->len != 4 && rec->len != 8)
			derror(L, "%s.%s: integer of %d bytes", st->name, f->name, (int)rec->len);
		push_integer(L, f, read_int(rec->chunk, (int)rec->len));
		return;
	case SPROTO_TBOOLEAN:
		derror(L, "%s.%s: boolean in a data chunk", st->name, f->name);
		return;
	case SPROTO_TDOUBLE:
		if (rec->len != 8)
			derror(L, "%s.%s: double of %d bytes", st->name, f->name, (int)rec->len);
		lua_pushnumber(L, (lua_Number)read_double(rec->chunk));
		return;
	case SPROTO_TSTRING:
		lua_pushlstring(L, (const char *)rec->chunk, rec->len);
		return;
	default:
		push_struct(d, f->st, f, rec->chunk, rec->len, 0);
		return;
	}
}

static size_t decode_struct(struct decoder *d, const struct sproto_type *st, const uint8_t *p, size_t sz, int tidx, bool raw, int nt) {
	lua_State *L = d->L;
	if (d->depth >= SPROTO_MAX_DEPTH)
		luaL_error(L, "The table is too deep");
	d->depth++;
	luaL_checkstack(L, 8, "sproto decode");
	struct sproto_reader r;
	struct sproto_record rec;
	if (!sproto_reader_init(&r, p, sz)) {
		derror(L, "%s: truncated header", st->name);
		return 0;
	}
	bool own = nt == 0;
	if (own)
		nt = sproto_names_push(L, d->names, st);
	int fi = 0, rc;
	while ((rc = sproto_reader_next(&r, &rec)) > 0) {
		while (fi < st->n && st->f[fi].tag < rec.tag)
			fi++;
		if (fi == st->n || st->f[fi].tag != rec.tag)
			continue; /* unknown field: its chunk is already skipped */
		const struct sproto_field *f = &st->f[fi];
		lua_rawgeti(L, nt, fi + 1);
		push_value(d, st, f, &rec);
		if (raw)
			lua_rawset(L, tidx);
		else
			lua_settable(L, tidx);
	}
	if (rc < 0)
		derror(L, "%s: data runs past the end", st->name);
	if (own)
		lua_pop(L, 1);
	d->depth--;
	return (size_t)(r.data - p);
}

size_t sproto_decode_struct(lua_State *L, const struct sproto_type *st, const uint8_t *p, size_t sz, int tidx, int names, bool raw) {
	struct decoder d = { L, 0, lua_absindex(L, names) };
	return decode_struct(&d, st, p, sz, lua_absindex(L, tidx), raw, 0);
}

/* ---- defaults ------------------------------------------------------------------ */

static void push_scalar_default(lua_State *L, const struct sproto_field *f) {
	switch (f->kind) {
	case SPROTO_TINTEGER:
		if (f->decimal > 0)
			lua_pushnumber(L, 0.0);
		else
			lua_pushinteger(L, 0);
		break;
	case SPROTO_TBOOLEAN:
		lua_pushboolean(L, 0);
		break;
	case SPROTO_TDOUBLE:
		lua_pushnumber(L, 0.0);
		break;
	case SPROTO_TSTRING:
		lua_pushliteral(L, "");
		break;
	default:
		lua_createtable(L, 0, 1);
		lua_pushstring(L, f->st->name);
		lua_setfield(L, -2, "__type");
		break;
	}
}

void sproto_push_default(lua_State *L, const struct sproto_type *st) {
	luaL_checkstack(L, 4, "sproto default");
	lua_createtable(L, 0, st->n);
	for (int i = 0; i < st->n; i++) {
		const struct sproto_field *f = &st->f[i];
		if (f->array) {
			lua_createtable(L, 0, 1);
			if (f->kind == SPROTO_TSTRUCT)
				lua_pushstring(L, f->st->name);
			else
				push_scalar_default(L, f);
			lua_setfield(L, -2, "__array");
		} else {
			push_scalar_default(L, f);
		}
		lua_setfield(L, -2, f->name);
	}
}
