/*
 * sharetree.h -- an immutable tree of Lua-like tables in C memory, built
 * once from a Lua table and then read by any number of Lua states (any
 * thread) without locks and without copying.  The store behind
 * skynet.sharetable (lua-sharetable.c) and skynet.sharedata
 * (lua-sharedata.c); it knows nothing about proxies or services.
 *
 * A document (one version of one shared table) owns all its memory: the
 * tables, their array and hash parts and its strings, each string stored
 * once per document.  Table identity is kept: a Lua table reached twice
 * (or through a cycle) is one stree_table.  The only mutable fields are
 * the atomic reference count and the dirty flag.
 */
#ifndef SKYNET_SHARETREE_H
#define SKYNET_SHARETREE_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

enum stree_type {
	STREE_NIL = 0,
	STREE_BOOLEAN,
	STREE_INTEGER,
	STREE_REAL,
	STREE_STRING,
	STREE_TABLE,
	STREE_FUNCTION,  /* a Lua function without upvalues, as string.dump bytes */
	STREE_LIGHTUD,   /* a light userdata */
	STREE_CFUNCTION, /* a C function without upvalues */
};

/* What a build accepts, and which error texts it raises. */
enum stree_mode {
	STREE_MODE_SHAREDATA,  /* keys: string, integer; values: no functions */
	STREE_MODE_SHARETABLE, /* any key; functions without upvalues; no metatables */
};

struct stree_string {
	uint32_t len;
	uint32_t hash;
	char data[]; /* len bytes and a NUL */
};

struct stree_table;

struct stree_value {
	union {
		int b;
		lua_Integer i;
		lua_Number r;
		const struct stree_string *s; /* STRING and FUNCTION (the dump) */
		const struct stree_table *t;
		void *p;
		lua_CFunction f;
	} u;
	uint8_t type;
};

struct stree_node {
	struct stree_value key;
	struct stree_value value;
	int32_t next; /* next slot of the collision chain, -1 = end */
};

struct stree_table {
	uint32_t sizearray; /* keys 1..sizearray live in array[] (nil holes allowed) */
	uint32_t sizehash;  /* every other key: one node each, no spare slot */
	uint32_t index;     /* pre-order number in its document, root = 0 */
	struct stree_value *array;
	struct stree_node *hash;
};

struct stree_doc;

/* Builds a document from the table at idx of L (the result is its only
 * reference).  Raises a Lua error in L on a value the mode cannot share;
 * nothing is leaked then (the half-built document is freed by a guard's
 * __gc).  Uses a few stack slots and temporary tables of L. */
struct stree_doc *stree_build(lua_State *L, int idx, enum stree_mode mode);

void stree_retain(struct stree_doc *doc);
/* Drops one reference; the last frees the document. */
void stree_release(struct stree_doc *doc);

const struct stree_table *stree_root(const struct stree_doc *doc);
uint32_t stree_ntables(const struct stree_doc *doc);
/* Bytes of C memory the document holds. */
size_t stree_bytes(const struct stree_doc *doc);
/* sharedata marks a replaced version dirty (readers may check it). */
void stree_setdirty(struct stree_doc *doc);
int stree_isdirty(const struct stree_doc *doc);

/* Lookups: NULL when the key is absent. */
const struct stree_value *stree_get_int(const struct stree_table *t, lua_Integer k);
const struct stree_value *stree_get_str(const struct stree_table *t, const char *s, size_t len);
/* key may come from another document (strings are compared by bytes;
 * a table key matches only a table of t's own document). */
const struct stree_value *stree_get(const struct stree_table *t, const struct stree_value *key);

/* Iteration positions: 0..sizearray-1 are the array part, then the hash
 * slots.  stree_next stores the first non-nil entry at or after *pos
 * (its key copied, as array keys are not stored), advances *pos past it
 * and returns 1; 0 at the end. */
int stree_next(const struct stree_table *t, uint32_t *pos, struct stree_value *key,
               const struct stree_value **value);
/* The position just after the entry whose value is v (a pointer that a
 * lookup in t returned), for a stateless `next`. */
uint32_t stree_after(const struct stree_table *t, const struct stree_value *v);

/* Lookup by the Lua value at kidx of L: integers (and floats with an
 * integral value), other numbers, strings, booleans, light userdata and C
 * functions.  A table key must be given as the stree_table it stands for
 * (keytable, else NULL: no match).  NULL when absent. */
const struct stree_value *stree_lookup(lua_State *L, const struct stree_table *t, int kidx,
                                       const struct stree_table *keytable);
/* Pushes a value that is not a table or a Lua function and returns 1;
 * returns 0 (pushing nothing) for those two. */
int stree_push_scalar(lua_State *L, const struct stree_value *v);

/* Fills map[i] (i = table index in `from`) with the table of `to` found at
 * the same key path from the root, or NULL: the root maps to the root, and
 * a child of a mapped table at key k maps to the value at k in the mapped
 * table when both are tables.  Each table is mapped once (the first path
 * found wins), so cycles are fine.  map has stree_ntables(from) entries. */
void stree_remap(const struct stree_doc *from, const struct stree_doc *to, const struct stree_table **map);

/* The hash of upstream sharedata (it decides `pairs` order, spec §1.7). */
uint32_t stree_strhash(const char *s, size_t len);

/* Lua bindings shared by skynet.sharetable.core and skynet.sharedata.core,
 * whose services pass documents around as light userdata, each pointer
 * carrying one reference: checkdoc(L, idx) checks such an argument;
 * retain(doc), release(doc) and stat(doc) -> bytes, ntables. */
struct stree_doc *stree_checkdoc(lua_State *L, int idx);
int stree_l_retain(lua_State *L);
int stree_l_release(lua_State *L);
int stree_l_stat(lua_State *L);

#endif
