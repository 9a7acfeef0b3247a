/*
 * snlua_pages.c -- the process-wide block pool behind the Lua heaps.
 *
 * Every Lua service's small-object heap (snlua_heap.c) grows by blocks of
 * PAGES_BLOCK bytes.  Getting them from malloc cost a malloc call and, in
 * a worker thread's arena, an mprotect per block; here they are carved
 * from 2 MiB regions reserved with one mmap (MAP_NORESERVE: a page costs
 * memory only once touched).  A service returns its blocks in one call
 * when it exits, and the next service reuses them.
 *
 * Each region is aligned to its size, so a block finds its region by
 * masking its address.  The region's first block holds its header: two
 * bitmaps of its free blocks,
 *   hot   free, and resident (it was used before), so reusing it is free;
 *   cold  free, and not resident (never touched, or trimmed), so the first
 *         write faults a zeroed page in;
 * and links in the pool's two lists of regions with hot / cold blocks.  A
 * block in use is in neither bitmap.  Allocation prefers hot blocks, then
 * cold ones (the lowest free block of the region at the list head, so a
 * fresh region is carved in address order), then maps a new region.
 *
 * Taking a cold block prefaults the cold blocks after it (PREFAULT_BLOCKS,
 * 64 KiB) with one MADV_POPULATE_WRITE instead of one page fault each.
 *
 * Giving memory back: at most PAGES_KEEP_BYTES of free blocks stay hot.
 * Above that, pages_free hands each page whose blocks are now all free
 * back to the kernel (MADV_DONTNEED) and marks its blocks cold.  So a node
 * that spawned and killed 10,000 services keeps about 4 MiB of their heap
 * blocks resident, plus pages shared with blocks still in use (blocks are
 * half a page).  The regions stay mapped (address space only) and are never
 * unmapped.  The madvise runs without the lock: the page's blocks are taken
 * out of both bitmaps first, so nobody can allocate them meanwhile.
 *
 * Known limits: one mutex for the whole pool, taken once per block (a
 * trivial service takes 15 to 30 blocks) and once per exiting service;
 * allocation scans a region bitmap of 16 words; a page is trimmed only
 * when the block that completes it is freed above the limit, so blocks
 * freed while under the limit stay resident until reused.
 */
#include "snlua_pages.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL */
#endif

#define REGION_SIZE PAGES_REGION
#define REGION_BLOCKS (REGION_SIZE / PAGES_BLOCK)
#define MAP_WORDS (REGION_BLOCKS / 64)
#define PREFAULT_BLOCKS ((64 << 10) / PAGES_BLOCK)
#define KEEP_BLOCKS (PAGES_KEEP_BYTES / PAGES_BLOCK)
#define MAX_TRIM_RANGES 32

enum { HOT, COLD };

/* In the first block of its region.  Protected by pool.lock. */
struct region {
	struct region *next[2], *prev[2]; /* in pool.head[HOT] / pool.head[COLD] */
	size_t count[2];                  /* bits set in map[HOT] / map[COLD] */
	uint64_t map[2][MAP_WORDS];       /* bit i: block i is free and hot / cold */
};

_Static_assert((PAGES_BLOCK & (PAGES_BLOCK - 1)) == 0, "PAGES_BLOCK must be a power of two");
_Static_assert(REGION_BLOCKS % 64 == 0, "a region must hold a multiple of 64 blocks");
_Static_assert(sizeof(struct region) <= PAGES_BLOCK, "the region header must fit in one block");

/* Shared by all threads; every field is protected by `lock`. */
static struct {
	pthread_mutex_t lock;
	struct region *head[2]; /* regions with a hot / cold block, most recent first */
	size_t count[2];        /* hot / cold blocks in all regions */
	size_t in_use;
	size_t regions;
	size_t trimmed;     /* pages */
	size_t page;        /* bytes in a page: set with the first region */
	size_t unit_blocks; /* blocks in one page (at least 1); 0: never trim */
	int no_prefault;    /* the kernel refused MADV_POPULATE_WRITE */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static inline struct region *region_of(void *b) {
	return (struct region *)((uintptr_t)b & ~(uintptr_t)(REGION_SIZE - 1));
}

static inline size_t index_of(struct region *r, void *b) {
	return (size_t)((char *)b - (char *)r) / PAGES_BLOCK;
}

static inline char *block_at(struct region *r, size_t i) { return (char *)r + i * PAGES_BLOCK; }

static inline int has_bit(struct region *r, int k, size_t i) { return (r->map[k][i / 64] >> (i % 64)) & 1; }

static void list_remove(struct region *r, int k) {
	if (r->prev[k])
		r->prev[k]->next[k] = r->next[k];
	else
		pool.head[k] = r->next[k];
	if (r->next[k])
		r->next[k]->prev[k] = r->prev[k];
	r->next[k] = r->prev[k] = NULL;
}

static void set_bit(struct region *r, int k, size_t i) {
	r->map[k][i / 64] |= (uint64_t)1 << (i % 64);
	pool.count[k]++;
	if (r->count[k]++ == 0) { /* now has a block of kind k: list it first */
		r->prev[k] = NULL;
		r->next[k] = pool.head[k];
		if (pool.head[k])
			pool.head[k]->prev[k] = r;
		pool.head[k] = r;
	}
}

static void clear_bit(struct region *r, int k, size_t i) {
	r->map[k][i / 64] &= ~((uint64_t)1 << (i % 64));
	pool.count[k]--;
	if (--r->count[k] == 0)
		list_remove(r, k);
}

/* The lowest block of kind k in r, which has one, taken out of the map. */
static size_t take_lowest(struct region *r, int k) {
	size_t w = 0;
	while (r->map[k][w] == 0)
		w++;
	size_t i = w * 64 + (size_t)__builtin_ctzll(r->map[k][w]);
	clear_bit(r, k, i);
	return i;
}

/* Maps a region aligned to its size; every block but the header is cold.
 * Called without the lock (mmap may take a while); returns NULL if the
 * address space is exhausted. */
static struct region *region_new(void) {
	size_t len = 2 * REGION_SIZE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *base = (char *)(((uintptr_t)p + REGION_SIZE - 1) & ~(uintptr_t)(REGION_SIZE - 1));
	size_t head = (size_t)(base - p);
	if (head)
		munmap(p, head);
	munmap(base + REGION_SIZE, len - head - REGION_SIZE);
	PAGES_POISON(base + PAGES_BLOCK, REGION_SIZE - PAGES_BLOCK);
	return (struct region *)base; /* the header is already zero */
}

static void region_add(struct region *r) {
	for (size_t i = 1; i < REGION_BLOCKS; i++)
		set_bit(r, COLD, i);
	if (pool.regions++ == 0) {
		long page = sysconf(_SC_PAGESIZE);
		pool.page = page > 0 ? (size_t)page : 4096;
		size_t unit = pool.page > PAGES_BLOCK ? pool.page / PAGES_BLOCK : 1;
		pool.unit_blocks = pool.page <= REGION_SIZE && unit <= 64 ? unit : 0;
		pool.no_prefault = pool.page > REGION_SIZE;
	}
}

/* Prefaults the pages under [b, b + len) (outside the lock: another thread
 * may already use those blocks, which the advice does not disturb). */
static void prefault(char *b, size_t len, size_t page) {
	char *start = (char *)((uintptr_t)b & ~(uintptr_t)(page - 1));
	if (madvise(start, (size_t)(b + len - start), MADV_POPULATE_WRITE) != 0 && errno == EINVAL) {
		/* An old kernel: the pages will fault in on first use; stop asking. */
		pthread_mutex_lock(&pool.lock);
		pool.no_prefault = 1;
		pthread_mutex_unlock(&pool.lock);
	}
}

void *pages_alloc(void) {
	struct region *r;
	size_t i, ahead = 0, page = 0;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		if ((r = pool.head[HOT]) != NULL) {
			i = take_lowest(r, HOT);
			break;
		}
		if ((r = pool.head[COLD]) != NULL) {
			i = take_lowest(r, COLD);
			if (!pool.no_prefault) { /* the cold blocks that follow become hot */
				page = pool.page;
				ahead = 1;
				while (ahead < PREFAULT_BLOCKS && i + ahead < REGION_BLOCKS && has_bit(r, COLD, i + ahead)) {
					clear_bit(r, COLD, i + ahead);
					set_bit(r, HOT, i + ahead);
					ahead++;
				}
			}
			break;
		}
		pthread_mutex_unlock(&pool.lock);
		r = region_new();
		if (r == NULL)
			return NULL;
		pthread_mutex_lock(&pool.lock);
		region_add(r);
	}
	pool.in_use++;
	pthread_mutex_unlock(&pool.lock);
	char *b = block_at(r, i);
	if (ahead)
		prefault(b, ahead * PAGES_BLOCK, page);
	PAGES_UNPOISON(b, PAGES_BLOCK);
	return b;
}

struct range {
	char *start, *end;
};

/* With the lock held, after block i of r was freed: if the hot pool is
 * over its limit and every block of i's page is free, takes the page's
 * blocks out of both maps (so nobody allocates them while the page is
 * trimmed) and adds the page to ranges[], which has room for one more,
 * merged with the last range when adjacent.  Returns the new count. */
static int trim_candidate(struct region *r, size_t i, struct range *ranges, int n) {
	size_t unit = pool.unit_blocks;
	if (unit == 0 || pool.count[HOT] <= KEEP_BLOCKS)
		return n;
	size_t first = i / unit * unit;
	uint64_t mask = (unit == 64 ? ~(uint64_t)0 : (((uint64_t)1 << unit) - 1)) << (first % 64);
	size_t w = first / 64;
	if (((r->map[HOT][w] | r->map[COLD][w]) & mask) != mask)
		return n;
	for (size_t j = first; j < first + unit; j++)
		clear_bit(r, has_bit(r, HOT, j) ? HOT : COLD, j);
	char *start = block_at(r, first), *end = block_at(r, first + unit);
	if (n > 0 && ranges[n - 1].start == end)
		ranges[n - 1].start = start;
	else if (n > 0 && ranges[n - 1].end == start)
		ranges[n - 1].end = end;
	else
		ranges[n++] = (struct range){start, end};
	return n;
}

/* Hands the pages of ranges[] back to the kernel, without the lock, and
 * then makes their blocks cold. */
static void trim(struct range *ranges, int n) {
	for (int k = 0; k < n; k++)
		madvise(ranges[k].start, (size_t)(ranges[k].end - ranges[k].start), MADV_DONTNEED);
	pthread_mutex_lock(&pool.lock);
	for (int k = 0; k < n; k++) {
		for (char *b = ranges[k].start; b < ranges[k].end; b += PAGES_BLOCK) {
			struct region *r = region_of(b);
			set_bit(r, COLD, index_of(r, b));
		}
		pool.trimmed += (size_t)(ranges[k].end - ranges[k].start) / pool.page;
	}
	pthread_mutex_unlock(&pool.lock);
}

void pages_free(void *chain, int trim_pages) {
	void *b = chain;
	while (b != NULL) { /* in rounds of at most MAX_TRIM_RANGES madvise calls */
		struct range ranges[MAX_TRIM_RANGES];
		int n = 0;
		pthread_mutex_lock(&pool.lock);
		while (b != NULL && n < MAX_TRIM_RANGES) {
			void *next = *(void **)b;
			PAGES_POISON(b, PAGES_BLOCK); /* before another thread can take it */
			struct region *r = region_of(b);
			size_t i = index_of(r, b);
			set_bit(r, HOT, i);
			pool.in_use--;
			if (trim_pages)
				n = trim_candidate(r, i, ranges, n);
			b = next;
		}
		pthread_mutex_unlock(&pool.lock);
		if (n > 0)
			trim(ranges, n);
	}
}

void pages_stats(struct pages_stats *st) {
	pthread_mutex_lock(&pool.lock);
	st->regions = pool.regions;
	st->in_use = pool.in_use;
	st->hot = pool.count[HOT];
	st->cold = pool.count[COLD];
	st->trimmed = pool.trimmed;
	pthread_mutex_unlock(&pool.lock);
}
