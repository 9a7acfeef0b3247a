/*
 * lua-sproto.c -- the Lua binding of sproto.core (luaclib/sproto.so,
 * luaopen_sproto_core), spec api-sproto.md §5.4.
 *
 *   newproto(bin) -> sp | nil, why          deleteproto(sp)    dumpproto(sp)
 *   querytype(sp, name) -> st | nothing
 *   protocol(sp, name|tag) -> tag|name, request, response | nothing
 *   encode(st, tbl) -> bytes                decode(st, blob [,sz] [,tbl]) -> tbl, consumed
 *   pack(blob [,sz]) -> bytes               unpack(blob [,sz]) -> bytes
 *   default(st) -> tbl
 *   saveproto(sp [,index]), loadproto([index]) -> sp     (sprotoloader's slots)
 * and two RPC helpers for lualib/sproto.lua's host (not in upstream):
 *   packmessage(hst, header, st, body) -> pack(encode(hst, header) .. encode(st, body))
 *   unpackheader(hst, header, blob [,sz]) -> header, bodyptr, bodysz
 * which spare the host the intermediate strings of upstream's Lua code.
 * The decoders share one cache of field names (lua-sproto-names.c).
 *
 * Handles: a schema (sp) and a type (st) are light userdata pointers into
 * C memory; a NULL type handle means "none" (a `response nil` protocol).
 * A blob is a string, or a pointer (light or full userdata) and a size.
 *
 * Slots: SPROTO_SLOTS process-wide schema pointers, shared by every Lua
 * state that loaded this library (one copy of the .so per process).  Each
 * slot is an atomic pointer: saving publishes a fully built, immutable
 * schema, so a service on another thread that loads it sees all of it.  A
 * replaced schema is never freed (a service may still use it), as upstream.
 */
#include "lua-sproto.h"

#include <lauxlib.h>
#include <stdatomic.h>

/* A scratch buffer that grew past this while serving one call is dropped
 * afterwards instead of being kept for the next call, so one huge message
 * does not pin megabytes in a service for good. */
#define SCRATCH_KEEP_MAX (64 * 1024)

static _Atomic(struct sproto *) slots[SPROTO_SLOTS];

/* ---- argument helpers ---------------------------------------------------------- */

static struct sproto *check_proto(lua_State *L, int idx) {
	struct sproto *s = lua_touserdata(L, idx);
	if (!lua_islightuserdata(L, idx) || s == NULL)
		luaL_argerror(L, idx, "Need a sproto object");
	return s;
}

/* A type handle; NULL for nil or the NULL handle. */
static const struct sproto_type *opt_type(lua_State *L, int idx) {
	int t = lua_type(L, idx);
	if (t == LUA_TNIL || t == LUA_TNONE)
		return NULL;
	if (t != LUA_TLIGHTUSERDATA)
		luaL_argerror(L, idx, "Need a sproto_type object");
	return lua_touserdata(L, idx);
}

/* A blob at idx: a string, or a pointer followed by its size.  Returns the
 * index after the blob's arguments. */
static int get_blob(lua_State *L, int idx, const uint8_t **p, size_t *sz) {
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		*p = (const uint8_t *)lua_tolstring(L, idx, sz);
		return idx + 1;
	case LUA_TLIGHTUSERDATA:
	case LUA_TUSERDATA: {
		lua_Integer n = luaL_checkinteger(L, idx + 1);
		luaL_argcheck(L, n >= 0, idx + 1, "negative size");
		*p = lua_touserdata(L, idx);
		*sz = (size_t)n;
		luaL_argcheck(L, *p != NULL || n == 0, idx, "NULL pointer");
		return idx + 2;
	}
	default:
		luaL_argerror(L, idx, "Need a string or userdata");
		return idx;
	}
}

/* Takes the scratch box of upvalue `up` out (a nested call through a
 * metamethod then gets a box of its own); returns its stack index. */
static int take_box(lua_State *L, int up) {
	int uv = lua_upvalueindex(up);
	if (lua_type(L, uv) == LUA_TUSERDATA) {
		lua_pushvalue(L, uv);
		lua_pushnil(L);
		lua_replace(L, uv);
	} else {
		sproto_box_push(L);
	}
	return lua_gettop(L);
}

static void give_back(lua_State *L, int up, struct sproto_buf *b, int idx) {
	if (b->cap <= SCRATCH_KEEP_MAX) {
		lua_pushvalue(L, idx);
		lua_replace(L, lua_upvalueindex(up));
	}
}

/* ---- schema --------------------------------------------------------------------- */

static int lnewproto(lua_State *L) {
	size_t sz;
	const char *bin = luaL_checklstring(L, 1, &sz);
	const char *why = NULL;
	struct sproto *s = sproto_schema_load(bin, sz, &why);
	if (s == NULL) {
		lua_pushnil(L);
		lua_pushfstring(L, "invalid binary schema (%s)", why);
		return 2;
	}
	lua_pushlightuserdata(L, s);
	return 1;
}

static int ldeleteproto(lua_State *L) {
	sproto_schema_free(check_proto(L, 1));
	return 0;
}

static int ldumpproto(lua_State *L) {
	sproto_schema_dump(check_proto(L, 1), stdout);
	return 0;
}

static int lquerytype(lua_State *L) {
	struct sproto *s = check_proto(L, 1);
	struct sproto_type *t = sproto_schema_type(s, luaL_checkstring(L, 2));
	if (t == NULL)
		return 0;
	lua_pushlightuserdata(L, t);
	return 1;
}

static int lprotocol(lua_State *L) {
	struct sproto *s = check_proto(L, 1);
	const struct sproto_protocol *p = NULL;
	switch (lua_type(L, 2)) {
	case LUA_TNUMBER: {
		int isint;
		lua_Integer tag = lua_tointegerx(L, 2, &isint);
		if (isint && (p = sproto_schema_protocol_bytag(s, tag)) != NULL)
			lua_pushstring(L, p->name);
		break;
	}
	case LUA_TSTRING:
		if ((p = sproto_schema_protocol_byname(s, lua_tostring(L, 2))) != NULL)
			lua_pushinteger(L, p->tag);
		break;
	default:
		return luaL_argerror(L, 2, "Should be number or string");
	}
	if (p == NULL)
		return 0;
	if (p->request)
		lua_pushlightuserdata(L, p->request);
	else
		lua_pushnil(L);
	if (p->response)
		lua_pushlightuserdata(L, p->response);
	else if (p->confirm)
		lua_pushlightuserdata(L, NULL);
	else
		lua_pushnil(L);
	return 3;
}

/* ---- encode / decode -------------------------------------------------------------- */

static int lencode(lua_State *L) {
	const struct sproto_type *st = opt_type(L, 1);
	if (st == NULL) {
		luaL_checktype(L, 2, LUA_TNIL);
		lua_pushliteral(L, "");
		return 1;
	}
	lua_settop(L, 2);
	int box = take_box(L, 1);
	struct sproto_buf b;
	sproto_buf_init(&b, L, box);
	sproto_encode_struct(&b, st, 2);
	lua_pushlstring(L, (const char *)b.ptr, b.len);
	give_back(L, 1, &b, box);
	return 1;
}

static int ldecode(lua_State *L) {
	const struct sproto_type *st = opt_type(L, 1);
	if (st == NULL)
		return 0;
	const uint8_t *p;
	size_t sz;
	int next = get_blob(L, 2, &p, &sz);
	int top = lua_gettop(L);
	bool given = top >= next && lua_type(L, top) == LUA_TTABLE;
	if (given)
		lua_pushvalue(L, top);
	else
		lua_createtable(L, 0, st->n);
	size_t used = sproto_decode_struct(L, st, p, sz, -1, lua_upvalueindex(1), !given);
	lua_pushinteger(L, (lua_Integer)used);
	return 2;
}

/* default(st): the NULL handle (a `response nil`) has no fields: nil. */
static int ldefault(lua_State *L) {
	if (lua_islightuserdata(L, 1) && lua_touserdata(L, 1) == NULL)
		return 0;
	const struct sproto_type *st = opt_type(L, 1);
	if (st == NULL)
		return luaL_argerror(L, 1, "Need a sproto_type object");
	sproto_push_default(L, st);
	return 1;
}

/* ---- pack / unpack -------------------------------------------------------------- */

/* Pushes pack(src) using the scratch box of upvalue `up`. */
static void push_packed(lua_State *L, int up, const uint8_t *src, size_t n) {
	int box = take_box(L, up);
	struct sproto_buf b;
	sproto_buf_init(&b, L, box);
	sproto_buf_need(&b, sproto_pack_bound(n));
	size_t len = sproto_pack(src, n, b.ptr);
	lua_pushlstring(L, (const char *)b.ptr, len);
	give_back(L, up, &b, box);
}

static int lpack(lua_State *L) {
	const uint8_t *p;
	size_t sz;
	get_blob(L, 1, &p, &sz);
	if (sz > SPROTO_MAX_SIZE)
		return luaL_error(L, "object is too large (>%d)", SPROTO_MAX_SIZE);
	push_packed(L, 1, p, sz);
	return 1;
}

/* Unpacks into the buffer b (whose box is on the stack); raises on a bad
 * or oversized stream. */
static void unpack_into(lua_State *L, struct sproto_buf *b, const uint8_t *p, size_t sz) {
	long long n = sproto_unpack_size(p, sz);
	if (n < 0)
		luaL_error(L, "Invalid unpack stream");
	if (n > SPROTO_MAX_SIZE + 8)
		luaL_error(L, "Invalid unpack stream (unpacks to %I bytes, over %d)", (lua_Integer)n, SPROTO_MAX_SIZE);
	sproto_buf_need(b, (size_t)n);
	sproto_unpack(p, sz, b->ptr);
	b->len = (size_t)n;
}

static int lunpack(lua_State *L) {
	const uint8_t *p;
	size_t sz;
	get_blob(L, 1, &p, &sz);
	int box = take_box(L, 1);
	struct sproto_buf b;
	sproto_buf_init(&b, L, box);
	unpack_into(L, &b, p, sz);
	lua_pushlstring(L, (const char *)b.ptr, b.len);
	give_back(L, 1, &b, box);
	return 1;
}

/* ---- RPC helpers ----------------------------------------------------------------- */

/* packmessage(hst, header, st, body): the packed header+body of one RPC
 * message.  st nil: header only (body ignored); st the NULL handle: body
 * must be nil.  Upvalues: encode scratch, pack scratch. */
static int lpackmessage(lua_State *L) {
	const struct sproto_type *hst = opt_type(L, 1);
	if (hst == NULL)
		return luaL_argerror(L, 1, "Need a sproto_type object");
	int has_st = !lua_isnoneornil(L, 3);
	const struct sproto_type *st = opt_type(L, 3);
	if (has_st && st == NULL)
		luaL_checktype(L, 4, LUA_TNIL);
	lua_settop(L, 4);
	int box = take_box(L, 1);
	struct sproto_buf b;
	sproto_buf_init(&b, L, box);
	sproto_encode_struct(&b, hst, 2);
	if (st)
		sproto_encode_struct(&b, st, 4);
	if (b.len > SPROTO_MAX_SIZE)
		return luaL_error(L, "object is too large (>%d)", SPROTO_MAX_SIZE);
	push_packed(L, 2, b.ptr, b.len);
	give_back(L, 1, &b, box);
	return 1;
}

/* unpackheader(hst, header, blob [,sz]) -> header, bodyptr, bodysz.  The
 * body pointer points into this function's scratch buffer: valid until the
 * next unpackheader call in this Lua state (sproto.lua decodes it at once).
 * Upvalues: unpack scratch, names cache. */
static int lunpackheader(lua_State *L) {
	const struct sproto_type *hst = opt_type(L, 1);
	if (hst == NULL)
		return luaL_argerror(L, 1, "Need a sproto_type object");
	luaL_checktype(L, 2, LUA_TTABLE);
	const uint8_t *p;
	size_t sz;
	get_blob(L, 3, &p, &sz);
	struct sproto_buf b;
	sproto_buf_init(&b, L, lua_upvalueindex(1));
	unpack_into(L, &b, p, sz);
	size_t used = sproto_decode_struct(L, hst, b.ptr, b.len, 2, lua_upvalueindex(2), false);
	lua_pushvalue(L, 2);
	lua_pushlightuserdata(L, b.ptr + used);
	lua_pushinteger(L, (lua_Integer)(b.len - used));
	return 3;
}

/* ---- global slots ----------------------------------------------------------------- */

static int check_slot(lua_State *L, int idx) {
	lua_Integer i = luaL_optinteger(L, idx, 0);
	if (i < 0 || i >= SPROTO_SLOTS)
		luaL_error(L, "Invalid global slot index %d", (int)i);
	return (int)i;
}

static int lsaveproto(lua_State *L) {
	struct sproto *s = check_proto(L, 1);
	int i = check_slot(L, 2);
	atomic_store_explicit(&slots[i], s, memory_order_release);
	return 0;
}

static int lloadproto(lua_State *L) {
	int i = check_slot(L, 1);
	struct sproto *s = atomic_load_explicit(&slots[i], memory_order_acquire);
	if (s == NULL)
		return luaL_error(L, "nil sproto at index %d", i);
	lua_pushlightuserdata(L, s);
	return 1;
}

/* ---- module ----------------------------------------------------------------------- */

/* Registers f as field `name` of the table below the names cache (at the
 * top), with `nbox` fresh scratch boxes and then, if `names`, the names
 * cache as upvalues. */
static void set_closure(lua_State *L, const char *name, lua_CFunction f, int nbox, bool names) {
	for (int i = 0; i < nbox; i++)
		sproto_box_push(L);
	if (names)
		lua_pushvalue(L, -1 - nbox);
	lua_pushcclosure(L, f, nbox + names);
	lua_setfield(L, -3, name);
}

int luaopen_sproto_core(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
		{ "newproto", lnewproto },
		{ "deleteproto", ldeleteproto },
		{ "dumpproto", ldumpproto },
		{ "querytype", lquerytype },
		{ "protocol", lprotocol },
		{ "default", ldefault },
		{ "saveproto", lsaveproto },
		{ "loadproto", lloadproto },
		{ NULL, NULL },
	};
	luaL_newlib(L, l);
	sproto_names_new(L); /* shared by the decoders */
	set_closure(L, "encode", lencode, 1, false);
	set_closure(L, "decode", ldecode, 0, true);
	set_closure(L, "pack", lpack, 1, false);
	set_closure(L, "unpack", lunpack, 1, false);
	set_closure(L, "packmessage", lpackmessage, 2, false);
	set_closure(L, "unpackheader", lunpackheader, 1, true);
	lua_pop(L, 1);
	return 1;
}
