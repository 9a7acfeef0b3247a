/*
 * sharetree.c -- building, reading and freeing immutable shared documents
 * (see sharetree.h).
 *
 * Layout of a table: keys 1..#t (the raw border of the source table) in an
 * array part, every other key in a hash part of exactly that many nodes.
 * The hash part is filled as upstream sharedata does (spec
 * api-shared-data.md §1.7), because that decides the order `pairs` shows:
 * pass 1 puts each key whose main slot is free there, pass 2 puts each
 * remaining key in the lowest free slot and links it right after its main
 * slot's node.  Lookups walk the chain from the main slot.
 *
 * Memory: one arena per document (chunks of ARENA_CHUNK bytes, a big item
 * gets a chunk of its own), so freeing a document is a walk over a few
 * chunks and a 10 MB table costs a few hundred mallocs, not millions.
 *
 * Thread safety: a document is written only by its builder, before its
 * pointer is handed to anyone (through a skynet message, whose queue lock
 * orders the writes before any read).  Afterwards only `ref` and `dirty`
 * change, atomically.
 */
#include "sharetree.h"
#include "skynet_malloc.h"

#include <lauxlib.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

/* Arena chunk size, and the largest item carved from a shared chunk. */
#define ARENA_CHUNK (64 * 1024)
#define ARENA_BIG (ARENA_CHUNK / 8)
/* Nesting deeper than this raises instead of exhausting the C stack. */
#define STREE_MAX_DEPTH 200

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	max_align_t data[];
};

struct stree_doc {
	atomic_int ref;
	atomic_int dirty;
	const struct stree_table *root;
	uint32_t ntables;
	size_t bytes;
	struct arena_chunk *chunks; /* the head is the one still being filled */
};

/* ---- arena ------------------------------------------------------------------------ */

static void doc_free(struct stree_doc *doc) {
	struct arena_chunk *c = doc->chunks;
	while (c) {
		struct arena_chunk *next = c->next;
		skynet_free(c);
		c = next;
	}
	skynet_free(doc);
}

/* Zeroed, aligned to 8; raises in L when out of memory. */
static void *arena_alloc(lua_State *L, struct stree_doc *doc, size_t sz) {
	sz = (sz + 7) & ~(size_t)7;
	struct arena_chunk *c = doc->chunks;
	if (c == NULL || c->size - c->used < sz) {
		size_t csz = sz > ARENA_BIG ? sz : ARENA_CHUNK;
		struct arena_chunk *n = skynet_malloc(sizeof(*n) + csz);
		if (n == NULL)
			luaL_error(L, "sharetree: out of memory (%d bytes)", (int)csz);
		n->size = csz;
		n->used = 0;
		doc->bytes += sizeof(*n) + csz;
		if (sz > ARENA_BIG && c != NULL) { /* keep filling the current chunk */
			n->next = c->next;
			c->next = n;
		} else {
			n->next = c;
			doc->chunks = n;
		}
		c = n;
	}
	void *p = (char *)c->data + c->used;
	c->used += sz;
	memset(p, 0, sz);
	return p;
}

/* ---- hashing and comparing keys --------------------------------------------------- */

uint32_t stree_strhash(const char *s, size_t len) {
	uint32_t h = (uint32_t)len;
	size_t step = (len >> 5) + 1;
	for (size_t i = len; i >= step; i -= step)
		h = h ^ ((h << 5) + (h >> 2) + (uint8_t)s[i - 1]);
	return h;
}

static uint32_t fold64(uint64_t u) { return (uint32_t)(u ^ (u >> 32)); }

/* Integers in int32 range hash as upstream (the key as uint32); wider
 * ones fold their high half in instead of being truncated. */
static uint32_t int_hash(lua_Integer k) {
	if (k >= INT32_MIN && k <= INT32_MAX)
		return (uint32_t)k;
	return fold64((uint64_t)k);
}

static uint32_t key_hash(const struct stree_value *k) {
	switch (k->type) {
	case STREE_INTEGER:
		return int_hash(k->u.i);
	case STREE_STRING:
		return k->u.s->hash;
	case STREE_BOOLEAN:
		return (uint32_t)k->u.b;
	case STREE_REAL: {
		uint64_t u;
		memcpy(&u, &k->u.r, sizeof(u));
		return fold64(u);
	}
	case STREE_TABLE:
		return k->u.t->index * 2654435761u;
	case STREE_CFUNCTION:
		return fold64((uint64_t)(uintptr_t)k->u.f);
	default: /* FUNCTION (its dump), LIGHTUD */
		return fold64((uint64_t)(uintptr_t)k->u.p);
	}
}

/* Keys of one document: strings are interned, so pointers compare. */
static int key_same(const struct stree_value *a, const struct stree_value *b) {
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case STREE_INTEGER:
		return a->u.i == b->u.i;
	case STREE_REAL:
		return a->u.r == b->u.r;
	case STREE_BOOLEAN:
		return a->u.b == b->u.b;
	case STREE_CFUNCTION:
		return a->u.f == b->u.f;
	default:
		return a->u.p == b->u.p;
	}
}

/* ---- building --------------------------------------------------------------------- */

struct builder {
	lua_State *L;
	struct stree_doc *doc;
	enum stree_mode mode;
	int strings; /* stack index: Lua string -> light userdata stree_string */
	int visited; /* stack index: table or function -> light userdata */
	int depth;
};

#define GUARD_META "skynet.sharetree.guard"

/* A build in progress: frees the document if the build raised. */
static int guard_gc(lua_State *L) {
	struct stree_doc **g = luaL_checkudata(L, 1, GUARD_META);
	if (*g) {
		doc_free(*g);
		*g = NULL;
	}
	return 0;
}

static const struct stree_string *intern(struct builder *b, int idx) {
	lua_State *L = b->L;
	lua_pushvalue(L, idx);
	if (lua_rawget(L, b->strings) == LUA_TLIGHTUSERDATA) {
		const struct stree_string *s = lua_touserdata(L, -1);
		lua_pop(L, 1);
		return s;
	}
	lua_pop(L, 1);
	size_t len;
	const char *src = lua_tolstring(L, idx, &len);
	if (len > UINT32_MAX - 16)
		luaL_error(L, "sharetree: string too long (%d bytes)", (int)len);
	struct stree_string *s = arena_alloc(L, b->doc, sizeof(*s) + len + 1);
	s->len = (uint32_t)len;
	s->hash = stree_strhash(src, len);
	memcpy(s->data, src, len);
	lua_pushvalue(L, idx);
	lua_pushlightuserdata(L, s);
	lua_rawset(L, b->strings);
	return s;
}

struct dumpbuf {
	char *p;
	size_t n, cap;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
	(void)L;
	struct dumpbuf *d = ud;
	if (d->n + sz > d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		while (cap < d->n + sz)
			cap *= 2;
		char *np = skynet_realloc(d->p, cap);
		if (np == NULL)
			return 1;
		d->p = np;
		d->cap = cap;
	}
	memcpy(d->p + d->n, p, sz);
	d->n += sz;
	return 0;
}

/* A Lua function without upvalues becomes its string.dump bytes (kept
 * with debug information, so errors in it name their lines). */
static const struct stree_string *dump_function(struct builder *b, int idx) {
	lua_State *L = b->L;
	lua_Debug ar;
	lua_pushvalue(L, idx);
	lua_getinfo(L, ">u", &ar);
	if (ar.nups > 0)
		luaL_error(L, "Invalid function with upvalue");
	struct dumpbuf d = {NULL, 0, 0};
	lua_pushvalue(L, idx);
	int r = lua_dump(L, dump_writer, &d, 0);
	lua_pop(L, 1);
	if (r != 0) {
		skynet_free(d.p);
		luaL_error(L, "sharetree: cannot dump a function");
	}
	struct stree_string *s = arena_alloc(L, b->doc, sizeof(*s) + d.n + 1);
	s->len = (uint32_t)d.n;
	memcpy(s->data, d.p, d.n);
	skynet_free(d.p);
	return s;
}

static const struct stree_table *build_table(struct builder *b, int idx);

static void convert_value(struct builder *b, int idx, struct stree_value *v) {
	lua_State *L = b->L;
	int t = lua_type(L, idx);
	switch (t) {
	case LUA_TNIL:
		v->type = STREE_NIL;
		return;
	case LUA_TBOOLEAN:
		v->type = STREE_BOOLEAN;
		v->u.b = lua_toboolean(L, idx);
		return;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			v->type = STREE_INTEGER;
			v->u.i = lua_tointeger(L, idx);
		} else {
			v->type = STREE_REAL;
			v->u.r = lua_tonumber(L, idx);
		}
		return;
	case LUA_TSTRING:
		v->type = STREE_STRING;
		v->u.s = intern(b, idx);
		return;
	case LUA_TTABLE:
		v->type = STREE_TABLE;
		lua_pushvalue(L, idx);
		if (lua_rawget(L, b->visited) == LUA_TLIGHTUSERDATA) {
			v->u.t = lua_touserdata(L, -1);
			lua_pop(L, 1);
		} else {
			lua_pop(L, 1);
			v->u.t = build_table(b, lua_absindex(L, idx));
		}
		return;
	case LUA_TFUNCTION:
		if (b->mode == STREE_MODE_SHAREDATA)
			break;
		if (lua_iscfunction(L, idx)) {
			if (lua_getupvalue(L, idx, 1) != NULL)
				luaL_error(L, "Invalid function with upvalue");
			v->type = STREE_CFUNCTION;
			v->u.f = lua_tocfunction(L, idx);
			return;
		}
		v->type = STREE_FUNCTION;
		lua_pushvalue(L, idx);
		if (lua_rawget(L, b->visited) == LUA_TLIGHTUSERDATA) {
			v->u.s = lua_touserdata(L, -1);
			lua_pop(L, 1);
		} else {
			lua_pop(L, 1);
			v->u.s = dump_function(b, idx);
			lua_pushvalue(L, idx);
			lua_pushlightuserdata(L, (void *)v->u.s);
			lua_rawset(L, b->visited);
		}
		return;
	case LUA_TLIGHTUSERDATA:
		if (b->mode == STREE_MODE_SHAREDATA)
			break;
		v->type = STREE_LIGHTUD;
		v->u.p = lua_touserdata(L, idx);
		return;
	default:
		break;
	}
	if (b->mode == STREE_MODE_SHAREDATA)
		luaL_error(L, "Unsupport value type %s", lua_typename(L, t));
	luaL_error(L, "Invalid type [%s]", lua_typename(L, t));
}

static void convert_key(struct builder *b, int idx, struct stree_value *k) {
	lua_State *L = b->L;
	int t = lua_type(L, idx);
	if (b->mode == STREE_MODE_SHAREDATA) {
		if (t == LUA_TNUMBER && !lua_isinteger(L, idx))
			luaL_error(L, "Invalid key %f", lua_tonumber(L, idx));
		if (t != LUA_TNUMBER && t != LUA_TSTRING)
			luaL_error(L, "Invalid key type %s", lua_typename(L, t));
	}
	convert_value(b, idx, k);
}

static int in_array(lua_State *L, int idx, lua_Unsigned n) {
	if (!lua_isinteger(L, idx))
		return 0;
	lua_Integer k = lua_tointeger(L, idx);
	return k >= 1 && (lua_Unsigned)k <= n;
}

/* The table at (absolute) idx, not visited yet. */
static const struct stree_table *build_table(struct builder *b, int idx) {
	lua_State *L = b->L;
	if (++b->depth > STREE_MAX_DEPTH)
		luaL_error(L, "sharetree: tables nested deeper than %d levels", STREE_MAX_DEPTH);
	luaL_checkstack(L, 8, NULL);
	if (b->mode == STREE_MODE_SHARETABLE && lua_getmetatable(L, idx))
		luaL_error(L, "Can't share metatable");
	struct stree_table *t = arena_alloc(L, b->doc, sizeof(*t));
	t->index = b->doc->ntables++;
	lua_pushvalue(L, idx);
	lua_pushlightuserdata(L, t);
	lua_rawset(L, b->visited);

	lua_Unsigned n = lua_rawlen(L, idx);
	if (n > UINT32_MAX / 2)
		luaL_error(L, "sharetree: array too large");
	lua_Unsigned nhash = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (!in_array(L, -1, n))
			nhash++;
	}
	t->sizearray = (uint32_t)n;
	t->sizehash = (uint32_t)nhash;
	if (n)
		t->array = arena_alloc(L, b->doc, n * sizeof(struct stree_value));
	if (nhash) {
		t->hash = arena_alloc(L, b->doc, nhash * sizeof(struct stree_node));
		for (lua_Unsigned i = 0; i < nhash; i++)
			t->hash[i].next = -1;
	}
	/* pass 1: array values, and hash keys that get their main slot */
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (in_array(L, -2, n)) {
			convert_value(b, lua_gettop(L), &t->array[lua_tointeger(L, -2) - 1]);
		} else {
			struct stree_value k;
			convert_key(b, lua_gettop(L) - 1, &k);
			struct stree_node *node = &t->hash[key_hash(&k) % nhash];
			if (node->key.type == STREE_NIL) {
				node->key = k;
				convert_value(b, lua_gettop(L), &node->value);
			}
		}
		lua_pop(L, 1);
	}
	/* pass 2: the others, in the lowest free slot, chained after the main one */
	uint32_t cursor = 0;
	lua_pushnil(L);
	while (nhash && lua_next(L, idx)) {
		if (!in_array(L, -2, n)) {
			struct stree_value k;
			convert_key(b, lua_gettop(L) - 1, &k);
			struct stree_node *mainnode = &t->hash[key_hash(&k) % nhash];
			if (!key_same(&mainnode->key, &k)) {
				while (t->hash[cursor].key.type != STREE_NIL)
					cursor++;
				struct stree_node *node = &t->hash[cursor];
				node->key = k;
				convert_value(b, lua_gettop(L), &node->value);
				node->next = mainnode->next;
				mainnode->next = (int32_t)cursor;
			}
		}
		lua_pop(L, 1);
	}
	if (nhash == 0)
		lua_pop(L, 1); /* the nil key pass 2 did not start from */
	b->depth--;
	return t;
}

struct stree_doc *stree_build(lua_State *L, int idx, enum stree_mode mode) {
	idx = lua_absindex(L, idx);
	luaL_checkstack(L, 16, NULL);
	if (mode == STREE_MODE_SHARETABLE && lua_type(L, idx) != LUA_TTABLE)
		luaL_error(L, "Not a table, it's a %s.", luaL_typename(L, idx));
	luaL_checktype(L, idx, LUA_TTABLE);
	struct stree_doc **guard = lua_newuserdatauv(L, sizeof(*guard), 0);
	*guard = NULL;
	if (luaL_newmetatable(L, GUARD_META)) {
		lua_pushcfunction(L, guard_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	struct stree_doc *doc = skynet_malloc(sizeof(*doc));
	if (doc == NULL)
		luaL_error(L, "sharetree: out of memory");
	memset(doc, 0, sizeof(*doc));
	atomic_init(&doc->ref, 1);
	atomic_init(&doc->dirty, 0);
	*guard = doc;
	lua_newtable(L);
	lua_newtable(L);
	struct builder b = {L, doc, mode, lua_absindex(L, -2), lua_absindex(L, -1), 0};
	doc->root = build_table(&b, idx);
	*guard = NULL;
	lua_pop(L, 3);
	return doc;
}

/* ---- lifetime --------------------------------------------------------------------- */

void stree_retain(struct stree_doc *doc) { atomic_fetch_add_explicit(&doc->ref, 1, memory_order_relaxed); }

void stree_release(struct stree_doc *doc) {
	if (atomic_fetch_sub_explicit(&doc->ref, 1, memory_order_acq_rel) == 1)
		doc_free(doc);
}

const struct stree_table *stree_root(const struct stree_doc *doc) { return doc->root; }
uint32_t stree_ntables(const struct stree_doc *doc) { return doc->ntables; }
size_t stree_bytes(const struct stree_doc *doc) { return doc->bytes; }
void stree_setdirty(struct stree_doc *doc) { atomic_store(&doc->dirty, 1); }
int stree_isdirty(const struct stree_doc *doc) { return atomic_load(&((struct stree_doc *)doc)->dirty); }

/* ---- reading ---------------------------------------------------------------------- */

const struct stree_value *stree_get_int(const struct stree_table *t, lua_Integer k) {
	if (k >= 1 && (lua_Unsigned)k <= t->sizearray) {
		const struct stree_value *v = &t->array[k - 1];
		return v->type == STREE_NIL ? NULL : v;
	}
	if (t->sizehash == 0)
		return NULL;
	int32_t i = (int32_t)(int_hash(k) % t->sizehash);
	do {
		const struct stree_node *n = &t->hash[i];
		if (n->key.type == STREE_INTEGER && n->key.u.i == k)
			return &n->value;
		i = n->next;
	} while (i >= 0);
	return NULL;
}

const struct stree_value *stree_get_str(const struct stree_table *t, const char *s, size_t len) {
	if (t->sizehash == 0)
		return NULL;
	uint32_t h = stree_strhash(s, len);
	int32_t i = (int32_t)(h % t->sizehash);
	do {
		const struct stree_node *n = &t->hash[i];
		if (n->key.type == STREE_STRING) {
			const struct stree_string *ks = n->key.u.s;
			if (ks->hash == h && ks->len == len && memcmp(ks->data, s, len) == 0)
				return &n->value;
		}
		i = n->next;
	} while (i >= 0);
	return NULL;
}

static const struct stree_node *find_node(const struct stree_table *t, const struct stree_value *key) {
	if (t->sizehash == 0)
		return NULL;
	int32_t i = (int32_t)(key_hash(key) % t->sizehash);
	do {
		const struct stree_node *n = &t->hash[i];
		if (key->type == STREE_STRING) {
			if (n->key.type == STREE_STRING) {
				const struct stree_string *a = n->key.u.s, *b = key->u.s;
				if (a == b || (a->hash == b->hash && a->len == b->len && memcmp(a->data, b->data, a->len) == 0))
					return n;
			}
		} else if (key_same(&n->key, key)) {
			return n;
		}
		i = n->next;
	} while (i >= 0);
	return NULL;
}

const struct stree_value *stree_get(const struct stree_table *t, const struct stree_value *key) {
	if (key->type == STREE_INTEGER)
		return stree_get_int(t, key->u.i);
	if (key->type == STREE_NIL)
		return NULL;
	const struct stree_node *n = find_node(t, key);
	return n ? &n->value : NULL;
}

int stree_next(const struct stree_table *t, uint32_t *pos, struct stree_value *key,
               const struct stree_value **value) {
	uint32_t i = *pos;
	for (; i < t->sizearray; i++) {
		if (t->array[i].type != STREE_NIL) {
			key->type = STREE_INTEGER;
			key->u.i = (lua_Integer)i + 1;
			*value = &t->array[i];
			*pos = i + 1;
			return 1;
		}
	}
	uint32_t h = i - t->sizearray;
	if (h < t->sizehash) { /* no spare slots: every node is an entry */
		*key = t->hash[h].key;
		*value = &t->hash[h].value;
		*pos = i + 1;
		return 1;
	}
	*pos = i;
	return 0;
}

uint32_t stree_after(const struct stree_table *t, const struct stree_value *v) {
	if (t->sizearray > 0 && v >= t->array && v < t->array + t->sizearray) /* array may be NULL */
		return (uint32_t)(v - t->array) + 1;
	const struct stree_node *n = (const struct stree_node *)((const char *)v - offsetof(struct stree_node, value));
	return t->sizearray + (uint32_t)(n - t->hash) + 1;
}

const struct stree_value *stree_lookup(lua_State *L, const struct stree_table *t, int kidx,
                                       const struct stree_table *keytable) {
	struct stree_value k;
	switch (lua_type(L, kidx)) {
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, kidx, &len);
		return stree_get_str(t, s, len);
	}
	case LUA_TNUMBER: {
		int isint;
		lua_Integer i = lua_tointegerx(L, kidx, &isint);
		if (isint)
			return stree_get_int(t, i);
		k.type = STREE_REAL;
		k.u.r = lua_tonumber(L, kidx);
		break;
	}
	case LUA_TBOOLEAN:
		k.type = STREE_BOOLEAN;
		k.u.b = lua_toboolean(L, kidx);
		break;
	case LUA_TLIGHTUSERDATA:
		k.type = STREE_LIGHTUD;
		k.u.p = lua_touserdata(L, kidx);
		break;
	case LUA_TFUNCTION:
		if (!lua_iscfunction(L, kidx))
			return NULL;
		k.type = STREE_CFUNCTION;
		k.u.f = lua_tocfunction(L, kidx);
		break;
	case LUA_TTABLE:
		if (keytable == NULL)
			return NULL;
		k.type = STREE_TABLE;
		k.u.t = keytable;
		break;
	default:
		return NULL;
	}
	const struct stree_node *n = find_node(t, &k);
	return n ? &n->value : NULL;
}

int stree_push_scalar(lua_State *L, const struct stree_value *v) {
	switch (v->type) {
	case STREE_NIL:
		lua_pushnil(L);
		return 1;
	case STREE_BOOLEAN:
		lua_pushboolean(L, v->u.b);
		return 1;
	case STREE_INTEGER:
		lua_pushinteger(L, v->u.i);
		return 1;
	case STREE_REAL:
		lua_pushnumber(L, v->u.r);
		return 1;
	case STREE_STRING:
		lua_pushlstring(L, v->u.s->data, v->u.s->len);
		return 1;
	case STREE_LIGHTUD:
		lua_pushlightuserdata(L, v->u.p);
		return 1;
	case STREE_CFUNCTION:
		lua_pushcfunction(L, v->u.f);
		return 1;
	default:
		return 0;
	}
}

void stree_remap(const struct stree_doc *from, const struct stree_doc *to, const struct stree_table **map) {
	uint32_t n = from->ntables;
	memset(map, 0, n * sizeof(*map));
	if (n == 0)
		return;
	/* depth-first over mapped tables; each is pushed once, so n slots do */
	const struct stree_table **stack = skynet_malloc(n * sizeof(*stack));
	if (stack == NULL)
		return; /* nothing maps: readers of the old version see removed tables */
	uint32_t top = 0;
	map[from->root->index] = to->root;
	stack[top++] = from->root;
	while (top > 0) {
		const struct stree_table *ot = stack[--top];
		const struct stree_table *nt = map[ot->index];
		uint32_t pos = 0;
		struct stree_value k;
		const struct stree_value *v;
		while (stree_next(ot, &pos, &k, &v)) {
			if (v->type != STREE_TABLE || map[v->u.t->index] != NULL)
				continue;
			const struct stree_value *nv = stree_get(nt, &k);
			if (nv && nv->type == STREE_TABLE) {
				map[v->u.t->index] = nv->u.t;
				stack[top++] = v->u.t;
			}
		}
	}
	skynet_free(stack);
}

/* ---- Lua bindings of document references ------------------------------ */

struct stree_doc *stree_checkdoc(lua_State *L, int idx) {
	luaL_checktype(L, idx, LUA_TLIGHTUSERDATA);
	struct stree_doc *doc = lua_touserdata(L, idx);
	if (doc == NULL)
		luaL_argerror(L, idx, "NULL document");
	return doc;
}

int stree_l_retain(lua_State *L) {
	stree_retain(stree_checkdoc(L, 1));
	return 0;
}

int stree_l_release(lua_State *L) {
	stree_release(stree_checkdoc(L, 1));
	return 0;
}

int stree_l_stat(lua_State *L) {
	struct stree_doc *doc = stree_checkdoc(L, 1);
	lua_pushinteger(L, (lua_Integer)stree_bytes(doc));
	lua_pushinteger(L, (lua_Integer)stree_ntables(doc));
	return 2;
}
