/*
 * service_snlua.c -- the Lua service host.  Each snlua service owns one Lua
 * state whose every allocation goes through lalloc(), so its memory is
 * counted (debug MEM, cmem) and may be limited (skynet.memlimit).
 *
 * Start-up: snlua_init() (in the launcher's thread) only queues the launch
 * arguments to the new service itself; the first message then runs
 * init_service() on a worker: open the libraries, install the bytecode
 * cache and skynet.profile, and run `lualoader` with the arguments.  The
 * loader finds the service file and runs it; the service installs its own
 * message callback through skynet.core.
 */
#include "skynet_lua.h"
#include "skynet.h"
#include "skynet_server.h" /* skynet_node_quitting, skynet_context_exit_reason */
#include "snlua_codecache.h"
#include "snlua_heap.h"
#include "snlua_libs.h"
#include "snlua_profile.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_WARNING_REPORT (1024 * 1024 * 32)

/* Owned by its service.  mem* are written only by the thread running the
 * service; `mem` is an atomic (relaxed loads and stores, no read-modify-
 * write) because the metrics service reads it from another thread
 * (snlua_memory); `trap` may be set from any thread by the SIGNAL command. */
struct snlua {
	lua_State *L;
	struct skynet_context *ctx;
	_Atomic size_t mem;
	size_t mem_report;
	size_t mem_limit;
	lua_State *activeL;
	atomic_int trap;
	struct snlua_heap heap;
};

static void *lalloc(void *ud, void *ptr, size_t osize, size_t nsize) {
	struct snlua *l = ud;
	size_t mem = atomic_load_explicit(&l->mem, memory_order_relaxed);
	if (ptr == NULL)
		osize = 0;
	size_t now = mem + nsize - osize;
	if (nsize > osize && l->mem_limit != 0 && now > l->mem_limit)
		return NULL;
	atomic_store_explicit(&l->mem, now, memory_order_relaxed);
	if (now > l->mem_report) {
		l->mem_report *= 2;
		skynet_error(l->ctx, "Memory warning %.2f M", (float)now / (1024 * 1024));
	}
	void *p = heap_realloc(&l->heap, ptr, osize, nsize);
	if (p == NULL && nsize != 0)
		atomic_store_explicit(&l->mem, mem, memory_order_relaxed);
	return p;
}

static void report_launcher_error(struct skynet_context *ctx) {
	skynet_sendname(ctx, 0, ".launcher", PTYPE_TEXT, 0, "ERROR", 5);
}

static const char *optstring(struct skynet_context *ctx, const char *key, const char *def) {
	const char *v = skynet_command(ctx, "GETENV", key);
	return v ? v : def;
}

static void set_global(lua_State *L, const char *name, const char *value) {
	if (value)
		lua_pushstring(L, value);
	else
		lua_pushnil(L);
	lua_setglobal(L, name);
}

static int init_service(struct snlua *l, struct skynet_context *ctx, const char *args, size_t sz) {
	lua_State *L = l->L;
	l->ctx = ctx;
	lua_gc(L, LUA_GCSTOP, 0);
	lua_pushboolean(L, 1); /* ignore LUA_PATH and friends from the environment */
	lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
	snlua_openlibs(L);
	lua_pushlightuserdata(L, &l->activeL);
	lua_setfield(L, LUA_REGISTRYINDEX, "skynet.activeL");
	profile_install(L);
	luaL_requiref(L, "skynet.codecache", luaopen_skynet_codecache, 0);
	lua_pop(L, 1);
	codecache_install(L);
	lua_pushlightuserdata(L, ctx);
	lua_setfield(L, LUA_REGISTRYINDEX, "skynet_context");

	set_global(L, "LUA_PATH", optstring(ctx, "lua_path", "./lualib/?.lua;./lualib/?/init.lua"));
	set_global(L, "LUA_CPATH", optstring(ctx, "lua_cpath", "./luaclib/?.so"));
	set_global(L, "LUA_SERVICE", optstring(ctx, "luaservice", "./service/?.lua"));
	set_global(L, "LUA_PRELOAD", optstring(ctx, "preload", NULL));

	lua_pushcfunction(L, skynet_lua_traceback);
	const char *loader = optstring(ctx, "lualoader", "./lualib/loader.lua");
	const char *strip = optstring(ctx, "codecache_strip", "true");
	codecache_strip_below(strcmp(strip, "false") == 0 ? NULL : loader);
	if (codecache_loadfile(L, loader) != LUA_OK) {
		skynet_error(ctx, "Can't load %s : %s", loader, lua_tostring(L, -1));
		report_launcher_error(ctx);
		return 1;
	}
	lua_pushlstring(L, args, sz);
	if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
		skynet_error(ctx, "lua loader error : %s", lua_tostring(L, -1));
		report_launcher_error(ctx);
		return 1;
	}
	lua_settop(L, 0);
	if (lua_getfield(L, LUA_REGISTRYINDEX, "memlimit") == LUA_TNUMBER) {
		size_t limit = (size_t)lua_tointeger(L, -1);
		l->mem_limit = limit;
		skynet_error(ctx, "Set memory limit to %.2f M", (float)limit / (1024 * 1024));
		lua_pushnil(L);
		lua_setfield(L, LUA_REGISTRYINDEX, "memlimit");
	}
	lua_pop(L, 1);
	/* Switching to generational mode is itself a full collection: it drops
	 * what loading left behind before the service settles. */
	lua_gc(L, LUA_GCRESTART, 0);
	lua_gc(L, LUA_GCGEN, 0, 0);
	return 0;
}

static int launch_cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source,
                     const void *msg, size_t sz) {
	(void)type;
	(void)session;
	(void)source;
	struct snlua *l = ud;
	skynet_callback(ctx, NULL, NULL);
	if (init_service(l, ctx, msg, sz))
		skynet_command(ctx, "EXIT", SKYNET_EXIT_INIT_FAILED);
	return 0;
}

struct snlua *snlua_create(void) {
	struct snlua *l = skynet_malloc(sizeof(*l));
	memset(l, 0, sizeof(*l));
	l->mem_report = MEMORY_WARNING_REPORT;
	l->mem_limit = 0;
	heap_init(&l->heap);
	l->L = lua_newstate(lalloc, l);
	if (l->L == NULL) {
		heap_release(&l->heap);
		skynet_free(l);
		return NULL;
	}
	/* Lua leaves the main thread's extra space uninitialized; skynet.sched
	 * keeps its pointer there (new threads copy it), NULL until then. */
	memset(lua_getextraspace(l->L), 0, LUA_EXTRASPACE);
	return l;
}

/*
 * A killed service may hold requests that suspended handlers had taken:
 * their callers would wait forever.  The scheduler (skynet.sched) leaves
 * in the registry a C function that answers them with the reason; it only
 * reads the scheduler's tables and sends (no Lua function of the service
 * runs), and runs here, where no worker runs the service any more.  The
 * memory limit is lifted: the answers must not fail for a service that
 * was killed for its size.  (skynet.exit answers them itself and removes
 * the function.)
 */
static void farewell(struct snlua *l) {
	lua_State *L = l->L;
	if (l->ctx == NULL || skynet_context_exit_reason(l->ctx) != SKYNET_EXIT_KILLED)
		return;
	l->mem_limit = 0;
	if (lua_getfield(L, LUA_REGISTRYINDEX, "skynet.farewell") != LUA_TFUNCTION) {
		lua_pop(L, 1);
		return;
	}
	lua_pushstring(L, skynet_exit_text(SKYNET_EXIT_KILLED));
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		skynet_error(l->ctx, "farewell: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)");
		lua_pop(L, 1);
	}
}

/* During skynet.abort() the process is about to exit: closing thousands of
 * Lua states one object at a time would delay the exit by ~0.1 ms per
 * service, so the heap goes in one piece instead.  (Large blocks and
 * finalizers are left to the process exit, which flushes stdio.) */
void snlua_release(struct snlua *l) {
	if (!skynet_node_quitting()) {
		farewell(l);
		lua_close(l->L);
	}
	heap_release(&l->heap);
	skynet_free(l);
}

int snlua_init(struct snlua *l, struct skynet_context *ctx, const char *args) {
	if (args == NULL)
		args = "";
	size_t sz = strlen(args);
	char *tmp = skynet_malloc(sz + 1);
	memcpy(tmp, args, sz + 1);
	l->ctx = ctx;
	skynet_callback(ctx, l, launch_cb);
	const char *self = skynet_command(ctx, "REG", NULL);
	uint32_t handle = (uint32_t)strtoul(self + 1, NULL, 16);
	/* The service's first message: its launch arguments. */
	skynet_send(ctx, 0, handle, PTYPE_TAG_DONTCOPY, 0, tmp, sz);
	return 0;
}

/* Runs from an arbitrary thread: only sets a hook (lua_sethook may be
 * called asynchronously).  The hook goes on the coroutine running now, as
 * recorded by skynet.profile's resume, else on the main thread. */
static void signal_hook(lua_State *L, lua_Debug *ar) {
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	luaL_error(L, "signal 0");
}

void snlua_signal(struct snlua *l, int signal) {
	skynet_error(l->ctx, "recv a signal %d", signal);
	if (signal == 0) {
		lua_State *active = l->activeL;
		lua_sethook(active ? active : l->L, signal_hook, LUA_MASKCOUNT, 1);
	} else if (signal == 1) {
		skynet_error(l->ctx, "Current Memory %.3fK", (float)atomic_load(&l->mem) / 1024);
	}
}

/* The Lua heap's size, for the metrics endpoint (any thread). */
size_t snlua_memory(struct snlua *l) { return atomic_load_explicit(&l->mem, memory_order_relaxed); }
