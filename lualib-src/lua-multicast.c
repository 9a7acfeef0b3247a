/*
 * lua-multicast.c -- `skynet.multicast.core`: one shared, reference-counted
 * copy of each published message, delivered to every local subscriber.
 *
 * A package holds the packed message (skynet.pack's buffer) and a count of
 * the deliveries still to be dispatched.  multicastd sends each subscriber
 * a small PTYPE_MULTICAST message (a "delivery": the package pointer and a
 * check word) whose session is the channel id and whose source is the
 * publisher; the subscriber reads the package in place and closes its
 * delivery, and the last close frees the package.  A delivery dropped
 * unread (its subscriber exited) is closed by the core's drop hook, so no
 * package leaks.
 *
 * Publisher:   pack(msg, sz | str) -> package, size
 * multicastd:  fanout(package, channel, source, addrs, n) -> dead addrs...
 *              bind(package, 0)                      free an undelivered package
 *              copy(package) -> msg, sz              the bytes, for a remote node
 *              packcopy(msg, sz) -> package, size    a package from bytes (from a remote node)
 * Subscriber:  unpack(msg, sz) -> package, data, size
 *              close(package)
 * live() -> packages of this process not freed yet
 */
#include "skynet.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdatomic.h>
#include <string.h>

struct mc_package {
	atomic_int ref; /* deliveries not yet closed */
	uint32_t size;
	void *data; /* skynet_malloc'ed, owned */
};

/* A delivery: the package and the pointer XOR this word, so the drop hook
 * (which sees every dropped PTYPE_MULTICAST message, also raw bytes sent
 * to multicastd by a remote node) only ever follows a real package. */
#define DELIVERY_CHECK ((uintptr_t)0x6d756c7469636173ull)

struct delivery {
	struct mc_package *pkg;
	uintptr_t check;
};

/* Packages not freed yet, process-wide (live() reports it: tests check
 * that every delivery was closed, dropped ones included). */
static atomic_long live_packages;

static struct mc_package *package_new(void *data, size_t sz) {
	atomic_fetch_add_explicit(&live_packages, 1, memory_order_relaxed);
	struct mc_package *p = skynet_malloc(sizeof(*p));
	atomic_init(&p->ref, 0);
	p->size = (uint32_t)sz;
	p->data = data;
	return p;
}

static void package_free(struct mc_package *p) {
	atomic_fetch_sub_explicit(&live_packages, 1, memory_order_relaxed);
	skynet_free(p->data);
	skynet_free(p);
}

static void package_close(struct mc_package *p) {
	if (atomic_fetch_sub_explicit(&p->ref, 1, memory_order_acq_rel) == 1)
		package_free(p);
}

static struct mc_package *checkpackage(lua_State *L, int idx) {
	luaL_checktype(L, idx, LUA_TLIGHTUSERDATA);
	struct mc_package *p = lua_touserdata(L, idx);
	if (p == NULL)
		luaL_argerror(L, idx, "NULL multicast package");
	return p;
}

static void drop_delivery(void *msg, size_t sz) {
	if (sz != sizeof(struct delivery))
		return;
	struct delivery d;
	memcpy(&d, msg, sizeof(d));
	if (d.check == ((uintptr_t)d.pkg ^ DELIVERY_CHECK))
		package_close(d.pkg);
}

/* pack(msg, sz) takes the buffer over; pack(str) copies it. */
static int l_pack(lua_State *L) {
	void *data;
	size_t sz;
	if (lua_type(L, 1) == LUA_TSTRING) {
		const char *s = lua_tolstring(L, 1, &sz);
		data = skynet_malloc(sz ? sz : 1);
		memcpy(data, s, sz);
	} else {
		luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
		data = lua_touserdata(L, 1);
		lua_Integer isz = luaL_checkinteger(L, 2);
		if (isz < 0 || isz > UINT32_MAX)
			return luaL_error(L, "Size should be 32bit integer");
		sz = (size_t)isz;
	}
	lua_pushlightuserdata(L, package_new(data, sz));
	lua_pushinteger(L, (lua_Integer)sz);
	return 2;
}

/* bind(package, 0): nobody will get it */
static int l_bind(lua_State *L) {
	struct mc_package *p = checkpackage(L, 1);
	if (luaL_checkinteger(L, 2) != 0)
		return luaL_error(L, "bind: only 0 is accepted (fanout counts the deliveries)");
	package_free(p);
	return 0;
}

static struct skynet_context *context(lua_State *L) {
	struct skynet_context *ctx = lua_touserdata(L, lua_upvalueindex(1));
	if (ctx == NULL)
		luaL_error(L, "skynet.multicast.core: not in a skynet service");
	return ctx;
}

/* fanout(package, channel, source, addrs, n): one delivery to each of
 * addrs[1..n]; returns the addresses that no longer exist (their
 * deliveries closed at once).  With n = 0 the package is freed. */
static int l_fanout(lua_State *L) {
	struct mc_package *p = checkpackage(L, 1);
	int channel = (int)luaL_checkinteger(L, 2);
	uint32_t source = (uint32_t)luaL_checkinteger(L, 3);
	luaL_checktype(L, 4, LUA_TTABLE);
	lua_Integer n = luaL_checkinteger(L, 5);
	struct skynet_context *ctx = context(L);
	if (n <= 0) {
		package_free(p);
		return 0;
	}
	/* the count covers every delivery before the first one can be closed */
	atomic_store(&p->ref, (int)n);
	struct delivery d = {p, (uintptr_t)p ^ DELIVERY_CHECK};
	int dead = 0;
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, 4, i);
		uint32_t addr = (uint32_t)lua_tointeger(L, -1);
		if (skynet_send(ctx, source, addr, PTYPE_MULTICAST, channel, &d, sizeof(d)) < 0) {
			dead++;
			package_close(p); /* may free it: p is not touched after the loop */
		} else {
			lua_pop(L, 1);
		}
	}
	return dead;
}

/* copy(package) -> msg, sz: a fresh buffer with the packed bytes */
static int l_copy(lua_State *L) {
	struct mc_package *p = checkpackage(L, 1);
	void *m = skynet_malloc(p->size ? p->size : 1);
	memcpy(m, p->data, p->size);
	lua_pushlightuserdata(L, m);
	lua_pushinteger(L, p->size);
	return 2;
}

/* packcopy(msg, sz) -> package, size: from a message the framework frees */
static int l_packcopy(lua_State *L) {
	luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
	const void *msg = lua_touserdata(L, 1);
	lua_Integer sz = luaL_checkinteger(L, 2);
	if (sz < 0 || sz > UINT32_MAX)
		return luaL_error(L, "Invalid multicast package size %d", (int)sz);
	void *data = skynet_malloc(sz ? (size_t)sz : 1);
	if (sz)
		memcpy(data, msg, (size_t)sz);
	lua_pushlightuserdata(L, package_new(data, (size_t)sz));
	lua_pushinteger(L, sz);
	return 2;
}

static int l_unpack(lua_State *L) {
	luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
	const void *msg = lua_touserdata(L, 1);
	lua_Integer sz = luaL_checkinteger(L, 2);
	struct delivery d;
	if (sz != (lua_Integer)sizeof(d))
		return luaL_error(L, "Invalid multicast package size %d", (int)sz);
	memcpy(&d, msg, sizeof(d));
	if (d.check != ((uintptr_t)d.pkg ^ DELIVERY_CHECK))
		return luaL_error(L, "Invalid multicast package reference %p", (void *)d.pkg);
	lua_pushlightuserdata(L, d.pkg);
	lua_pushlightuserdata(L, d.pkg->data);
	lua_pushinteger(L, d.pkg->size);
	return 3;
}

static int l_live(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)atomic_load(&live_packages));
	return 1;
}

static int l_close(lua_State *L) {
	package_close(checkpackage(L, 1));
	return 0;
}

int luaopen_skynet_multicast_core(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {{"pack", l_pack},         {"bind", l_bind},     {"fanout", l_fanout}, {"copy", l_copy},
	                {"packcopy", l_packcopy}, {"unpack", l_unpack}, {"close", l_close},   {"live", l_live},
	                {NULL, NULL}};
	luaL_newlibtable(L, l);
	lua_getfield(L, LUA_REGISTRYINDEX, "skynet_context");
	luaL_setfuncs(L, l, 1);
	skynet_drop_hook(PTYPE_MULTICAST, drop_delivery);
	return 1;
}
