/*
 * lua-stm.c -- `skynet.stm`: one writer publishes buffers that readers in
 * other services read in place (the module is the C module itself).
 *
 *   stm.new(msg, sz | str) -> writer     writer(msg, sz | str)   publish a new buffer
 *   stm.copy(writer) -> ptr              one reader reference, for one other service
 *   stm.newcopy(ptr) -> reader           reader(f [, ud]) -> true, f(msg, sz, ud)... | false
 *
 * A buffer given as light userdata + size must come from skynet_malloc
 * (skynet.pack does) and is taken over; a string is copied.  The object
 * (current buffer pointer) and each buffer are reference counted: the
 * writer and each reader hold the object; the object's current slot and
 * each reader's last seen buffer hold a buffer.  When the writer is
 * collected the object loses its buffer, and readers see `false` for ever.
 * The current-buffer pointer is guarded by a mutex held only to swap it or
 * to take a reference.
 */
#include "skynet_malloc.h"

#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define WRITER_META "skynet.stm.writer"
#define READER_META "skynet.stm.reader"

struct stm_copy {
	atomic_int ref;
	uint32_t sz;
	void *msg;
};

struct stm_object {
	atomic_int ref;
	pthread_mutex_t lock; /* guards copy */
	struct stm_copy *copy;
};

struct stm_reader {
	struct stm_object *obj;
	struct stm_copy *last;
};

static struct stm_copy *copy_new(lua_State *L, int idx) {
	void *msg;
	size_t sz;
	if (lua_type(L, idx) == LUA_TSTRING) {
		const char *s = lua_tolstring(L, idx, &sz);
		msg = skynet_malloc(sz ? sz : 1);
		memcpy(msg, s, sz);
	} else {
		luaL_checktype(L, idx, LUA_TLIGHTUSERDATA);
		msg = lua_touserdata(L, idx);
		lua_Integer isz = luaL_checkinteger(L, idx + 1);
		if (isz < 0 || isz > UINT32_MAX)
			return luaL_error(L, "stm: bad size %d", (int)isz), NULL;
		sz = (size_t)isz;
	}
	struct stm_copy *c = skynet_malloc(sizeof(*c));
	atomic_init(&c->ref, 1);
	c->sz = (uint32_t)sz;
	c->msg = msg;
	return c;
}

static void copy_release(struct stm_copy *c) {
	if (c && atomic_fetch_sub_explicit(&c->ref, 1, memory_order_acq_rel) == 1) {
		skynet_free(c->msg);
		skynet_free(c);
	}
}

static void object_release(struct stm_object *o) {
	if (atomic_fetch_sub_explicit(&o->ref, 1, memory_order_acq_rel) == 1) {
		copy_release(o->copy);
		pthread_mutex_destroy(&o->lock);
		skynet_free(o);
	}
}

/* swaps the current buffer; the old one goes when its last reader lets go */
static void object_set(struct stm_object *o, struct stm_copy *c) {
	pthread_mutex_lock(&o->lock);
	struct stm_copy *old = o->copy;
	o->copy = c;
	pthread_mutex_unlock(&o->lock);
	copy_release(old);
}

/* the current buffer with a reference taken, or NULL */
static struct stm_copy *object_get(struct stm_object *o) {
	pthread_mutex_lock(&o->lock);
	struct stm_copy *c = o->copy;
	if (c)
		atomic_fetch_add_explicit(&c->ref, 1, memory_order_relaxed);
	pthread_mutex_unlock(&o->lock);
	return c;
}

static int l_new(lua_State *L) {
	struct stm_copy *c = copy_new(L, 1);
	struct stm_object **w = lua_newuserdatauv(L, sizeof(*w), 0);
	struct stm_object *o = skynet_malloc(sizeof(*o));
	atomic_init(&o->ref, 1);
	pthread_mutex_init(&o->lock, NULL);
	o->copy = c;
	*w = o;
	luaL_setmetatable(L, WRITER_META);
	return 1;
}

static int writer_gc(lua_State *L) {
	struct stm_object **w = luaL_checkudata(L, 1, WRITER_META);
	if (*w) {
		object_set(*w, NULL);
		object_release(*w);
		*w = NULL;
	}
	return 0;
}

static int writer_call(lua_State *L) {
	struct stm_object **w = luaL_checkudata(L, 1, WRITER_META);
	if (*w == NULL)
		return luaL_error(L, "stm: the writer is closed");
	object_set(*w, copy_new(L, 2));
	return 0;
}

static int l_copy(lua_State *L) {
	struct stm_object **w = luaL_checkudata(L, 1, WRITER_META);
	if (*w == NULL)
		return luaL_error(L, "stm: the writer is closed");
	atomic_fetch_add_explicit(&(*w)->ref, 1, memory_order_relaxed);
	lua_pushlightuserdata(L, *w);
	return 1;
}

static int l_newcopy(lua_State *L) {
	luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
	struct stm_object *o = lua_touserdata(L, 1);
	if (o == NULL)
		return luaL_argerror(L, 1, "NULL stm object");
	struct stm_reader *r = lua_newuserdatauv(L, sizeof(*r), 0);
	r->obj = o;
	r->last = NULL;
	luaL_setmetatable(L, READER_META);
	return 1;
}

static int reader_gc(lua_State *L) {
	struct stm_reader *r = luaL_checkudata(L, 1, READER_META);
	copy_release(r->last);
	r->last = NULL;
	if (r->obj) {
		object_release(r->obj);
		r->obj = NULL;
	}
	return 0;
}

/* reader(f [, ud]) */
static int reader_call(lua_State *L) {
	struct stm_reader *r = luaL_checkudata(L, 1, READER_META);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	struct stm_copy *c = r->obj ? object_get(r->obj) : NULL;
	if (c == r->last) {
		copy_release(c); /* the reference object_get took */
		lua_pushboolean(L, 0);
		return 1;
	}
	copy_release(r->last);
	r->last = c;
	if (c == NULL) { /* the writer is gone */
		lua_pushboolean(L, 0);
		return 1;
	}
	lua_settop(L, 3); /* 1 reader (becomes true), 2 f, 3 ud */
	lua_pushboolean(L, 1);
	lua_replace(L, 1);
	lua_pushvalue(L, 2);
	lua_pushlightuserdata(L, c->msg);
	lua_pushinteger(L, c->sz);
	lua_pushvalue(L, 3);
	lua_call(L, 3, LUA_MULTRET);
	lua_remove(L, 2); /* f */
	lua_remove(L, 2); /* ud: true and f's results remain */
	return lua_gettop(L);
}

int luaopen_skynet_stm(lua_State *L) {
	luaL_checkversion(L);
	if (luaL_newmetatable(L, WRITER_META)) {
		lua_pushcfunction(L, writer_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, writer_call);
		lua_setfield(L, -2, "__call");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, READER_META)) {
		lua_pushcfunction(L, reader_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, reader_call);
		lua_setfield(L, -2, "__call");
	}
	lua_pop(L, 1);
	luaL_Reg l[] = {{"new", l_new}, {"copy", l_copy}, {"newcopy", l_newcopy}, {NULL, NULL}};
	luaL_newlib(L, l);
	return 1;
}
