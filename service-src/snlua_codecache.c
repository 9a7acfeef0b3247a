/*
 * snlua_codecache.c -- compile each Lua file once per process.
 *
 * Parsing a service's source costs far more than loading its bytecode, and
 * every service loads the same library files, so the first load of a file
 * keeps a copy of its dumped bytecode (debug info included, so tracebacks
 * still name files and lines).  Later loads check the file's mtime and size
 * with one stat() and load from memory.  Entries are immutable once
 * published; a mutex guards the table.  `clear()` drops every entry (the
 * console's clearcache); mode "OFF" bypasses the cache for the calling
 * service.
 *
 * The framework's own library (files under the directory of `lualoader`,
 * normally ./lualib/) is cached without debug information: that makes an
 * idle service ~10 kB smaller and its start faster, at the price of "?"
 * instead of line numbers in traceback frames inside the framework.  User
 * code elsewhere keeps its debug information.  Config `codecache_strip =
 * false` keeps it everywhere.
 */
#include "snlua_codecache.h"
#include "skynet.h"

#include <lauxlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_BUCKETS 256

struct code_entry {
	struct code_entry *next;
	char *path;
	time_t mtime;
	long mtime_ns;
	off_t size;
	char *code;
	size_t code_size;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct code_entry *cache[CACHE_BUCKETS];
/* Set once, before any service runs Lua code (first snlua init). */
static char *strip_prefix;
static pthread_once_t strip_once = PTHREAD_ONCE_INIT;
static const char *strip_from_loader;

static void init_strip_prefix(void) {
	const char *slash = strip_from_loader ? strrchr(strip_from_loader, '/') : NULL;
	if (slash) {
		size_t n = (size_t)(slash - strip_from_loader) + 1;
		strip_prefix = skynet_malloc(n + 1);
		memcpy(strip_prefix, strip_from_loader, n);
		strip_prefix[n] = '\0';
	}
}

void codecache_strip_below(const char *loader_path) {
	strip_from_loader = loader_path;
	pthread_once(&strip_once, init_strip_prefix);
}

static int should_strip(const char *path) {
	return strip_prefix && strncmp(path, strip_prefix, strlen(strip_prefix)) == 0;
}

static unsigned hash_path(const char *s) {
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % CACHE_BUCKETS;
}

struct dump_buffer {
	char *data;
	size_t size;
	size_t cap;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
	(void)L;
	struct dump_buffer *b = ud;
	if (b->size + sz > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->size + sz)
			cap *= 2;
		char *n = skynet_realloc(b->data, cap);
		if (n == NULL)
			return 1;
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->size, p, sz);
	b->size += sz;
	return 0;
}

static int cache_enabled(lua_State *L) {
	int on = 1;
	if (lua_getfield(L, LUA_REGISTRYINDEX, "skynet.codecache.off") != LUA_TNIL)
		on = !lua_toboolean(L, -1);
	lua_pop(L, 1);
	return on;
}

int codecache_loadfile(lua_State *L, const char *path) {
	struct stat st;
	if (!cache_enabled(L) || stat(path, &st) != 0)
		return luaL_loadfilex(L, path, NULL);
	unsigned h = hash_path(path);
	char chunkname[strlen(path) + 2];
	chunkname[0] = '@';
	strcpy(chunkname + 1, path);

	pthread_mutex_lock(&cache_lock);
	for (struct code_entry *e = cache[h]; e; e = e->next) {
		if (strcmp(e->path, path) == 0 && e->mtime == st.st_mtim.tv_sec &&
		    e->mtime_ns == st.st_mtim.tv_nsec && e->size == st.st_size) {
			/* Entries are never freed while the lock is held by a reader. */
			int r = luaL_loadbufferx(L, e->code, e->code_size, chunkname, "b");
			pthread_mutex_unlock(&cache_lock);
			return r;
		}
	}
	pthread_mutex_unlock(&cache_lock);

	int r = luaL_loadfilex(L, path, NULL);
	if (r != LUA_OK)
		return r;
	if (should_strip(path)) {
		/* Load the stripped form now too, so the first service matches the
		 * others (and drops the debug info it would otherwise keep). */
		struct dump_buffer sb = {NULL, 0, 0};
		if (lua_dump(L, dump_writer, &sb, 1) == 0 &&
		    luaL_loadbufferx(L, sb.data, sb.size, chunkname, "b") == LUA_OK)
			lua_remove(L, -2);
		skynet_free(sb.data);
	}
	struct dump_buffer b = {NULL, 0, 0};
	if (lua_dump(L, dump_writer, &b, should_strip(path)) != 0) {
		skynet_free(b.data);
		return LUA_OK;
	}
	struct code_entry *e = skynet_malloc(sizeof(*e));
	e->path = skynet_strdup(path);
	e->mtime = st.st_mtim.tv_sec;
	e->mtime_ns = st.st_mtim.tv_nsec;
	e->size = st.st_size;
	e->code = b.data;
	e->code_size = b.size;
	pthread_mutex_lock(&cache_lock);
	/* Newest first: a changed file's fresh entry shadows the stale one. */
	e->next = cache[h];
	cache[h] = e;
	pthread_mutex_unlock(&cache_lock);
	return LUA_OK;
}

/* loadfile([filename [, mode [, env]]]) with the cache in front. */
static int cached_loadfile(lua_State *L) {
	const char *path = luaL_optstring(L, 1, NULL);
	int env = !lua_isnone(L, 3) ? 3 : 0;
	if (path == NULL) {
		lua_pushvalue(L, lua_upvalueindex(1)); /* the original loadfile */
		lua_insert(L, 1);
		lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
		return lua_gettop(L);
	}
	if (codecache_loadfile(L, path) != LUA_OK) {
		luaL_pushfail(L);
		lua_insert(L, -2);
		return 2;
	}
	if (env) {
		lua_pushvalue(L, env);
		if (!lua_setupvalue(L, -2, 1))
			lua_pop(L, 1);
	}
	return 1;
}

/*
 * Where modules were found.  Every service requires the same modules, and
 * package.searchpath opens each candidate file on the way (a failed open
 * per path entry that does not hold the module); for a C module such as
 * skynet.core the Lua path fails entirely first.  So the first successful
 * search of (name, search path) is remembered process-wide: a Lua module's
 * file (still checked by the stat of codecache_loadfile, and searched
 * again if it is gone) and a C module's library.  Only successes are
 * kept, so a module added later is still found; the known price is that
 * a file added later *earlier* in the path does not shadow a module
 * already found.  clear() forgets everything.
 */
struct found_entry {
	struct found_entry *next;
	int kind;    /* FOUND_LUA or FOUND_C */
	char *key;   /* name '\n' search path */
	char *path;  /* the file */
};
#define FOUND_LUA 0
#define FOUND_C 1

static struct found_entry *found[CACHE_BUCKETS];

static char *found_key(const char *name, const char *searchpath) {
	size_t n = strlen(name), p = strlen(searchpath);
	char *k = skynet_malloc(n + p + 2);
	memcpy(k, name, n);
	k[n] = '\n';
	memcpy(k + n + 1, searchpath, p + 1);
	return k;
}

/* Pushes the remembered file of (name, searchpath) and returns 1, or 0. */
static int found_lookup(lua_State *L, int kind, const char *name, const char *searchpath) {
	char *key = found_key(name, searchpath);
	unsigned h = hash_path(key);
	int hit = 0;
	pthread_mutex_lock(&cache_lock);
	for (struct found_entry *e = found[h]; e; e = e->next) {
		if (e->kind == kind && strcmp(e->key, key) == 0) {
			lua_pushstring(L, e->path);
			hit = 1;
			break;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	skynet_free(key);
	return hit;
}

static void found_remember(int kind, const char *name, const char *searchpath, const char *file) {
	struct found_entry *e = skynet_malloc(sizeof(*e));
	e->kind = kind;
	e->key = found_key(name, searchpath);
	e->path = skynet_strdup(file);
	unsigned h = hash_path(e->key);
	pthread_mutex_lock(&cache_lock);
	e->next = found[h];
	found[h] = e;
	pthread_mutex_unlock(&cache_lock);
}

/* Pushes package[field] (a string) and returns it; raises if it is not one. */
static const char *package_path(lua_State *L, const char *field) {
	lua_getglobal(L, "package");
	lua_getfield(L, -1, field);
	lua_remove(L, -2);
	const char *p = lua_tostring(L, -1);
	if (p == NULL)
		luaL_error(L, "'package.%s' must be a string", field);
	return p;
}

/* package.searchers[2]: find `name` along package.path, load it cached. */
static int cached_searcher(lua_State *L) {
	const char *name = luaL_checkstring(L, 1);
	const char *searchpath = package_path(L, "path"); /* 2 */
	if (found_lookup(L, FOUND_LUA, name, searchpath)) {
		const char *filename = lua_tostring(L, -1);
		if (codecache_loadfile(L, filename) == LUA_OK) {
			lua_insert(L, -2);
			return 2;
		}
		lua_settop(L, 2); /* gone or broken: search again */
	}
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchpath");
	lua_pushstring(L, name);
	lua_pushvalue(L, 2);
	lua_call(L, 2, 2);
	if (lua_isnil(L, -2))
		return 1; /* the "no file ..." message */
	const char *filename = lua_tostring(L, -2);
	if (codecache_loadfile(L, filename) != LUA_OK)
		return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, filename,
		                  lua_tostring(L, -1));
	found_remember(FOUND_LUA, name, searchpath, filename);
	lua_pushstring(L, filename);
	return 2;
}

/* The C searchers (package.searchers 3 and 4), wrapped: upvalue 1 is the
 * original.  A library they find is remembered for known_c_searcher. */
static int remembering_c_searcher(lua_State *L) {
	const char *name = luaL_checkstring(L, 1);
	lua_settop(L, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_call(L, 1, 2);
	if (lua_type(L, 2) == LUA_TFUNCTION && lua_type(L, 3) == LUA_TSTRING && strchr(name, '-') == NULL) {
		const char *cpath = package_path(L, "cpath");
		found_remember(FOUND_C, name, cpath, lua_tostring(L, 3));
		lua_pop(L, 1);
	}
	return 2;
}

/* Runs first after the preload searcher: a C module found before loads
 * from its library (already mapped: dlopen finds it by name) with no
 * search. */
static int known_c_searcher(lua_State *L) {
	const char *name = luaL_checkstring(L, 1);
	const char *cpath = package_path(L, "cpath");
	if (!found_lookup(L, FOUND_C, name, cpath))
		return 0;
	int file = lua_gettop(L);
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "loadlib");
	lua_pushvalue(L, file);
	lua_pushliteral(L, "luaopen_");
	lua_pushstring(L, name);
	luaL_gsub(L, lua_tostring(L, -1), ".", "_");
	lua_remove(L, -2);
	lua_concat(L, 2);
	lua_call(L, 2, 1);
	if (!lua_isfunction(L, -1))
		return 0; /* let the ordinary searchers say why */
	lua_pushvalue(L, file);
	return 2;
}

void codecache_install(lua_State *L) {
	lua_getglobal(L, "loadfile");
	lua_pushcclosure(L, cached_loadfile, 1);
	lua_setglobal(L, "loadfile");
	lua_getglobal(L, "package");
	if (lua_getfield(L, -1, "searchers") == LUA_TTABLE && lua_rawlen(L, -1) == 4) {
		int t = lua_gettop(L);
		/* preload, known C, Lua (cached), C, C root */
		lua_rawgeti(L, t, 4);
		lua_pushcclosure(L, remembering_c_searcher, 1);
		lua_rawseti(L, t, 5);
		lua_rawgeti(L, t, 3);
		lua_pushcclosure(L, remembering_c_searcher, 1);
		lua_rawseti(L, t, 4);
		lua_pushcfunction(L, cached_searcher);
		lua_rawseti(L, t, 3);
		lua_pushcfunction(L, known_c_searcher);
		lua_rawseti(L, t, 2);
	}
	lua_pop(L, 2);
}

static int lclear(lua_State *L) {
	(void)L;
	pthread_mutex_lock(&cache_lock);
	struct code_entry *old[CACHE_BUCKETS];
	struct found_entry *old_found[CACHE_BUCKETS];
	memcpy(old, cache, sizeof(cache));
	memset(cache, 0, sizeof(cache));
	memcpy(old_found, found, sizeof(found));
	memset(found, 0, sizeof(found));
	pthread_mutex_unlock(&cache_lock);
	for (int i = 0; i < CACHE_BUCKETS; i++) {
		while (old_found[i]) {
			struct found_entry *e = old_found[i];
			old_found[i] = e->next;
			skynet_free(e->key);
			skynet_free(e->path);
			skynet_free(e);
		}
	}
	for (int i = 0; i < CACHE_BUCKETS; i++) {
		while (old[i]) {
			struct code_entry *e = old[i];
			old[i] = e->next;
			skynet_free(e->code);
			skynet_free(e->path);
			skynet_free(e);
		}
	}
	return 0;
}

/* mode("ON"|"OFF"|"EXIST") for the calling service; returns the old mode. */
static int lmode(lua_State *L) {
	int was_on = cache_enabled(L);
	lua_pushstring(L, was_on ? "ON" : "OFF");
	if (!lua_isnoneornil(L, 1)) {
		const char *m = luaL_checkstring(L, 1);
		int off = strcmp(m, "OFF") == 0;
		lua_pushboolean(L, off);
		lua_setfield(L, LUA_REGISTRYINDEX, "skynet.codecache.off");
	}
	return 1;
}

int luaopen_skynet_codecache(lua_State *L) {
	luaL_Reg l[] = {{"clear", lclear}, {"mode", lmode}, {"loadfile", cached_loadfile}, {NULL, NULL}};
	luaL_newlibtable(L, l);
	lua_getglobal(L, "loadfile");
	luaL_setfuncs(L, l, 1);
	return 1;
}
