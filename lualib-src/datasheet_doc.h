/*
 * datasheet_doc.h -- the binary document of skynet.datasheet (spec
 * api-shared-data.md §5.4): checking bytes that came from anywhere, reading
 * a checked document, and renumbering a new version's tables against the
 * version before it.  Pure C, no Lua: lua-datasheet.c puts it behind the
 * Lua API, fuzz/fuzz_datasheet.c feeds it garbage.
 *
 * Layout (all integers u32 little-endian):
 *   strtbl_offset, n, index[n] (offset of table i from the end of index[],
 *   DSDOC_ABSENT = no such table), the tables, then the string area (each
 *   string followed by a NUL).  A table: narray, ndict, one type byte per
 *   entry padded to a multiple of 4, narray values, ndict (key string
 *   offset, value) pairs.
 *
 * dsdoc_check is the only place a length is trusted or not: once it
 * accepted a document, every accessor below reads in bounds without
 * further checks.
 */
#ifndef SKYNET_DATASHEET_DOC_H
#define SKYNET_DATASHEET_DOC_H

#include <stddef.h>
#include <stdint.h>

enum dsdoc_type {
	DSDOC_NIL = 0,
	DSDOC_INTEGER = 1, /* int32 */
	DSDOC_REAL = 2,    /* IEEE binary32 */
	DSDOC_BOOLEAN = 3, /* any non-zero u32 is true */
	DSDOC_TABLE = 4,   /* u32 table index */
	DSDOC_STRING = 5,  /* u32 offset into the string area */
};

#define DSDOC_ABSENT 0xFFFFFFFFu
#define DSDOC_HEADER 8 /* strtbl_offset and n */

/* A view on checked bytes (it does not own them). */
struct dsdoc {
	const uint8_t *p;
	size_t len;
	uint32_t ntables;
	uint32_t strtbl;
};

/* One table of a checked document. */
struct dsdoc_table {
	uint32_t narray;
	uint32_t ndict;
	const uint8_t *type;  /* narray + ndict bytes: array entries, then dict entries */
	const uint8_t *array; /* narray u32 values */
	const uint8_t *dict;  /* ndict (u32 key offset, u32 value) pairs */
};

struct dsdoc_value {
	uint8_t type;
	uint32_t raw; /* the u32 as stored */
};

/* Checks len bytes at p and fills d.  Returns NULL, or why the bytes are
 * not a document (d is then unusable).  O(len): at most one pass over
 * each table body, and the bodies together may not be larger than their
 * area.  Requires a root table (index 0) and a string area that ends with
 * a NUL, so every string offset below it is terminated. */
const char *dsdoc_check(struct dsdoc *d, const void *p, size_t len);

/* Table `index` of d: 1 and t filled, or 0 when there is no such table
 * (out of range or DSDOC_ABSENT). */
int dsdoc_table(const struct dsdoc *d, uint32_t index, struct dsdoc_table *t);

struct dsdoc_value dsdoc_array(const struct dsdoc_table *t, uint32_t i);
struct dsdoc_value dsdoc_dictvalue(const struct dsdoc_table *t, uint32_t i);
/* The key of dict entry i, and its length (up to its NUL). */
const char *dsdoc_dictkey(const struct dsdoc *d, const struct dsdoc_table *t, uint32_t i, size_t *len);
/* A DSDOC_STRING value's bytes and length. */
const char *dsdoc_string(const struct dsdoc *d, uint32_t offset, size_t *len);
int32_t dsdoc_integer(struct dsdoc_value v);
float dsdoc_real(struct dsdoc_value v);

/* Renumbers `next` against `prev` (both checked), as builder.update does:
 * every table of next reached from the root by the same key path as a
 * table of prev takes prev's index, every other table a fresh index from
 * prev->ntables up, in next's index order; index slots nobody takes are
 * DSDOC_ABSENT.  Table bodies are copied in next's index order (for a
 * document of builder.compile: as they are) and strings as they are; only
 * table values and index[] change.  Returns a new buffer (skynet_malloc,
 * *outlen bytes, itself a valid document), or NULL with *err set (out of
 * memory, or too many tables for 32-bit offsets). */
uint8_t *dsdoc_renumber(const struct dsdoc *prev, const struct dsdoc *next, size_t *outlen, const char **err);

#endif
