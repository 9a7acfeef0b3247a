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
 * metatable per (reader, version) whose metamethods are C closures over the
 * version's box and a weak cache node -> proxy, so one node is one proxy
 * (identity, cycles) for as long as anyone holds it.  A reader pays for the
 * proxies it keeps, not for the size of the data.
 *
 * Speed: every read is a metamethod call into C, and the first read of a
 * table since the last collection makes its proxy (a table, a metatable
 * link and a cache entry); that creation is most of the cost of a read
 * (README, "Shared data", has the figures and the alternatives measured).
 * Hence the closures (no registry or metatable lookups per access) and
 * the remembered proxy addresses of struct box.
 */
#include "sharetree.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#define BOX_META "skynet.sharetable.box"
#define DEAD_META "skynet.sharetable.dead"

/* Light userdata keys: their addresses are unique, so no user key collides. */
static const char PROXY_NODE = 0; /* in a proxy: its stree_table */
static const char MT_CACHE = 0;   /* in a version metatable: its cache (UV_CACHE) */

/* Proxy addresses remembered per version (a power of two): in a scan most
 * accesses hit the proxy just made or the one just used, and a hit saves
 * a hash lookup of the proxy's node (~140 instructions of ~2,900 for a
 * `cfg[i].price` that makes the entry's proxy). */
#define BOX_SEEN 16

/* One per (reader, version); owned by its Lua state.  seen[] maps a proxy's
 * address to its node.  An entry is written whenever a proxy of this
 * version is made and cleared when proxies move into it (remap), so a
 * matching address is always a live proxy of this version, never a dead
 * one's reused memory. */
struct box {
	struct stree_doc *doc;
	struct {
		const void *proxy;
		const struct stree_table *node;
	} seen[BOX_SEEN];
};

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
	struct stree_doc *doc = stree_checkdoc(L, 1);
	struct box *b = lua_newuserdatauv(L, sizeof(*b), 1);
	memset(b, 0, sizeof(*b));
	b->doc = doc;
	luaL_setmetatable(L, BOX_META);
	return 1;
}

/* Every metamethod of a version is a C closure over the same upvalues, so
 * an access costs no metatable or registry lookup: */
#define UV_CACHE lua_upvalueindex(1) /* weak values: CACHE_KEY -> proxy, function dump -> function */
#define UV_META lua_upvalueindex(2)  /* the version's metatable */
#define UV_BOX lua_upvalueindex(3)   /* the version's box */
#define UV_NEXT lua_upvalueindex(4)  /* __pairs only: the version's next */

static size_t seen_slot(const void *proxy) { return ((uintptr_t)proxy >> 4) & (BOX_SEEN - 1); }

static void seen_put(struct box *b, const void *proxy, const struct stree_table *t) {
	size_t i = seen_slot(proxy);
	b->seen[i].proxy = proxy;
	b->seen[i].node = t;
}

static const struct stree_table *proxy_node(lua_State *L, int idx) {
	if (lua_rawgetp(L, idx, &PROXY_NODE) != LUA_TLIGHTUSERDATA)
		luaL_error(L, "sharetable: this table is not in the version given by sharetable.update");
	const struct stree_table *t = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return t;
}

/* The node of the proxy at 1, from a version closure. */
static const struct stree_table *self_node(lua_State *L, struct box *b) {
	const void *p = lua_topointer(L, 1);
	size_t i = seen_slot(p);
	if (b->seen[i].proxy == p && p != NULL)
		return b->seen[i].node;
	const struct stree_table *t = proxy_node(L, 1);
	seen_put(b, p, t);
	return t;
}

/* A table's key in the cache: its index in the document, from 1 (an
 * integer key is found faster than a light userdata one). */
#define CACHE_KEY(t) ((lua_Integer)(t)->index + 1)

/* Pushes the proxy of t, made and cached on first use.  cache and mt are
 * absolute indices or upvalue pseudo-indices. */
static void push_proxy(lua_State *L, struct box *b, int cache, int mt, const struct stree_table *t) {
	if (lua_rawgeti(L, cache, CACHE_KEY(t)) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_createtable(L, 0, 1);
	lua_pushlightuserdata(L, (void *)t);
	lua_rawsetp(L, -2, &PROXY_NODE);
	lua_pushvalue(L, mt);
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawseti(L, cache, CACHE_KEY(t));
	seen_put(b, lua_topointer(L, -1), t);
}

/* A shared Lua function: loaded once per version and reader (identity). */
static void push_function(lua_State *L, int cache, const struct stree_string *code) {
	if (lua_rawgetp(L, cache, code) == LUA_TFUNCTION)
		return;
	lua_pop(L, 1);
	if (luaL_loadbufferx(L, code->data, code->len, "=sharetable", "b") != LUA_OK)
		lua_error(L);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, cache, code);
}

/* Pushes v (NULL: nil); only from a version closure, b its box. */
static void push_value(lua_State *L, struct box *b, const struct stree_value *v) {
	if (v == NULL)
		lua_pushnil(L);
	else if (v->type == STREE_TABLE)
		push_proxy(L, b, UV_CACHE, UV_META, v->u.t);
	else if (v->type == STREE_FUNCTION)
		push_function(L, UV_CACHE, v->u.s);
	else
		stree_push_scalar(L, v);
}

/* A table key stands for a node only if it is a proxy of this version. */
static const struct stree_table *key_table(lua_State *L, int kidx) {
	if (lua_type(L, kidx) != LUA_TTABLE || !lua_getmetatable(L, kidx))
		return NULL;
	int same = lua_rawequal(L, -1, UV_META);
	lua_pop(L, 1);
	const struct stree_table *t = NULL;
	if (same && lua_rawgetp(L, kidx, &PROXY_NODE) == LUA_TLIGHTUSERDATA)
		t = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return t;
}

/* The hot path: integer and string keys are looked up directly. */
static int proxy_index(lua_State *L) {
	struct box *b = lua_touserdata(L, UV_BOX);
	const struct stree_table *t = self_node(L, b);
	const struct stree_value *v;
	switch (lua_type(L, 2)) {
	case LUA_TNUMBER:
		v = lua_isinteger(L, 2) ? stree_get_int(t, lua_tointeger(L, 2)) : stree_lookup(L, t, 2, NULL);
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, 2, &len);
		v = stree_get_str(t, s, len);
		break;
	}
	default:
		v = stree_lookup(L, t, 2, key_table(L, 2));
		break;
	}
	push_value(L, b, v);
	return 1;
}

static int proxy_newindex(lua_State *L) {
	return luaL_error(L, "sharetable: attempt to change a shared table (it is read-only)");
}

static int proxy_len(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)self_node(L, lua_touserdata(L, UV_BOX))->sizearray);
	return 1;
}

/* Stateless next(proxy, key): array part 1..n, then the hash slots. */
static int proxy_next(lua_State *L) {
	struct box *b = lua_touserdata(L, UV_BOX);
	const struct stree_table *t = self_node(L, b);
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
	push_value(L, b, &k);
	push_value(L, b, v);
	return 2;
}

static int proxy_pairs(lua_State *L) {
	self_node(L, lua_touserdata(L, UV_BOX));
	lua_pushvalue(L, UV_NEXT);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static void set_readonly(lua_State *L, int mt) {
	lua_pushcfunction(L, proxy_newindex);
	lua_setfield(L, mt, "__newindex");
	lua_pushboolean(L, 0); /* getmetatable(proxy) is false; setmetatable raises */
	lua_setfield(L, mt, "__metatable");
}

/* The metamethods of a version, into the metatable at top: closures over
 * (cache, metatable, box), __pairs also over the version's next. */
static void set_proxy_methods(lua_State *L, int cache, int box) {
	int mt = lua_gettop(L);
	luaL_Reg m[] = {{"__index", proxy_index}, {"__len", proxy_len}, {"__pairs", proxy_pairs}, {NULL, NULL}};
	for (int i = -1; i < 0 || m[i].name; i++) {
		lua_pushvalue(L, cache);
		lua_pushvalue(L, mt);
		lua_pushvalue(L, box);
		if (i < 0) { /* next first: __pairs closes over it */
			lua_pushcclosure(L, proxy_next, 3);
			continue;
		}
		if (m[i].func == proxy_pairs)
			lua_pushvalue(L, mt + 1);
		lua_pushcclosure(L, m[i].func, m[i].func == proxy_pairs ? 4 : 3);
		lua_setfield(L, mt, m[i].name);
	}
	lua_settop(L, mt);
	set_readonly(L, mt);
}

/* The metatable of the box at idx (made on first use, kept as its user value). */
static int version_meta(lua_State *L, int idx) {
	idx = lua_absindex(L, idx);
	if (lua_getiuservalue(L, idx, 1) == LUA_TTABLE)
		return lua_gettop(L);
	lua_pop(L, 1);
	lua_newtable(L); /* the cache: node -> proxy, weak values */
	int cache = lua_gettop(L);
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "v");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, cache);
	lua_createtable(L, 0, 7);
	set_proxy_methods(L, cache, idx);
	lua_pushvalue(L, cache);
	lua_rawsetp(L, -2, &MT_CACHE);
	lua_remove(L, cache);
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
	lua_rawgetp(L, mt, &MT_CACHE);
	push_proxy(L, b, lua_gettop(L), mt, stree_root(b->doc));
	return 1;
}

static int proxy_removed(lua_State *L) {
	return luaL_error(L, "sharetable: this table is not in the version given by sharetable.update");
}

/* A removed proxy: every access raises; it no longer holds its version. */
static void push_dead_meta(lua_State *L) {
	if (luaL_newmetatable(L, DEAD_META)) {
		int mt = lua_gettop(L);
		luaL_Reg m[] = {{"__index", proxy_removed}, {"__len", proxy_removed}, {"__pairs", proxy_removed}, {NULL, NULL}};
		luaL_setfuncs(L, m, 0);
		set_readonly(L, mt);
	}
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
	/* proxies change version below: no remembered address stays valid */
	memset(ob->seen, 0, sizeof(ob->seen));
	memset(nb->seen, 0, sizeof(nb->seen));
	uint32_t n = stree_ntables(ob->doc);
	const struct stree_table **map = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*map), 0);
	stree_remap(ob->doc, nb->doc, map);
	lua_Integer moved = 0;
	lua_pushnil(L);
	while (lua_next(L, ocache)) {
		if (lua_type(L, -1) == LUA_TTABLE) { /* not a function */
			const struct stree_table *nt = map[lua_tointeger(L, -2) - 1];
			int proxy = lua_gettop(L);
			if (nt) {
				lua_pushlightuserdata(L, (void *)nt);
				lua_rawsetp(L, proxy, &PROXY_NODE);
				lua_pushvalue(L, nmt);
				lua_setmetatable(L, proxy);
				/* the old proxy wins over one made for the new version: the
				 * old one is what long-lived references hold */
				lua_pushvalue(L, proxy);
				lua_rawseti(L, ncache, CACHE_KEY(nt));
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
	                {"retain", stree_l_retain},     {"release", stree_l_release},       {"stat", stree_l_stat},
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
