/*
 * datasheet_doc.c -- checking, reading and renumbering skynet.datasheet
 * documents (see datasheet_doc.h).
 *
 * Every multi-byte read goes through rd32 (memcpy, little-endian), so a
 * document need not be aligned: a Lua string is, a fuzzer's input is not.
 */
#include "datasheet_doc.h"
#include "sharetree.h" /* stree_strhash: one string hash for the shared-data modules */
#include "skynet_malloc.h"

#include <string.h>

static uint32_t rd32(const uint8_t *p) {
	uint32_t v;
	memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static void wr32(uint8_t *p, uint32_t v) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, 4);
}

/* Bytes of the type array, padded to a multiple of 4. */
static uint64_t types_size(uint64_t nentries) { return (nentries + 3) & ~(uint64_t)3; }

static uint64_t body_size(uint32_t narray, uint32_t ndict) {
	return 8 + types_size((uint64_t)narray + ndict) + 4 * (uint64_t)narray + 8 * (uint64_t)ndict;
}

static uint32_t tables_base(const struct dsdoc *d) { return DSDOC_HEADER + 4 * d->ntables; }

static uint32_t slot(const struct dsdoc *d, uint32_t i) { return rd32(d->p + DSDOC_HEADER + 4 * (size_t)i); }

/* Fills t from the body at offset off of the table area (already known to
 * be in bounds). */
static void table_at(const struct dsdoc *d, uint32_t off, struct dsdoc_table *t) {
	const uint8_t *b = d->p + tables_base(d) + off;
	t->narray = rd32(b);
	t->ndict = rd32(b + 4);
	t->type = b + 8;
	t->array = t->type + types_size((uint64_t)t->narray + t->ndict);
	t->dict = t->array + 4 * (size_t)t->narray;
}

/* A value's own check: its type is known and what it refers to exists. */
static const char *check_value(const struct dsdoc *d, uint8_t type, uint32_t raw) {
	switch (type) {
	case DSDOC_NIL:
	case DSDOC_INTEGER:
	case DSDOC_REAL:
	case DSDOC_BOOLEAN:
		return NULL;
	case DSDOC_TABLE:
		if (raw >= d->ntables || slot(d, raw) == DSDOC_ABSENT)
			return "a value refers to a table that does not exist";
		return NULL;
	case DSDOC_STRING:
		if (raw >= d->len - d->strtbl)
			return "a string offset is beyond the string area";
		return NULL;
	default:
		return "unknown value type";
	}
}

const char *dsdoc_check(struct dsdoc *d, const void *p, size_t len) {
	memset(d, 0, sizeof(*d));
	if (len < DSDOC_HEADER)
		return "shorter than its 8-byte header";
	const uint8_t *b = p;
	uint32_t strtbl = rd32(b), n = rd32(b + 4);
	if (strtbl >= len)
		return "string area offset beyond the end";
	if (b[len - 1] != 0)
		return "the string area does not end with a NUL";
	if (strtbl < DSDOC_HEADER || n > (strtbl - DSDOC_HEADER) / 4)
		return "table index larger than the space before the string area";
	if (n == 0)
		return "no root table";
	d->p = b;
	d->len = len;
	d->ntables = n;
	d->strtbl = strtbl;
	uint32_t area = strtbl - tables_base(d);
	if (slot(d, 0) == DSDOC_ABSENT)
		return "no root table";
	/* Pass 1: every body inside the area, and all of them together no
	 * larger than it, so pass 2 reads each byte of the area O(1) times
	 * even if a hostile document points many slots at one body. */
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = slot(d, i);
		if (off == DSDOC_ABSENT)
			continue;
		if (off > area || area - off < 8)
			return "a table starts beyond the table area";
		const uint8_t *tb = b + tables_base(d) + off;
		uint64_t size = body_size(rd32(tb), rd32(tb + 4));
		if (size > area - off)
			return "a table ends beyond the table area";
		total += size;
		if (total > area)
			return "the tables are larger than their area";
	}
	/* Pass 2: every entry's type and reference. */
	for (uint32_t i = 0; i < n; i++) {
		struct dsdoc_table t;
		if (!dsdoc_table(d, i, &t))
			continue;
		for (uint32_t j = 0; j < t.narray; j++) {
			const char *err = check_value(d, t.type[j], rd32(t.array + 4 * (size_t)j));
			if (err)
				return err;
		}
		for (uint32_t j = 0; j < t.ndict; j++) {
			const uint8_t *e = t.dict + 8 * (size_t)j;
			if (rd32(e) >= len - strtbl)
				return "a key offset is beyond the string area";
			const char *err = check_value(d, t.type[t.narray + j], rd32(e + 4));
			if (err)
				return err;
		}
	}
	return NULL;
}

int dsdoc_table(const struct dsdoc *d, uint32_t index, struct dsdoc_table *t) {
	if (index >= d->ntables)
		return 0;
	uint32_t off = slot(d, index);
	if (off == DSDOC_ABSENT)
		return 0;
	table_at(d, off, t);
	return 1;
}

struct dsdoc_value dsdoc_array(const struct dsdoc_table *t, uint32_t i) {
	struct dsdoc_value v = {t->type[i], rd32(t->array + 4 * (size_t)i)};
	return v;
}

struct dsdoc_value dsdoc_dictvalue(const struct dsdoc_table *t, uint32_t i) {
	struct dsdoc_value v = {t->type[t->narray + i], rd32(t->dict + 8 * (size_t)i + 4)};
	return v;
}

const char *dsdoc_string(const struct dsdoc *d, uint32_t offset, size_t *len) {
	const char *s = (const char *)d->p + d->strtbl + offset;
	*len = strlen(s); /* bounded: the area ends with a NUL (dsdoc_check) */
	return s;
}

const char *dsdoc_dictkey(const struct dsdoc *d, const struct dsdoc_table *t, uint32_t i, size_t *len) {
	return dsdoc_string(d, rd32(t->dict + 8 * (size_t)i), len);
}

int32_t dsdoc_integer(struct dsdoc_value v) { return (int32_t)v.raw; }

float dsdoc_real(struct dsdoc_value v) {
	float f;
	memcpy(&f, &v.raw, 4);
	return f;
}

/* ---- renumbering (builder.update) ------------------------------------------------ */

/* The table-valued dict entries of one prev table, by key: open
 * addressing over entry numbers, so matching a next table's dict against
 * it is O(entries) rather than O(entries^2). */
struct keyset {
	uint32_t *slot; /* entry + 1; 0 = empty */
	uint32_t mask;
};

static int keyset_build(struct keyset *ks, const struct dsdoc *d, const struct dsdoc_table *t) {
	uint32_t count = 0;
	for (uint32_t j = 0; j < t->ndict; j++)
		if (dsdoc_dictvalue(t, j).type == DSDOC_TABLE)
			count++;
	ks->slot = NULL;
	ks->mask = 0;
	if (count == 0)
		return 0;
	uint32_t size = 4;
	while (size < 2 * (uint64_t)count)
		size *= 2;
	ks->slot = skynet_calloc(size, sizeof(uint32_t));
	if (ks->slot == NULL)
		return -1;
	ks->mask = size - 1;
	for (uint32_t j = 0; j < t->ndict; j++) {
		if (dsdoc_dictvalue(t, j).type != DSDOC_TABLE)
			continue;
		size_t len;
		const char *k = dsdoc_dictkey(d, t, j, &len);
		uint32_t h = stree_strhash(k, len) & ks->mask;
		while (ks->slot[h])
			h = (h + 1) & ks->mask;
		ks->slot[h] = j + 1;
	}
	return 0;
}

/* The prev table index at key k (len bytes), or DSDOC_ABSENT.  A key that
 * appears twice (only in a foreign document) matches its first entry. */
static uint32_t keyset_find(const struct keyset *ks, const struct dsdoc *d, const struct dsdoc_table *t,
                            const char *k, size_t len) {
	if (ks->slot == NULL)
		return DSDOC_ABSENT;
	uint32_t h = stree_strhash(k, len) & ks->mask;
	uint32_t best = DSDOC_ABSENT, bestj = 0;
	for (; ks->slot[h]; h = (h + 1) & ks->mask) {
		uint32_t j = ks->slot[h] - 1;
		size_t klen;
		const char *key = dsdoc_dictkey(d, t, j, &klen);
		if (klen == len && memcmp(key, k, len) == 0 && (best == DSDOC_ABSENT || j < bestj)) {
			best = dsdoc_dictvalue(t, j).raw;
			bestj = j;
		}
	}
	return best;
}

struct pair {
	uint32_t next, prev;
};

/* map[i] = prev index of next table i, for the tables reached by the same
 * path; each table of either side is paired at most once (in a document
 * of ours every table has one path; a foreign one may share or loop). */
static int match(const struct dsdoc *prev, const struct dsdoc *next, uint32_t *map, uint8_t *used,
                 struct pair *stack) {
	size_t top = 0;
	map[0] = 0;
	used[0] = 1;
	stack[top++] = (struct pair){0, 0};
	while (top > 0) {
		struct pair p = stack[--top];
		struct dsdoc_table tn, tp;
		dsdoc_table(next, p.next, &tn);
		dsdoc_table(prev, p.prev, &tp);
		uint32_t na = tn.narray < tp.narray ? tn.narray : tp.narray;
		for (uint32_t j = 0; j < na; j++) {
			struct dsdoc_value vn = dsdoc_array(&tn, j), vp = dsdoc_array(&tp, j);
			if (vn.type == DSDOC_TABLE && vp.type == DSDOC_TABLE && map[vn.raw] == DSDOC_ABSENT &&
			    !used[vp.raw]) {
				map[vn.raw] = vp.raw;
				used[vp.raw] = 1;
				stack[top++] = (struct pair){vn.raw, vp.raw};
			}
		}
		if (tn.ndict == 0 || tp.ndict == 0)
			continue;
		struct keyset ks;
		if (keyset_build(&ks, prev, &tp) < 0)
			return -1;
		for (uint32_t j = 0; j < tn.ndict; j++) {
			struct dsdoc_value vn = dsdoc_dictvalue(&tn, j);
			if (vn.type != DSDOC_TABLE || map[vn.raw] != DSDOC_ABSENT)
				continue;
			size_t len;
			const char *k = dsdoc_dictkey(next, &tn, j, &len);
			uint32_t old = keyset_find(&ks, prev, &tp, k, len);
			if (old != DSDOC_ABSENT && !used[old]) {
				map[vn.raw] = old;
				used[old] = 1;
				stack[top++] = (struct pair){vn.raw, old};
			}
		}
		skynet_free(ks.slot);
	}
	return 0;
}

/* Copies body t (of next) to out and rewrites its table values there;
 * returns its size.  Each body gets a copy of its own, so bodies that
 * overlap in a foreign document cannot patch each other. */
static size_t copy_body(const struct dsdoc_table *t, uint8_t *out, const uint32_t *map) {
	size_t size = (size_t)body_size(t->narray, t->ndict);
	const uint8_t *start = t->type - 8;
	memcpy(out, start, size);
	for (uint32_t j = 0; j < t->narray; j++) {
		struct dsdoc_value v = dsdoc_array(t, j);
		if (v.type == DSDOC_TABLE)
			wr32(out + (t->array + 4 * (size_t)j - start), map[v.raw]);
	}
	for (uint32_t j = 0; j < t->ndict; j++) {
		struct dsdoc_value v = dsdoc_dictvalue(t, j);
		if (v.type == DSDOC_TABLE)
			wr32(out + (t->dict + 8 * (size_t)j + 4 - start), map[v.raw]);
	}
	return size;
}

uint8_t *dsdoc_renumber(const struct dsdoc *prev, const struct dsdoc *next, size_t *outlen, const char **err) {
	uint8_t *out = NULL;
	uint32_t *map = skynet_malloc(sizeof(uint32_t) * next->ntables);
	uint8_t *used = skynet_calloc(prev->ntables, 1);
	struct pair *stack = skynet_malloc(sizeof(struct pair) * next->ntables);
	*err = "out of memory";
	if (map == NULL || used == NULL || stack == NULL)
		goto done;
	for (uint32_t i = 0; i < next->ntables; i++)
		map[i] = DSDOC_ABSENT;
	if (match(prev, next, map, used, stack) < 0)
		goto done;
	uint64_t n = prev->ntables;
	for (uint32_t i = 0; i < next->ntables; i++)
		if (map[i] == DSDOC_ABSENT && slot(next, i) != DSDOC_ABSENT)
			map[i] = (uint32_t)n++;
	/* the bodies in next's index order (the order compile wrote them in) */
	uint64_t area = 0;
	for (uint32_t i = 0; i < next->ntables; i++) {
		struct dsdoc_table t;
		if (dsdoc_table(next, i, &t))
			area += body_size(t.narray, t.ndict);
	}
	uint64_t strtbl = DSDOC_HEADER + 4 * n + area;
	if (n >= DSDOC_ABSENT || strtbl > UINT32_MAX) {
		*err = "too many tables for a document";
		goto done;
	}
	size_t strings = next->len - next->strtbl;
	size_t len = (size_t)strtbl + strings;
	out = skynet_malloc(len);
	if (out == NULL)
		goto done;
	wr32(out, (uint32_t)strtbl);
	wr32(out + 4, (uint32_t)n);
	for (uint64_t i = 0; i < n; i++)
		wr32(out + DSDOC_HEADER + 4 * i, DSDOC_ABSENT);
	uint8_t *out_area = out + DSDOC_HEADER + 4 * n;
	size_t off = 0;
	for (uint32_t i = 0; i < next->ntables; i++) {
		struct dsdoc_table t;
		if (!dsdoc_table(next, i, &t))
			continue;
		wr32(out + DSDOC_HEADER + 4 * (size_t)map[i], (uint32_t)off);
		off += copy_body(&t, out_area + off, map);
	}
	memcpy(out + strtbl, next->p + next->strtbl, strings);
	*outlen = len;
	*err = NULL;
done:
	skynet_free(map);
	skynet_free(used);
	skynet_free(stack);
	return out;
}
