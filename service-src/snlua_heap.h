/*
 * snlua_heap.h -- the small-object heap behind each Lua service's
 * allocator.  One heap per service, used only by the thread running that
 * service, so it takes no locks.
 */
#ifndef SNLUA_HEAP_H
#define SNLUA_HEAP_H

#include <stddef.h>

#define HEAP_GRAIN 8
#define HEAP_SMALL_MAX 256
#define HEAP_CLASSES (HEAP_SMALL_MAX / HEAP_GRAIN)

struct heap_block;

struct snlua_heap {
	void *free[HEAP_CLASSES]; /* per size class, singly linked through the object */
	char *bump;               /* next unused byte of the newest block */
	char *bump_end;
	struct heap_block *blocks;
};

void heap_init(struct snlua_heap *h);
/* Frees every block; objects still allocated from the heap die with it. */
void heap_release(struct snlua_heap *h);
/* lua_Alloc semantics for sizes (osize is what Lua says the block has). */
void *heap_realloc(struct snlua_heap *h, void *ptr, size_t osize, size_t nsize);

#endif
