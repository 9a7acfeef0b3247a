// fuzz-sources: lualib-src/datasheet_doc.c lualib-src/sharetree.c
/*
 * fuzz_datasheet.c -- libFuzzer target for the skynet.datasheet document
 * code (lualib-src/datasheet_doc.c).
 *
 * The whole input is checked as a document; when dsdoc_check accepts it,
 * every table, value, key and string is read the way a reader does (ASan
 * sees any read outside the exact input bytes), and every table value must
 * name a table that exists.  The first two bytes (u16 little-endian) are
 * not part of the document: they say where to split it into a previous
 * and a next version, and when both halves are
 * accepted, dsdoc_renumber must succeed, and its output must itself be
 * accepted, keep the root at index 0 and hold as many tables as next.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasheet_doc.h"

static volatile size_t sink;

static size_t walk(const struct dsdoc *d) {
	size_t present = 0;
	for (uint32_t i = 0; i < d->ntables; i++) {
		struct dsdoc_table t;
		if (!dsdoc_table(d, i, &t))
			continue;
		present++;
		for (uint32_t j = 0; j < t.narray + t.ndict; j++) {
			struct dsdoc_value v = j < t.narray ? dsdoc_array(&t, j) : dsdoc_dictvalue(&t, j - t.narray);
			size_t len;
			if (j >= t.narray)
				sink += dsdoc_dictkey(d, &t, j - t.narray, &len)[len];
			switch (v.type) {
			case DSDOC_STRING:
				sink += dsdoc_string(d, v.raw, &len)[len];
				break;
			case DSDOC_TABLE: {
				struct dsdoc_table c;
				if (!dsdoc_table(d, v.raw, &c))
					abort(); /* checked documents refer only to tables that exist */
				break;
			}
			case DSDOC_INTEGER:
				sink += (size_t)dsdoc_integer(v);
				break;
			case DSDOC_REAL:
				sink += (size_t)(dsdoc_real(v) == 0.0f);
				break;
			default:
				break;
			}
		}
	}
	return present;
}

/* A copy of exactly len bytes, so ASan fences a slice of the input too. */
static uint8_t *dup(const uint8_t *p, size_t len) {
	uint8_t *c = malloc(len ? len : 1);
	if (len)
		memcpy(c, p, len);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 2)
		return 0;
	size_t sel = (size_t)data[0] | (size_t)data[1] << 8;
	const uint8_t *body = data + 2;
	size_t blen = size - 2;

	struct dsdoc d;
	uint8_t *whole = dup(body, blen);
	if (dsdoc_check(&d, whole, blen) == NULL)
		walk(&d);
	free(whole);

	size_t split = sel % (blen + 1);
	uint8_t *prev = dup(body, split), *next = dup(body + split, blen - split);
	struct dsdoc dp, dn;
	if (dsdoc_check(&dp, prev, split) == NULL && dsdoc_check(&dn, next, blen - split) == NULL) {
		size_t outlen;
		const char *err;
		uint8_t *out = dsdoc_renumber(&dp, &dn, &outlen, &err);
		if (out == NULL)
			abort(); /* inputs this small neither exhaust memory nor 32-bit offsets */
		struct dsdoc dout;
		if (dsdoc_check(&dout, out, outlen) != NULL)
			abort();
		struct dsdoc_table root;
		if (!dsdoc_table(&dout, 0, &root) || walk(&dout) != walk(&dn))
			abort();
		free(out);
	}
	free(prev);
	free(next);
	return 0;
}
