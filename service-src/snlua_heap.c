/*
 * snlua_heap.c -- a per-service small-object allocator for Lua.
 *
 * Lua tells the allocator the size of every block it frees or resizes, so
 * small blocks (<= 256 bytes, almost every Lua object) need no header: they
 * are carved from PAGES_BLOCK (2 KiB) blocks of the process-wide pool by
 * bumping a pointer, and freed ones go to a free list per 8-byte size
 * class.  Compared with glibc malloc this saves the per-object header and
 * rounding (an idle service is smaller) and the arena locking and growth
 * (a service starts faster).
 *
 * To waste less of the blocks, an allocation whose class list is empty
 * takes the smallest larger free object before carving new memory, and
 * keeps the rest of it on the matching list (best fit, no coalescing); and
 * when the newest block's tail is too short for a request, the tail goes
 * to a free list instead of being lost.
 *
 * Large blocks (> 256 bytes) go to malloc: a service frees much of what
 * it allocates in that range while it starts (stacks and tables that
 * grow, the loader's garbage), and malloc gives that memory to the next
 * service, where a per-service heap could not (the spawn benchmark measured
 * +1 kB per service with objects up to 512 bytes kept here, +15 kB with
 * objects up to 4 KiB).
 *
 * Known limit: small objects a service frees are reused only by that
 * service; they return to the pool when the service exits.
 */
#include "snlua_heap.h"
#include "skynet.h"
#include "skynet_server.h" /* skynet_node_quitting */
#include "snlua_pages.h"

#include <string.h>

/* Each block starts with the link of the heap's block list. */
#define BLOCK_HEADER sizeof(void *)

void heap_init(struct snlua_heap *h) { memset(h, 0, sizeof(*h)); }

/* While the node is quitting (skynet.abort) the process is about to exit:
 * the pool then keeps the blocks instead of trimming, which would cost a
 * madvise per service for nothing. */
void heap_release(struct snlua_heap *h) {
	pages_free(h->blocks, !skynet_node_quitting());
	heap_init(h);
}

static inline int size_class(size_t sz) { return (int)((sz + HEAP_GRAIN - 1) / HEAP_GRAIN) - 1; }

static inline size_t class_size(int c) { return (size_t)(c + 1) * HEAP_GRAIN; }

/* Adds the free object p of class c to its list.  Under ASan a free object
 * is poisoned whole; the heap unpoisons the link word only to use it. */
static inline void push_free(struct snlua_heap *h, void *p, int c) {
	PAGES_UNPOISON(p, sizeof(void *));
	*(void **)p = h->free[c];
	PAGES_POISON(p, class_size(c));
	h->free[c] = p;
	h->nonempty |= (uint32_t)1 << c;
}

static inline void *pop_free(struct snlua_heap *h, int c) {
	void *p = h->free[c];
	PAGES_UNPOISON(p, sizeof(void *));
	h->free[c] = *(void **)p;
	if (h->free[c] == NULL)
		h->nonempty &= ~((uint32_t)1 << c);
	return p;
}

/* A new block for the bump pointer; the old block's tail, too short for
 * the last request, goes to a free list. */
static int new_block(struct snlua_heap *h) {
	char *b = pages_alloc();
	if (b == NULL)
		return 0;
	size_t tail = (size_t)(h->bump_end - h->bump);
	if (tail >= HEAP_GRAIN)
		push_free(h, h->bump, size_class(tail));
	*(void **)b = h->blocks;
	h->blocks = b;
	h->bump = b + BLOCK_HEADER;
	h->bump_end = b + PAGES_BLOCK;
	PAGES_POISON(h->bump, PAGES_BLOCK - BLOCK_HEADER);
	return 1;
}

/* An object of class c: from its free list, else split from the smallest
 * larger free object, else carved from the newest block. */
static void *small_alloc(struct snlua_heap *h, int c) {
	if (h->free[c])
		return pop_free(h, c);
	size_t rsz = class_size(c);
	uint32_t larger = c + 1 < HEAP_CLASSES ? h->nonempty >> (c + 1) : 0;
	if (larger) {
		int d = c + 1 + __builtin_ctz(larger);
		char *p = pop_free(h, d);
		push_free(h, p + rsz, d - c - 1);
		return p;
	}
	if ((size_t)(h->bump_end - h->bump) < rsz && !new_block(h))
		return NULL;
	void *p = h->bump;
	h->bump += rsz;
	return p;
}

/* Under ASan, makes exactly nsize bytes of the class-c object p usable. */
static inline void expose(void *p, int c, size_t nsize) {
	PAGES_POISON(p, class_size(c));
	PAGES_UNPOISON(p, nsize);
	(void)c;
}

static inline void *small_new(struct snlua_heap *h, size_t nsize) {
	int c = size_class(nsize);
	void *p = small_alloc(h, c);
	if (p)
		expose(p, c, nsize);
	return p;
}

void *heap_realloc(struct snlua_heap *h, void *ptr, size_t osize, size_t nsize) {
	if (ptr == NULL)
		osize = 0;
	int old_small = osize > 0 && osize <= HEAP_SMALL_MAX;
	if (nsize == 0) {
		if (old_small)
			push_free(h, ptr, size_class(osize));
		else
			skynet_free(ptr);
		return NULL;
	}
	int new_small = nsize <= HEAP_SMALL_MAX;
	if (ptr == NULL)
		return new_small ? small_new(h, nsize) : skynet_malloc(nsize);
	if (!old_small && !new_small)
		return skynet_realloc(ptr, nsize);
	if (old_small && new_small && size_class(osize) == size_class(nsize)) {
		expose(ptr, size_class(nsize), nsize);
		return ptr;
	}
	void *n = new_small ? small_new(h, nsize) : skynet_malloc(nsize);
	if (n == NULL) /* Lua requires shrinking to succeed: keep the old block */
		return nsize <= osize ? ptr : NULL;
	memcpy(n, ptr, osize < nsize ? osize : nsize);
	if (old_small)
		push_free(h, ptr, size_class(osize));
	else
		skynet_free(ptr);
	return n;
}
