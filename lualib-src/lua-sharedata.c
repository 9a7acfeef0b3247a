/*
 * lua-sharedata.c -- `skynet.sharedata.core`: the C half of skynet.sharedata.
 * sharedatad builds one immutable document (sharetree.c) per version; every
 * reader reads it in place through the proxies of
 * lualib/skynet/sharedata/corelib.lua, which call the accessors below with
 * raw table pointers (light userdata) of a document its box keeps alive.
 *
 * Service side (a document pointer passed in a message carries one reference):
 *   build(table) -> doc     retain(doc)   release(doc)   dirty(doc)
 *   stat(doc) -> bytes, ntables
 * Reader side:
 *   box(doc) -> box         adopts the reference (released by __gc)
 *   root(box) -> node       isdirty(box) -> boolean
 *   index(node, key) -> value | node      (a sub-table comes back as its node)
 *   len(node) -> n          next(node, key) -> key, value | nil
 *   copy(node) -> table     a plain deep copy (shared sub-tables stay shared)
 */
#include "sharetree.h"

#include <lauxlib.h>
#include <lua.h>

#define BOX_META "skynet.sharedata.box"

struct box {
	struct stree_doc *doc;
};

static const struct stree_table *checknode(lua_State *L, int idx) {
	luaL_checktype(L, idx, LUA_TLIGHTUSERDATA);
	return lua_touserdata(L, idx);
}

static int l_build(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushlightuserdata(L, stree_build(L, 1, STREE_MODE_SHAREDATA));
	return 1;
}

static int l_dirty(lua_State *L) {
	stree_setdirty(stree_checkdoc(L, 1));
	return 0;
}

static int box_gc(lua_State *L) {
	struct box *b = luaL_checkudata(L, 1, BOX_META);
	if (b->doc) {
		stree_release(b->doc);
		b->doc = NULL;
	}
	return 0;
}

static int l_box(lua_State *L) {
	struct stree_doc *doc = stree_checkdoc(L, 1);
	struct box *b = lua_newuserdatauv(L, sizeof(*b), 0);
	b->doc = doc;
	luaL_setmetatable(L, BOX_META);
	return 1;
}

static struct box *checkbox(lua_State *L, int idx) {
	struct box *b = luaL_checkudata(L, idx, BOX_META);
	if (b->doc == NULL)
		luaL_argerror(L, idx, "released version");
	return b;
}

static int l_root(lua_State *L) {
	lua_pushlightuserdata(L, (void *)stree_root(checkbox(L, 1)->doc));
	return 1;
}

static int l_isdirty(lua_State *L) {
	lua_pushboolean(L, stree_isdirty(checkbox(L, 1)->doc));
	return 1;
}

static void push(lua_State *L, const struct stree_value *v) {
	if (v == NULL)
		lua_pushnil(L);
	else if (!stree_push_scalar(L, v)) /* a table (sharedata has no functions) */
		lua_pushlightuserdata(L, (void *)v->u.t);
}

/* Keys are strings and integers; a float key names itself in the error
 * (upstream's text), any other type is a bad argument. */
static const struct stree_value *lookup(lua_State *L, const struct stree_table *t, int kidx) {
	switch (lua_type(L, kidx)) {
	case LUA_TNIL:
		return NULL;
	case LUA_TNUMBER:
		if (!lua_isinteger(L, kidx)) {
			int isint;
			lua_tointegerx(L, kidx, &isint);
			if (!isint)
				luaL_error(L, "Invalid key %f", lua_tonumber(L, kidx));
		}
		/* fall through */
	case LUA_TSTRING:
		return stree_lookup(L, t, kidx, NULL);
	default:
		luaL_error(L, "bad argument #2 to 'index' (string expected, got %s)", luaL_typename(L, kidx));
		return NULL;
	}
}

static int l_index(lua_State *L) {
	const struct stree_table *t = checknode(L, 1);
	push(L, lookup(L, t, 2));
	return 1;
}

static int l_len(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)checknode(L, 1)->sizearray);
	return 1;
}

static int l_next(lua_State *L) {
	const struct stree_table *t = checknode(L, 1);
	uint32_t pos = 0;
	if (!lua_isnoneornil(L, 2)) {
		const struct stree_value *cur = lookup(L, t, 2);
		if (cur == NULL)
			return luaL_error(L, "invalid key to 'next'");
		pos = stree_after(t, cur);
	}
	struct stree_value k;
	const struct stree_value *v;
	if (!stree_next(t, &pos, &k, &v)) {
		lua_pushnil(L);
		return 1;
	}
	push(L, &k);
	push(L, v);
	return 2;
}

/* copy of t at the top; seen (absolute) maps node -> copy */
static void copy_table(lua_State *L, const struct stree_table *t, int seen) {
	if (lua_rawgetp(L, seen, t) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	luaL_checkstack(L, 6, "sharedata.deepcopy: tables nested too deep");
	lua_createtable(L, (int)t->sizearray, (int)t->sizehash);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, seen, t);
	uint32_t pos = 0;
	struct stree_value k;
	const struct stree_value *v;
	while (stree_next(t, &pos, &k, &v)) {
		push(L, &k);
		if (v->type == STREE_TABLE)
			copy_table(L, v->u.t, seen);
		else
			push(L, v);
		lua_rawset(L, -3);
	}
}

static int l_copy(lua_State *L) {
	const struct stree_table *t = checknode(L, 1);
	lua_newtable(L);
	copy_table(L, t, lua_gettop(L));
	return 1;
}

int luaopen_skynet_sharedata_core(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {{"build", l_build}, {"retain", stree_l_retain},   {"release", stree_l_release}, {"dirty", l_dirty},
	                {"stat", stree_l_stat},   {"box", l_box},         {"root", l_root},       {"isdirty", l_isdirty},
	                {"index", l_index}, {"len", l_len},         {"next", l_next},       {"copy", l_copy},
	                {NULL, NULL}};
	luaL_newlib(L, l);
	if (luaL_newmetatable(L, BOX_META)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	return 1;
}
