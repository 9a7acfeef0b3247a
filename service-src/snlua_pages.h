/*
 * snlua_pages.h -- the process-wide pool of fixed-size blocks behind every
 * Lua service's small-object heap (snlua_heap.c).  Blocks come from large
 * mmap'ed regions, so getting one costs no malloc call and no syscall, and
 * the blocks of an exited service go to the next one.  Thread-safe.
 */
#ifndef SNLUA_PAGES_H
#define SNLUA_PAGES_H

#include <stddef.h>

/* Under AddressSanitizer, free blocks and free heap objects are poisoned,
 * so a stray access to them is reported as it would be with malloc. */
#if defined(__SANITIZE_ADDRESS__)
#define PAGES_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAGES_ASAN 1
#endif
#endif
#ifdef PAGES_ASAN
#include <sanitizer/asan_interface.h>
#define PAGES_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define PAGES_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define PAGES_POISON(p, n) ((void)(p), (void)(n))
#define PAGES_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Bytes in one block.  A power of two, at most the region size.  2 KiB,
 * half a page, because a service's last block is partly used: with blocks
 * smaller than a page the next service's first block fills the rest of the
 * page, so a service wastes half a block on average instead of half a
 * page (spawn benchmark: 0 to 2 kB less resident memory per trivial
 * service than 4 or 8 KiB blocks, depending on where its data ends; 1 KiB
 * blocks were no better, as more block tails go unused). */
#define PAGES_BLOCK 2048

/* Blocks are carved from regions of this many bytes, aligned to their
 * size; the first block of each holds the region's bookkeeping. */
#define PAGES_REGION ((size_t)2 << 20)

/* Free blocks kept resident for reuse; beyond this, whole free pages are
 * handed back to the kernel (see pages_free). */
#define PAGES_KEEP_BYTES (4u << 20)

struct pages_stats {
	size_t regions; /* regions mapped */
	size_t in_use;  /* blocks handed out and not yet freed */
	size_t hot;     /* free blocks that are (probably) resident */
	size_t cold;    /* free blocks that are not: never touched or trimmed */
	size_t trimmed; /* pages handed back with MADV_DONTNEED so far */
};

/* One block, aligned to PAGES_BLOCK, of undefined content; NULL if the
 * address space is exhausted. */
void *pages_alloc(void);
/* Returns a chain of blocks linked through their first word (a NULL
 * terminated list of `void *`).  NULL is a no-op.  With trim_pages 0 the
 * blocks stay resident even above PAGES_KEEP_BYTES (for a process about
 * to exit, where handing pages back would only slow the exit down). */
void pages_free(void *chain, int trim_pages);
void pages_stats(struct pages_stats *st);

#endif
