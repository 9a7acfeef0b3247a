/*
 * lua-datasheet.c -- `skynet.datasheet.core`: the C half of
 * skynet.datasheet.  A published version is one document (the bytes of
 * spec §5.4, checked by datasheet_doc.c) copied once into C memory with an
 * atomic reference count, so readers never point into a Lua string of the
 * builder (upstream's readers dangle when the builder dies) and a version
 * is freed when its last holder lets go.
 *
 * Builder and datasheet service (a document pointer passed in a message
 * carries one reference for whoever receives it):
 *   new(bytes) -> doc              check the bytes, copy them (1 reference)
 *   renumber(bytes, prevdoc) -> bytes   builder.update's table numbering
 *   retain(doc)  release(doc)  stat(doc) -> bytes, ntables
 *   live() -> n                    documents not yet freed (for tests)
 * Reader:
 *   box(doc) -> box                adopts the reference (released by __gc)
 *   fill(box, index, t, cache) -> true | false
 *        copies table `index` (array part, then string keys) into t with
 *        rawset and removes t's metatable; a table value is cache[i]
 *        (the cache's __index makes a proxy).  false: no such table.
 *   reset(cache, mt)               empties every table of the cache and
 *        gives it metatable mt, ignoring __metatable protection: one C
 *        call, so no coroutine sees a half-switched version
 */
#include "datasheet_doc.h"
#include "skynet_malloc.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdatomic.h>
#include <string.h>

#define BOX_META "skynet.datasheet.box"
#define GUARD_META "skynet.datasheet.guard"

/* Owned by its holders through ref; the bytes never change after new. */
struct ds_doc {
	atomic_int ref;
	struct dsdoc view; /* points into bytes */
	uint8_t bytes[];
};

struct box {
	struct ds_doc *doc;
};

/* Documents allocated and not yet freed, process-wide. */
static atomic_long live_docs;

static struct ds_doc *checkdoc(lua_State *L, int idx) {
	luaL_checktype(L, idx, LUA_TLIGHTUSERDATA);
	struct ds_doc *doc = lua_touserdata(L, idx);
	if (doc == NULL)
		luaL_argerror(L, idx, "NULL document");
	return doc;
}

static void doc_release(struct ds_doc *doc) {
	if (atomic_fetch_sub(&doc->ref, 1) == 1) {
		skynet_free(doc);
		atomic_fetch_sub(&live_docs, 1);
	}
}

/* Copies len bytes and checks the copy (the view points into it). */
static struct ds_doc *doc_new(lua_State *L, const char *bytes, size_t len) {
	struct ds_doc *doc = skynet_malloc(sizeof(*doc) + len);
	if (doc == NULL)
		luaL_error(L, "datasheet: out of memory (%d bytes)", (int)len);
	memcpy(doc->bytes, bytes, len);
	const char *err = dsdoc_check(&doc->view, doc->bytes, len);
	if (err) {
		skynet_free(doc);
		luaL_error(L, "datasheet: not a document (%s)", err);
	}
	atomic_init(&doc->ref, 1);
	atomic_fetch_add(&live_docs, 1);
	return doc;
}

static int l_new(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	lua_pushlightuserdata(L, doc_new(L, s, len));
	return 1;
}

/* Holds a C buffer while Lua copies it: freed by __gc if the copy raises. */
struct guard {
	void *p;
};

static int guard_gc(lua_State *L) {
	struct guard *g = luaL_checkudata(L, 1, GUARD_META);
	skynet_free(g->p);
	g->p = NULL;
	return 0;
}

static int l_renumber(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	struct ds_doc *prev = checkdoc(L, 2);
	struct dsdoc next;
	const char *err = dsdoc_check(&next, s, len);
	if (err)
		return luaL_error(L, "datasheet: not a document (%s)", err);
	struct guard *g = lua_newuserdatauv(L, sizeof(*g), 0);
	g->p = NULL;
	luaL_setmetatable(L, GUARD_META);
	size_t outlen;
	g->p = dsdoc_renumber(&prev->view, &next, &outlen, &err);
	if (g->p == NULL)
		return luaL_error(L, "datasheet: cannot renumber the new version (%s)", err);
	lua_pushlstring(L, g->p, outlen);
	skynet_free(g->p);
	g->p = NULL;
	return 1;
}

static int l_retain(lua_State *L) {
	atomic_fetch_add(&checkdoc(L, 1)->ref, 1);
	return 0;
}

static int l_release(lua_State *L) {
	doc_release(checkdoc(L, 1));
	return 0;
}

static int l_stat(lua_State *L) {
	struct ds_doc *doc = checkdoc(L, 1);
	lua_pushinteger(L, (lua_Integer)doc->view.len);
	lua_pushinteger(L, (lua_Integer)doc->view.ntables);
	return 2;
}

static int l_live(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)atomic_load(&live_docs));
	return 1;
}

static int box_gc(lua_State *L) {
	struct box *b = luaL_checkudata(L, 1, BOX_META);
	if (b->doc) {
		doc_release(b->doc);
		b->doc = NULL;
	}
	return 0;
}

static int l_box(lua_State *L) {
	struct ds_doc *doc = checkdoc(L, 1);
	struct box *b = lua_newuserdatauv(L, sizeof(*b), 0);
	b->doc = doc;
	luaL_setmetatable(L, BOX_META);
	return 1;
}

/* Pushes v; a table is looked up in the cache at cache (absolute index). */
static void push_value(lua_State *L, const struct dsdoc *d, struct dsdoc_value v, int cache) {
	switch (v.type) {
	case DSDOC_INTEGER:
		lua_pushinteger(L, dsdoc_integer(v));
		break;
	case DSDOC_REAL:
		lua_pushnumber(L, dsdoc_real(v));
		break;
	case DSDOC_BOOLEAN:
		lua_pushboolean(L, v.raw != 0);
		break;
	case DSDOC_TABLE:
		lua_geti(L, cache, v.raw); /* __index makes the proxy */
		break;
	case DSDOC_STRING: {
		size_t len;
		const char *s = dsdoc_string(d, v.raw, &len);
		lua_pushlstring(L, s, len);
		break;
	}
	default:
		lua_pushnil(L);
		break;
	}
}

static int l_fill(lua_State *L) {
	struct box *b = luaL_checkudata(L, 1, BOX_META);
	lua_Integer index = luaL_checkinteger(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	luaL_checktype(L, 4, LUA_TTABLE);
	if (b->doc == NULL)
		return luaL_argerror(L, 1, "released version");
	const struct dsdoc *d = &b->doc->view;
	struct dsdoc_table t;
	if (index < 0 || index >= DSDOC_ABSENT || !dsdoc_table(d, (uint32_t)index, &t)) {
		lua_pushboolean(L, 0);
		return 1;
	}
	for (uint32_t i = 0; i < t.narray; i++) {
		push_value(L, d, dsdoc_array(&t, i), 4);
		lua_rawseti(L, 3, (lua_Integer)i + 1);
	}
	for (uint32_t i = 0; i < t.ndict; i++) {
		size_t len;
		const char *k = dsdoc_dictkey(d, &t, i, &len);
		lua_pushlstring(L, k, len);
		push_value(L, d, dsdoc_dictvalue(&t, i), 4);
		lua_rawset(L, 3);
	}
	lua_pushnil(L);
	lua_setmetatable(L, 3);
	lua_pushboolean(L, 1);
	return 1;
}

/* Empties table at idx (absolute): each key is set to nil as it is
 * visited, which `next` allows. */
static void wipe(lua_State *L, int idx) {
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_pushnil(L);
		lua_rawset(L, idx);
	}
}

static int l_reset(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lua_pushnil(L);
	while (lua_next(L, 1)) { /* index -> table (weak: only live ones) */
		if (lua_type(L, -1) == LUA_TTABLE) {
			int t = lua_gettop(L);
			wipe(L, t);
			lua_pushvalue(L, 2);
			lua_setmetatable(L, t);
		}
		lua_pop(L, 1);
	}
	return 0;
}

int luaopen_skynet_datasheet_core(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {{"new", l_new},   {"renumber", l_renumber}, {"retain", l_retain}, {"release", l_release},
	                {"stat", l_stat}, {"live", l_live},         {"box", l_box},       {"fill", l_fill},
	                {"reset", l_reset}, {NULL, NULL}};
	luaL_newlib(L, l);
	if (luaL_newmetatable(L, BOX_META)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, GUARD_META)) {
		lua_pushcfunction(L, guard_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	return 1;
}
