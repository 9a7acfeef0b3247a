/*
 * lua-sched-state.c -- `skynet.sched`, bottom layer: what every other part
 * of the scheduler uses and which uses nothing of theirs.  The
 * per-coroutine state (costate: requester address and trace tag), the
 * service's own handle, trace log lines, the lazily loaded Lua modules and
 * the hooks they set in skynet.internal, and the PTYPE_ERROR payload.
 */
#include "lua-sched.h"
#include "skynet_timer.h" /* skynet_hpc */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The registry key of the struct sched userdata (see sched_get). */
char sched_key;

/* The `<TRACE tag> <ns> text` log line (skynet.core's trace). */
void sched_trace_line(lua_State *L, struct sched *s, int tag, const char *text) {
	const char *t = lua_tostring(L, tag);
	skynet_error(s->ctx, "<TRACE %s> %llu %s", t ? t : "?", (unsigned long long)skynet_hpc(), text);
}

/* The costate of the thread at `co` to read: NULL when nothing is recorded. */
struct costate *sched_costate_get(lua_State *L, struct sched *s, int co) {
	lua_State *t = lua_tothread(L, co);
	if (t == NULL)
		return NULL;
	struct costate *c = costate_ptr(t);
	return c == &s->main_co ? NULL : c;
}

static struct costate *costate_new(lua_State *L, struct sched *s) {
	struct costate *c = lua_newuserdatauv(L, sizeof(*c), 0);
	c->s = s;
	c->address = 0;
	c->tag = TAG_NONE;
	return c;
}

/* The costate of the thread at `co` to write, made if the thread has none
 * yet.  It is anchored in R_COSTATES (weak keys), so it lives exactly as
 * long as its thread, whatever happens to the thread's stack (close,
 * reset).  NULL if `co` is no thread. */
struct costate *sched_costate_set(lua_State *L, struct sched *s, int co) {
	lua_State *t = lua_tothread(L, co);
	if (t == NULL)
		return NULL;
	struct costate *c = costate_ptr(t);
	if (c && c != &s->main_co)
		return c;
	co = lua_absindex(L, co);
	c = costate_new(L, s);
	ref_set(L, s, R_COSTATES, co);
	*(struct costate **)lua_getextraspace(t) = c;
	return c;
}

/* Pushes the trace tag of the coroutine at `co` (a string, false or nil);
 * returns its type. */
int sched_co_tracetag(lua_State *L, struct sched *s, int co) {
	struct costate *c = sched_costate_get(L, s, co);
	if (c == NULL || c->tag == TAG_NONE) {
		lua_pushnil(L);
		return LUA_TNIL;
	}
	if (c->tag == TAG_OFF) {
		lua_pushboolean(L, 0);
		return LUA_TBOOLEAN;
	}
	return lua_rawgeti(L, LUA_REGISTRYINDEX, c->tag);
}

/* Sets the trace tag of the coroutine at `co` to the value on the top (popped). */
void sched_set_tracetag(lua_State *L, struct sched *s, int co) {
	co = lua_absindex(L, co);
	int nil = lua_isnil(L, -1);
	struct costate *c = nil ? sched_costate_get(L, s, co) : sched_costate_set(L, s, co);
	if (c == NULL) {
		lua_pop(L, 1);
		return;
	}
	if (c->tag > 0)
		luaL_unref(L, LUA_REGISTRYINDEX, c->tag);
	if (nil) {
		c->tag = TAG_NONE;
		lua_pop(L, 1);
	} else if (!lua_toboolean(L, -1)) {
		c->tag = TAG_OFF;
		lua_pop(L, 1);
	} else {
		c->tag = luaL_ref(L, LUA_REGISTRYINDEX);
	}
}

void sched_clear_tracetag(lua_State *L, struct sched *s, int co) {
	struct costate *c = sched_costate_get(L, s, co);
	if (c && c->tag != TAG_NONE) {
		if (c->tag > 0)
			luaL_unref(L, LUA_REGISTRYINDEX, c->tag);
		c->tag = TAG_NONE;
	}
}

/* Pushes the address of the request the coroutine at `co` handles, or nil. */
void sched_push_address(lua_State *L, struct sched *s, int co) {
	struct costate *c = sched_costate_get(L, s, co);
	if (c && c->address)
		lua_pushinteger(L, c->address);
	else
		lua_pushnil(L);
}

void sched_set_address(lua_State *L, struct sched *s, int co, uint32_t address) {
	struct costate *c = address ? sched_costate_set(L, s, co) : sched_costate_get(L, s, co);
	if (c)
		c->address = address;
}

/* package.loaded[name] or require(name) with the plain require. */
void sched_load_lazy(lua_State *L, struct sched *s, const char *name) {
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 2);
	push_ref(L, s, R_LUA_REQUIRE);
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
}

int sched_l_load_lazy(lua_State *L) {
	sched_load_lazy(L, sched_get(L), luaL_checkstring(L, 1));
	return 1;
}

/* Pushes S[field], loading `module` first if it is nil. */
void sched_push_hook(lua_State *L, struct sched *s, const char *field, const char *module) {
	push_ref(L, s, R_S);
	if (lua_getfield(L, -1, field) == LUA_TNIL && module) {
		lua_pop(L, 1);
		sched_load_lazy(L, s, module);
		lua_pop(L, 1);
		lua_getfield(L, -1, field);
	}
	lua_remove(L, -2);
}

/* S.trace_event(tag, text, level): level 1 is S.trace_event, 2 our caller. */
void sched_trace_event(lua_State *L, struct sched *s, int tag, const char *text) {
	tag = lua_absindex(L, tag);
	sched_push_hook(L, s, "trace_event", "skynet.introspect");
	lua_pushvalue(L, tag);
	lua_pushstring(L, text);
	lua_pushinteger(L, 2);
	lua_call(L, 3, 0);
}

uint32_t sched_self(struct sched *s) {
	if (s->self == 0) {
		const char *r = skynet_command(s->ctx, "REG", NULL);
		s->self = r ? (uint32_t)strtoul(r + 1, NULL, 16) : 0;
	}
	return s->self;
}

/* Pushes the PTYPE_ERROR payload of this service for the error value at
 * `err`: ":<self>: " and the first line of its text. */
void sched_push_error_payload(lua_State *L, struct sched *s, int err) {
	size_t len;
	const char *text = luaL_tolstring(L, err, &len);
	const char *nl = memchr(text, '\n', len);
	int n = nl ? (int)(nl - text) : (int)len;
	char head[16];
	snprintf(head, sizeof(head), ":%08x: ", (unsigned)sched_self(s));
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addstring(&b, head);
	luaL_addlstring(&b, text, (size_t)n);
	luaL_pushresult(&b);
	lua_remove(L, -2);
}

