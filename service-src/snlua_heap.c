/*
 * snlua_heap.c -- a per-service small-object allocator for Lua.
 *
 * Lua tells the allocator the size of every block it frees or resizes, so
 * small blocks (<= 256 bytes, almost every Lua object) need no header: they
 * are carved from 8 KiB blocks by bumping a pointer, and freed blocks go to
 * a free list per 8-byte size class.  Compared with glibc malloc this saves
 * the per-object header and rounding (an idle service is smaller) and the
 * arena locking (a service starts faster).  Larger blocks go to malloc.
 *
 * Known limit: small blocks a service frees are reused only by that
 * service; they return to the system when the service exits.
 */
#include "snlua_heap.h"
#include "skynet.h"

#include <string.h>

#define BLOCK_SIZE 8192

struct heap_block {
	struct heap_block *next;
	size_t pad; /* keeps the carved area 16-byte aligned */
};

void heap_init(struct snlua_heap *h) { memset(h, 0, sizeof(*h)); }

void heap_release(struct snlua_heap *h) {
	struct heap_block *b = h->blocks;
	while (b) {
		struct heap_block *next = b->next;
		skynet_free(b);
		b = next;
	}
	heap_init(h);
}

static inline int size_class(size_t sz) { return (int)((sz + HEAP_GRAIN - 1) / HEAP_GRAIN) - 1; }

static void *small_alloc(struct snlua_heap *h, size_t sz) {
	int c = size_class(sz);
	void *p = h->free[c];
	if (p) {
		h->free[c] = *(void **)p;
		return p;
	}
	size_t rsz = (size_t)(c + 1) * HEAP_GRAIN;
	if ((size_t)(h->bump_end - h->bump) < rsz) {
		/* The old block's tail (< 256 bytes) is left unused. */
		struct heap_block *b = skynet_malloc(BLOCK_SIZE);
		if (b == NULL)
			return NULL;
		b->next = h->blocks;
		h->blocks = b;
		h->bump = (char *)(b + 1);
		h->bump_end = (char *)b + BLOCK_SIZE;
	}
	p = h->bump;
	h->bump += rsz;
	return p;
}

static void small_free(struct snlua_heap *h, void *p, size_t sz) {
	int c = size_class(sz);
	*(void **)p = h->free[c];
	h->free[c] = p;
}

void *heap_realloc(struct snlua_heap *h, void *ptr, size_t osize, size_t nsize) {
	if (ptr == NULL)
		osize = 0;
	int old_small = osize > 0 && osize <= HEAP_SMALL_MAX;
	if (nsize == 0) {
		if (old_small)
			small_free(h, ptr, osize);
		else
			skynet_free(ptr);
		return NULL;
	}
	int new_small = nsize <= HEAP_SMALL_MAX;
	if (ptr == NULL)
		return new_small ? small_alloc(h, nsize) : skynet_malloc(nsize);
	if (!old_small && !new_small)
		return skynet_realloc(ptr, nsize);
	if (old_small && new_small && size_class(osize) == size_class(nsize))
		return ptr;
	void *n = new_small ? small_alloc(h, nsize) : skynet_malloc(nsize);
	if (n == NULL) /* Lua requires shrinking to succeed: keep the old block */
		return nsize <= osize ? ptr : NULL;
	memcpy(n, ptr, osize < nsize ? osize : nsize);
	if (old_small)
		small_free(h, ptr, osize);
	else
		skynet_free(ptr);
	return n;
}
