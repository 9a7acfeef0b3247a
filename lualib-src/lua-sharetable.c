/*
 * lua-sharetable.c -- `skynet.sharetable.core`: builds shared documents
 * (sharetree.c) for the sharetable service, and gives reader services
 * read-only proxy tables over them.
 *
 * Service side (the documents are passed around as light userdata, each
 * pointer carrying one reference to whoever receives it):
 *   loadfile(path, ...), loadstring(source, ...) -> doc   run the chunk in a
 *        fresh Lua state (standard libraries only), share what it returns
 *   build(table) -> doc     share a table of the calling state
 *   retain(doc), release(doc), stat(doc) -> bytes, ntables
 * Reader side:
 *   box(doc) -> box         adopts the reference; the box's __gc drops it
 *   root(box) -> proxy      the root table of the version
 *   remap(oldbox, newbox) -> n    re-points this state's proxies of the old
 *        version to the tables at the same key paths in the new one (they
 *        become the new version's proxies of those tables); a proxy whose
 *        path leads to no table any more raises on every access
 *
 * Why proxies: Debian's Lua cannot reference another state's tables (the
 * patched Lua of upstream can), so every reader sees the one C copy through
 * small proxy tables made on demand: { [&PROXY_NODE] = stree_table } with a
 * metatable per (reader, version) that holds the version's box and a weak
 * cache node -> proxy, so one node is one proxy (identity, cycles) for as
 * long as anyone holds it.  A reader pays for the proxies it keeps, not for
 * the size of the data.
 */
#include "sharetree.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>

#define BOX_META "skynet.sharetable.box"
#define DEAD_META "skynet.sharetable.dead"

/* Light userdata keys: their addresses are unique, so no user key collides. */
static const char PROXY_NODE = 0; /* in a proxy: the stree_table, or false once removed */
static const char MT_BOX = 0;     /* in a version metatable: its box */
static const char MT_CACHE = 0;   /* in a version metatable: node/function dump -> Lua value */

struct box {
	struct stree_doc *doc;
};

static struct stree_doc *checkdoc(lua_State *L, int idx) {
	luaL_checktype(L, idx, LUA_TLIGHTUSERDATA);
	struct stree_doc *doc = lua_touserdata(L, idx);
	if (doc == NULL)
		luaL_argerror(L, idx, "NULL document");
	return doc;
}

/* ---- building (in the sharetable service) ---------------------------------------- */

/* Runs in the fresh state M: upvalue 1 = 1 for a file, 0 for source text;
 * arguments: the file name or source, then the chunk's arguments. */
static int matrix_run(lua_State *M) {
	int isfile = (int)lua_tointeger(M, lua_upvalueindex(1));
	size_t len;
	const char *src = lua_tolstring(M, 1, &len);
	int r = isfile ? luaL_loadfilex(M, src, NULL) : luaL_loadbufferx(M, src, len, src, NULL);
	if (r != LUA_OK)
		return lua_error(M);
	lua_replace(M, 1);
	lua_call(M, lua_gettop(M) - 1, 1);
	/* no full collection (upstream compacts its kept state): M is closed
	 * as soon as the data is in C */
	struct stree_doc *doc = stree_build(M, 1, STREE_MODE_SHARETABLE);
	lua_pushlightuserdata(M, doc);
	return 1;
}

static int matrix_load(lua_State *L, int isfile) {
	size_t len;
	const char *src = luaL_checklstring(L, 1, &len);
	int top = lua_gettop(L);
	for (int i = 2; i <= top; i++) {
		switch (lua_type(L, i)) {
		case LUA_TBOOLEAN:
		case LUA_TNUMBER:
		case LUA_TLIGHTUSERDATA:
			break;
		case LUA_TFUNCTION:
			if (!lua_iscfunction(L, i) || lua_getupvalue(L, i, 1) != NULL)
				return luaL_error(L, "bad argument #%d to 'matrix' (Only support light C function)", i - 1);
			break;
		default:
			return luaL_error(L, "bad argument #%d to 'matrix' (Type invalid)", i - 1);
		}
	}
	lua_State *M = luaL_newstate();
	if (M == NULL)
		return luaL_error(L, "sharetable: cannot create a Lua state");
	luaL_openlibs(M);
	lua_pushinteger(M, isfile);
	lua_pushcclosure(M, matrix_run, 1);
	lua_pushlstring(M, src, len);
	for (int i = 2; i <= top; i++) {
		switch (lua_type(L, i)) {
		case LUA_TBOOLEAN:
			lua_pushboolean(M, lua_toboolean(L, i));
			break;
		case LUA_TNUMBER:
			if (lua_isinteger(L, i))
				lua_pushinteger(M, lua_tointeger(L, i));
			else
				lua_pushnumber(M, lua_tonumber(L, i));
			break;
		case LUA_TLIGHTUSERDATA:
			lua_pushlightuserdata(M, lua_touserdata(L, i));
			break;
		default:
			lua_pushcfunction(M, lua_tocfunction(L, i));
			break;
		}
	}
	if (lua_pcall(M, top, 1, 0) != LUA_OK) {
		const char *err = lua_tostring(M, -1);
		lua_pushstring(L, err ? err : "(error object is not a string)");
		lua_close(M);
		return lua_error(L);
	}
	struct stree_doc *doc = lua_touserdata(M, -1);
	lua_close(M); /* the document is C memory: nothing of M is kept */
	lua_pushlightuserdata(L, doc);
	return 1;
}

static int l_loadfile(lua_State *L) { return matrix_load(L, 1); }
static int l_loadstring(lua_State *L) { return matrix_load(L, 0); }

static int l_build(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushlightuserdata(L, stree_build(L, 1, STREE_MODE_SHARETABLE));
	return 1;
}

static int l_retain(lua_State *L) {
	stree_retain(checkdoc(L, 1));
	return 0;
}

static int l_release(lua_State *L) {
	stree_release(checkdoc(L, 1));
	return 0;
}

static int l_stat(lua_State *L) {
	struct stree_doc *doc = checkdoc(L, 1);
	lua_pushinteger(L, (lua_Integer)stree_bytes(doc));
	lua_pushinteger(L, (lua_Integer)stree_ntables(doc));
	return 2;
}

/* ---- proxies (in reader services) ------------------------------------------------- */

static int box_gc(lua_State *L) {
	struct box *b = luaL_checkudata(L, 1, BOX_META);
	if (b->doc) {
		stree_release(b->doc);
		b->doc = NULL;
	}
	return 0;
}

static int l_box(lua_State *L) {
	struct stree_doc *doc = checkdoc(L, 1);
	struct box *b = lua_newuserdatauv(L, sizeof(*b), 1);
	b->doc = doc;
	luaL_setmetatable(L, BOX_META);
	return 1;
}

static const struct stree_table *proxy_node(lua_State *L, int idx) {
	if (lua_rawgetp(L, idx, &PROXY_NODE) != LUA_TLIGHTUSERDATA)
		luaL_error(L, "sharetable: this table is not in the version given by sharetable.update");
	const struct stree_table *t = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return t;
}

/* Pushes the proxy of t; mt (absolute) is the version's metatable. */
static void push_proxy(lua_State *L, int mt, const struct stree_table *t) {
	lua_rawgetp(L, mt, &MT_CACHE);
	if (lua_rawgetp(L, -1, t) == LUA_TTABLE) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	lua_createtable(L, 0, 1);
	lua_pushlightuserdata(L, (void *)t);
	lua_rawsetp(L, -2, &PROXY_NODE);
	lua_pushvalue(L, mt);
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, -3, t);
	lua_remove(L, -2);
}

/* A shared Lua function: loaded once per version and reader (identity). */
static void push_function(lua_State *L, int mt, const struct stree_string *code) {
	lua_rawgetp(L, mt, &MT_CACHE);
	if (lua_rawgetp(L, -1, code) == LUA_TFUNCTION) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	if (luaL_loadbufferx(L, code->data, code->len, "=sharetable", "b") != LUA_OK)
		lua_error(L);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, -3, code);
	lua_remove(L, -2);
}

/* The proxy at 1 has its metatable pushed at top; pushes v. */
static void push_value(lua_State *L, const struct stree_value *v) {
	if (v == NULL) {
		lua_pushnil(L);
	} else if (!stree_push_scalar(L, v)) {
		int mt = lua_gettop(L);
		if (v->type == STREE_TABLE)
			push_proxy(L, mt, v->u.t);
		else
			push_function(L, mt, v->u.s);
	}
}

/* A table key stands for a node only if it is a live proxy. */
static const struct stree_table *key_table(lua_State *L, int kidx) {
	if (lua_type(L, kidx) != LUA_TTABLE)
		return NULL;
	const struct stree_table *t = NULL;
	if (lua_rawgetp(L, kidx, &PROXY_NODE) == LUA_TLIGHTUSERDATA)
		t = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return t;
}

static int proxy_index(lua_State *L) {
	const struct stree_table *t = proxy_node(L, 1);
	const struct stree_value *v = stree_lookup(L, t, 2, key_table(L, 2));
	if (v && v->type != STREE_TABLE && v->type != STREE_FUNCTION)
		return stree_push_scalar(L, v);
	lua_getmetatable(L, 1);
	push_value(L, v);
	return 1;
}

static int proxy_newindex(lua_State *L) {
	return luaL_error(L, "sharetable: attempt to change a shared table (it is read-only)");
}

static int proxy_len(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)proxy_node(L, 1)->sizearray);
	return 1;
}

/* Stateless next(proxy, key): array part 1..n, then the hash slots. */
static int proxy_next(lua_State *L) {
	const struct stree_table *t = proxy_node(L, 1);
	uint32_t pos = 0;
	if (!lua_isnoneornil(L, 2)) {
		const struct stree_value *cur = stree_lookup(L, t, 2, key_table(L, 2));
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
	lua_settop(L, 1);
	lua_getmetatable(L, 1); /* 2 */
	push_value(L, &k);
	lua_settop(L, 3);
	lua_getmetatable(L, 1);
	push_value(L, v);
	lua_remove(L, -2);
	return 2;
}

static int proxy_pairs(lua_State *L) {
	proxy_node(L, 1);
	lua_pushcfunction(L, proxy_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static void set_proxy_methods(lua_State *L) {
	luaL_Reg m[] = {{"__index", proxy_index},
	                {"__newindex", proxy_newindex},
	                {"__len", proxy_len},
	                {"__pairs", proxy_pairs},
	                {NULL, NULL}};
	luaL_setfuncs(L, m, 0);
	lua_pushboolean(L, 0); /* getmetatable(proxy) is false; setmetatable raises */
	lua_setfield(L, -2, "__metatable");
}

/* The metatable of the box at idx (made on first use, kept as its user value). */
static int version_meta(lua_State *L, int idx) {
	idx = lua_absindex(L, idx);
	if (lua_getiuservalue(L, idx, 1) == LUA_TTABLE)
		return lua_gettop(L);
	lua_pop(L, 1);
	lua_createtable(L, 0, 7);
	set_proxy_methods(L);
	lua_pushvalue(L, idx);
	lua_rawsetp(L, -2, &MT_BOX);
	lua_newtable(L); /* the cache, weak values */
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "v");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_rawsetp(L, -2, &MT_CACHE);
	lua_pushvalue(L, -1);
	lua_setiuservalue(L, idx, 1);
	return lua_gettop(L);
}

static struct box *checkbox(lua_State *L, int idx) {
	struct box *b = luaL_checkudata(L, idx, BOX_META);
	if (b->doc == NULL)
		luaL_argerror(L, idx, "released version");
	return b;
}

static int l_root(lua_State *L) {
	struct box *b = checkbox(L, 1);
	int mt = version_meta(L, 1);
	push_proxy(L, mt, stree_root(b->doc));
	return 1;
}

/* A removed proxy: every access raises; it no longer holds its version. */
static void push_dead_meta(lua_State *L) {
	if (luaL_newmetatable(L, DEAD_META))
		set_proxy_methods(L);
}

static int l_remap(lua_State *L) {
	struct box *ob = checkbox(L, 1);
	struct box *nb = checkbox(L, 2);
	if (ob->doc == nb->doc)
		return 0;
	int omt = version_meta(L, 1);
	int nmt = version_meta(L, 2);
	lua_rawgetp(L, omt, &MT_CACHE);
	int ocache = lua_gettop(L);
	lua_rawgetp(L, nmt, &MT_CACHE);
	int ncache = lua_gettop(L);
	push_dead_meta(L);
	int dead = lua_gettop(L);
	uint32_t n = stree_ntables(ob->doc);
	const struct stree_table **map = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*map), 0);
	stree_remap(ob->doc, nb->doc, map);
	lua_Integer moved = 0;
	lua_pushnil(L);
	while (lua_next(L, ocache)) {
		if (lua_type(L, -1) == LUA_TTABLE) {
			const struct stree_table *ot = lua_touserdata(L, -2);
			const struct stree_table *nt = map[ot->index];
			int proxy = lua_gettop(L);
			if (nt) {
				lua_pushlightuserdata(L, (void *)nt);
				lua_rawsetp(L, proxy, &PROXY_NODE);
				lua_pushvalue(L, nmt);
				lua_setmetatable(L, proxy);
				/* the old proxy wins over one made for the new version: the
				 * old one is what long-lived references hold */
				lua_pushvalue(L, proxy);
				lua_rawsetp(L, ncache, nt);
				moved++;
			} else {
				lua_pushboolean(L, 0);
				lua_rawsetp(L, proxy, &PROXY_NODE);
				lua_pushvalue(L, dead);
				lua_setmetatable(L, proxy);
			}
		}
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_pushnil(L);
		lua_rawset(L, ocache); /* clearing a visited field is allowed during next */
	}
	lua_pushinteger(L, moved);
	return 1;
}

int luaopen_skynet_sharetable_core(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {{"loadfile", l_loadfile}, {"loadstring", l_loadstring}, {"build", l_build},
	                {"retain", l_retain},     {"release", l_release},       {"stat", l_stat},
	                {"box", l_box},           {"root", l_root},             {"remap", l_remap},
	                {NULL, NULL}};
	luaL_newlib(L, l);
	if (luaL_newmetatable(L, BOX_META)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	return 1;
}
