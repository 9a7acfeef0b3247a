/*
 * snlua_heap.h -- the small-object heap behind each Lua service's
 * allocator.  One heap per service, used only by the thread running that
 * service, so it takes no locks; its blocks come from the process-wide
 * pool in snlua_pages.c.
 */
#ifndef SNLUA_HEAP_H
#define SNLUA_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define HEAP_GRAIN 8
#define HEAP_SMALL_MAX 256
#define HEAP_CLASSES (HEAP_SMALL_MAX / HEAP_GRAIN)

/* Owned by one service; touched only by the thread running it. */
struct snlua_heap {
	void *free[HEAP_CLASSES]; /* per size class, singly linked through the object */
	uint32_t nonempty;        /* bit c set iff free[c] != NULL */
	char *bump;               /* next unused byte of the newest block */
	char *bump_end;
	void *blocks; /* this heap's blocks, linked through their first word */
};

void heap_init(struct snlua_heap *h);
/* Returns every block to the pool; objects still allocated from the heap
 * die with it (large objects, which come from malloc, do not).  Uses
 * skynet_node_quitting() from the core. */
void heap_release(struct snlua_heap *h);
/* lua_Alloc semantics for sizes (osize is what Lua says the block has). */
void *heap_realloc(struct snlua_heap *h, void *ptr, size_t osize, size_t nsize);

#endif
