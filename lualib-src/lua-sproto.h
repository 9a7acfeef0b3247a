/*
 * lua-sproto.h -- shared declarations of sproto.core (luaclib/sproto.so),
 * the C half of the sproto schema/RPC library (spec: api-sproto.md).
 *
 * Pieces, lowest first (each depends only on the ones above it):
 *   lua-sproto-schema.c   binary schema ("bin") reader, the type model,
 *                         name/tag lookups, dumpproto's listing; plain C
 *   lua-sproto-pack.c     0-packing (pack/unpack); plain C
 *   lua-sproto-buf.c      growable scratch buffers owned by Lua userdata
 *   lua-sproto-names.c    a per-state cache of field names as Lua strings
 *   lua-sproto-encode.c   Lua table -> wire bytes
 *   lua-sproto-decode.c   wire bytes -> Lua table; a type's defaults
 *   lua-sproto.c          the Lua binding and the 16 process-wide slots
 *
 * The library uses only the Lua C API, never the skynet core, so the same
 * sproto.so loads in a node's services and in the stand-alone lua5.4
 * interpreter (examples/client.lua).
 *
 * A loaded schema is immutable: after sproto_schema_load returns, any
 * number of threads may read it without locks.
 */
#ifndef LUA_SPROTO_H
#define LUA_SPROTO_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- limits (the numbers that bound what a message or a schema may do) -- */

/* The largest value a u16 record can carry inline: (v+1)*2 <= 0xfffe.  Also
 * the largest field tag, protocol tag and decimal precision of a bin. */
#define SPROTO_MAX_INLINE 0x7ffe
/* Nested tables deeper than this fail with "The table is too deep" (both
 * ways), so neither a Lua value nor hostile bytes exhaust the C stack. */
#define SPROTO_MAX_DEPTH 64
/* An encoded message may not exceed this (spec §3.4). */
#define SPROTO_MAX_SIZE (16 * 1024 * 1024)
/* Number of process-wide schema slots of sprotoloader (spec §5.3). */
#define SPROTO_SLOTS 16

/* ---- type model ---------------------------------------------------------- */

/* A field's value kind; the first four are the bin's "buildin" codes. */
enum sproto_kind {
	SPROTO_TINTEGER = 0,
	SPROTO_TBOOLEAN = 1,
	SPROTO_TSTRING = 2,
	SPROTO_TDOUBLE = 3,
	SPROTO_TSTRUCT = 4,
};

struct sproto_type;

struct sproto_field {
	const char *name;
	int tag;                 /* 0..SPROTO_MAX_INLINE, ascending in a type */
	int kind;                /* enum sproto_kind */
	bool array;
	bool binary;             /* string flagged binary: same wire form */
	bool map;                /* *T(): Lua {[key] = value} */
	int key;                 /* main-index/map key tag, -1 if none */
	int decimal;             /* N of integer(N); 0 = plain integer */
	double scale;            /* 10^decimal */
	struct sproto_type *st;  /* the struct (or element) type, kind STRUCT */
	/* For main-index arrays: the element's key field; for maps also the
	 * value field.  NULL when the bin names no usable field: encoding or
	 * decoding such an array then fails with the upstream message. */
	const struct sproto_field *keyfield;
	const struct sproto_field *valuefield;
};

struct sproto_type {
	const char *name;
	int n;                       /* fields, sorted by tag */
	struct sproto_field *f;
	lua_Integer serial;          /* unique per loaded type, process-wide */
};

struct sproto_protocol {
	const char *name;
	int tag;
	struct sproto_type *request;   /* NULL: no request */
	struct sproto_type *response;  /* NULL: no response type */
	bool confirm;                  /* `response nil` (no response type) */
};

struct sproto;  /* opaque: a loaded schema */

/* lua-sproto-schema.c */

/* Loads a bin.  Returns NULL and sets *why (a static string) when the
 * bytes are not a valid bin; never reads outside [bin, bin+sz). */
struct sproto *sproto_schema_load(const void *bin, size_t sz, const char **why);
void sproto_schema_free(struct sproto *s);
struct sproto_type *sproto_schema_type(const struct sproto *s, const char *name);
const struct sproto_protocol *sproto_schema_protocol_bytag(const struct sproto *s, lua_Integer tag);
const struct sproto_protocol *sproto_schema_protocol_byname(const struct sproto *s, const char *name);
/* Writes the listing of spec §2.5 (what dumpproto prints). */
void sproto_schema_dump(const struct sproto *s, FILE *out);

/* ---- the record reader, shared by the bin loader and the decoder -------- */

/* Walks one struct encoding: u16 fn, fn u16 records, then the data part
 * (u32 length + bytes per data record, in record order). */
struct sproto_reader {
	const uint8_t *rec;    /* next record */
	const uint8_t *data;   /* next data chunk */
	const uint8_t *end;    /* end of the bytes we were given */
	int left;              /* records not read yet */
	long tag;              /* running tag of the last record (-1 before) */
};

/* One field record: an inline value, or a data chunk. */
struct sproto_record {
	long tag;
	int value;                 /* >= 0: inline value; -1: data chunk */
	const uint8_t *chunk;
	uint32_t len;
};

static inline uint16_t sproto_u16(const uint8_t *p) {
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t sproto_u32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Returns false when sz cannot hold the header it announces. */
static inline bool sproto_reader_init(struct sproto_reader *r, const uint8_t *p, size_t sz) {
	if (sz < 2)
		return false;
	int fn = sproto_u16(p);
	if ((size_t)fn * 2 > sz - 2)
		return false;
	r->rec = p + 2;
	r->data = p + 2 + fn * 2;
	r->end = p + sz;
	r->left = fn;
	r->tag = -1;
	return true;
}

/* Next field record: 1 and *out filled, 0 at the end, -1 when a data
 * chunk runs past the bytes (skip records are consumed silently). */
static inline int sproto_reader_next(struct sproto_reader *r, struct sproto_record *out) {
	while (r->left > 0) {
		int v = sproto_u16(r->rec);
		r->rec += 2;
		r->left--;
		r->tag++;
		if (v & 1) {
			r->tag += (v - 1) / 2; /* skip (v-1)/2 more tags */
			continue;
		}
		out->tag = r->tag;
		if (v > 0) {
			out->value = v / 2 - 1;
			out->chunk = NULL;
			out->len = 0;
			return 1;
		}
		if (r->end - r->data < 4)
			return -1;
		uint32_t len = sproto_u32(r->data);
		if ((size_t)(r->end - r->data) - 4 < len)
			return -1;
		out->value = -1;
		out->chunk = r->data + 4;
		out->len = len;
		r->data += 4 + (size_t)len;
		return 1;
	}
	return 0;
}

/* ---- 0-packing (lua-sproto-pack.c) ------------------------------------- */

/* Largest possible packed size of n bytes. */
size_t sproto_pack_bound(size_t n);
/* Packs n bytes of src into dst (sproto_pack_bound(n) bytes); returns the
 * packed size. */
size_t sproto_pack(const uint8_t *src, size_t n, uint8_t *dst);
/* Size unpack would produce, or -1 if src is not a whole packed stream. */
long long sproto_unpack_size(const uint8_t *src, size_t n);
/* Unpacks a stream sproto_unpack_size accepted into dst (that many bytes). */
void sproto_unpack(const uint8_t *src, size_t n, uint8_t *dst);

/* ---- scratch buffers (lua-sproto-buf.c) --------------------------------- */

/* A growable byte buffer whose block belongs to a full userdata on the Lua
 * stack (freed by its __gc), so a Lua error raised half-way leaks nothing.
 * Memory comes from the state's allocator and counts towards the owning
 * service's memory. */
struct sproto_buf {
	lua_State *L;
	uint8_t *ptr;
	size_t len;
	size_t cap;
	void *box;         /* the userdata */
};

/* Pushes a new empty box userdata. */
void sproto_box_push(lua_State *L);
/* Wraps the box at stack index idx (a value sproto_box_push made). */
void sproto_buf_init(struct sproto_buf *b, lua_State *L, int idx);
/* Makes room for n more bytes; raises "object is too large" past the
 * limit and a memory error when the allocator fails. */
void sproto_buf_grow(struct sproto_buf *b, size_t n);

static inline uint8_t *sproto_buf_need(struct sproto_buf *b, size_t n) {
	if (b->cap - b->len < n || b->ptr == NULL) /* never a NULL block, even for 0 bytes */
		sproto_buf_grow(b, n);
	return b->ptr + b->len;
}

/* ---- field names as Lua strings (lua-sproto-names.c) --------------------- */

/* Pushes a new (weak) names cache. */
void sproto_names_new(lua_State *L);
/* Pushes the table {[i] = name of field i-1} of st, from the cache at
 * stack index `cache` (absolute); returns its stack index. */
int sproto_names_push(lua_State *L, int cache, const struct sproto_type *st);

/* ---- encode / decode / default ------------------------------------------ */

/* Appends the encoding of the struct at stack index idx as type st;
 * raises a Lua error naming the type and field on a bad value. */
void sproto_encode_struct(struct sproto_buf *b, const struct sproto_type *st, int idx);

/* Decodes a struct of type st from [p, p+sz) into the table at stack index
 * tidx; trailing bytes are allowed.  `names` is the stack index of a names
 * cache.  Fields are set raw when `raw`, else
 * with metamethods (a table the caller passed in).  Returns the bytes
 * consumed; raises "decode error: ..." on bad bytes. */
size_t sproto_decode_struct(lua_State *L, const struct sproto_type *st, const uint8_t *p, size_t sz, int tidx, int names, bool raw);

/* Pushes the defaults table of st (spec §5.1, sp:default). */
void sproto_push_default(lua_State *L, const struct sproto_type *st);

#endif
