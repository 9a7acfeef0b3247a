/*
 * test_snlua_heap.c -- the Lua services' allocator: the process-wide block
 * pool (snlua_pages.c) and the per-service heap on top of it
 * (snlua_heap.c).  Checks block alignment and reuse, trimming of free
 * pages above the resident limit (with mincore), the heap's size-class
 * reuse, best-fit splitting and tail recycling, data integrity under a
 * long random mix of lua_Alloc calls, and several threads running heaps
 * on the one pool at once.
 */
#include "snlua_heap.h"
#include "snlua_pages.h"
#include "unit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* heap_release asks the core whether the node is quitting. */
static bool quitting;
bool skynet_node_quitting(void) { return quitting; }

#define KEEP_BLOCKS (PAGES_KEEP_BYTES / PAGES_BLOCK)
#define REGION_BLOCKS (PAGES_REGION / PAGES_BLOCK - 1) /* usable: minus the header */

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(uint64_t *s) {
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int pool_consistent(void) {
	struct pages_stats st;
	pages_stats(&st);
	return st.hot + st.cold + st.in_use == st.regions * REGION_BLOCKS;
}

/* Links blocks b[0..n) into a chain, in that order. */
static void *chain_of(void **b, size_t n) {
	for (size_t i = 0; i < n; i++)
		*(void **)b[i] = i + 1 < n ? b[i + 1] : NULL;
	return n ? b[0] : NULL;
}

static int resident(void *p) {
	long page = sysconf(_SC_PAGESIZE);
	unsigned char v = 0;
	void *start = (void *)((uintptr_t)p & ~(uintptr_t)(page - 1));
	return mincore(start, (size_t)page, &v) == 0 && (v & 1);
}

static void test_pool_blocks(void) {
	enum { N = 600 };
	static void *b[N];
	struct pages_stats st0, st;
	pages_stats(&st0);
	int aligned = 1, writable = 1;
	for (int i = 0; i < N; i++) {
		b[i] = pages_alloc();
		if (b[i] == NULL || (uintptr_t)b[i] % PAGES_BLOCK != 0)
			aligned = 0;
		else
			memset(b[i], i & 0xff, PAGES_BLOCK);
	}
	for (int i = 0; i < N; i++) {
		unsigned char *p = b[i];
		if (p && (p[0] != (i & 0xff) || p[PAGES_BLOCK - 1] != (i & 0xff)))
			writable = 0;
	}
	CHECK(aligned, "pool: blocks are aligned to PAGES_BLOCK");
	CHECK(writable, "pool: blocks do not overlap");
	pages_stats(&st);
	CHECK(st.in_use == st0.in_use + N, "pool: in_use counts the blocks handed out");
	CHECK(pool_consistent(), "pool: hot + cold + in_use covers every block");

	pages_free(chain_of(b, N), 1);
	pages_stats(&st);
	CHECK(st.in_use == st0.in_use, "pool: freeing a chain returns every block");
	CHECK(st.hot >= N, "pool: freed blocks are kept hot (under the limit)");
	pages_free(NULL, 1);

	/* The freed blocks come back before any cold one is used. */
	size_t cold = st.cold;
	static void *again[N];
	for (int i = 0; i < N; i++)
		again[i] = pages_alloc();
	pages_stats(&st);
	CHECK(st.cold == cold, "pool: hot blocks are reused before cold ones");
	pages_free(chain_of(again, N), 1);
	CHECK(pool_consistent(), "pool: consistent after reuse");
}

static void test_pool_trim(void) {
	size_t n = KEEP_BLOCKS + 4096; /* 8 MiB with 2 KiB blocks */
	void **b = malloc(n * sizeof(*b));
	struct pages_stats st0, st;
	for (size_t i = 0; i < n; i++) {
		b[i] = pages_alloc();
		memset(b[i], 0x5a, PAGES_BLOCK);
	}
	/* Without trimming (a quitting node) everything stays resident. */
	pages_stats(&st0);
	pages_free(chain_of(b, n), 0);
	pages_stats(&st);
	CHECK(st.trimmed == st0.trimmed && st.hot >= n, "pool: trim_pages 0 keeps every block hot");

	for (size_t i = 0; i < n; i++)
		b[i] = pages_alloc();
	for (size_t i = 0; i < n; i++)
		memset(b[i], 0x5a, PAGES_BLOCK);
	pages_stats(&st0);
	pages_free(chain_of(b, n), 1);
	pages_stats(&st);
	CHECK(st.trimmed > st0.trimmed, "pool: pages above the resident limit are trimmed");
	CHECK(st.hot <= KEEP_BLOCKS + 64, "pool: at most PAGES_KEEP_BYTES of free blocks stay hot");
	size_t gone = 0;
	for (size_t i = 0; i < n; i++)
		gone += !resident(b[i]);
	CHECK(gone >= (n - KEEP_BLOCKS) / 2, "pool: trimmed blocks are no longer resident (mincore)");
	CHECK(pool_consistent(), "pool: consistent after trimming");

	/* Trimmed blocks are usable again, and read as zero until written. */
	size_t ok = 0, zero = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char *p = b[i] = pages_alloc();
		if (p == NULL)
			continue;
		ok++;
		zero += p[8] == 0 && p[PAGES_BLOCK - 1] == 0;
		memset(p, 0x33, PAGES_BLOCK);
	}
	CHECK(ok == n, "pool: every trimmed block can be allocated again");
	CHECK(zero >= (n - KEEP_BLOCKS) / 2, "pool: trimmed blocks come back as fresh zero pages");
	pages_free(chain_of(b, n), 1);
	free(b);
}

static void test_heap_classes(void) {
	struct snlua_heap h;
	struct pages_stats st0, st;
	heap_init(&h);
	pages_stats(&st0);

	void *a = heap_realloc(&h, NULL, 5 /* a Lua type tag, ignored */, 40);
	void *b = heap_realloc(&h, NULL, 0, 40);
	CHECK(a && b && (uintptr_t)a % 8 == 0 && (uintptr_t)b % 8 == 0, "heap: small objects are 8-byte aligned");
	CHECK(heap_realloc(&h, a, 40, 0) == NULL, "heap: freeing returns NULL");
	void *c = heap_realloc(&h, NULL, 0, 35);
	CHECK(c == a, "heap: a freed object is reused by the same size class");
	CHECK(heap_realloc(&h, c, 35, 33) == c, "heap: resizing within a class keeps the pointer");

	/* Best fit: a free 256-byte object is split for smaller requests. */
	void *big = heap_realloc(&h, NULL, 0, 256);
	heap_realloc(&h, big, 256, 0);
	void *s1 = heap_realloc(&h, NULL, 0, 64);
	void *s2 = heap_realloc(&h, NULL, 0, 192);
	CHECK(s1 == big, "heap: a request with an empty class splits the smallest larger free object");
	CHECK(s2 == (char *)big + 64, "heap: the rest of a split object serves the next fitting request");

	/* Resizing across classes moves the data. */
	char *m = heap_realloc(&h, NULL, 0, 24);
	memcpy(m, "0123456789abcdefghijklm", 24);
	char *m2 = heap_realloc(&h, m, 24, 200);
	CHECK(m2 != m && memcmp(m2, "0123456789abcdefghijklm", 24) == 0, "heap: growing to another class copies");
	char *m3 = heap_realloc(&h, m2, 200, 1000);
	CHECK(m3 && memcmp(m3, "0123456789abcdefghijklm", 24) == 0, "heap: growing past 256 bytes moves to malloc");
	char *m4 = heap_realloc(&h, m3, 1000, 16);
	CHECK(m4 && memcmp(m4, "0123456789abcdef", 16) == 0, "heap: shrinking back under 256 bytes copies");
	heap_realloc(&h, m4, 16, 0);

	heap_release(&h);
	pages_stats(&st);
	CHECK(st.in_use == st0.in_use, "heap: heap_release returns every block");
	CHECK(h.blocks == NULL && h.bump == NULL && h.nonempty == 0, "heap: a released heap is empty");
}

static void test_heap_tail(void) {
	struct snlua_heap h;
	struct pages_stats st0, st;
	heap_init(&h);
	/* 256-byte objects: 7 fit in a block, leaving a tail of
	 * PAGES_BLOCK - 8 - 7 * 256 bytes. */
	size_t tail = PAGES_BLOCK - sizeof(void *) - (PAGES_BLOCK - sizeof(void *)) / 256 * 256;
	int per_block = (int)((PAGES_BLOCK - sizeof(void *)) / 256);
	for (int i = 0; i < per_block + 1; i++)
		heap_realloc(&h, NULL, 0, 256);
	pages_stats(&st0);
	void *t = heap_realloc(&h, NULL, 0, tail);
	pages_stats(&st);
	CHECK(tail >= 8 && t != NULL && st.in_use == st0.in_use, "heap: the tail of a full block is kept for later requests");
	CHECK((uintptr_t)t % PAGES_BLOCK + tail == PAGES_BLOCK, "heap: the tail object is the end of the old block");
	heap_release(&h);
}

/* A long random mix of allocations, resizes and frees, with every object
 * filled with its own byte and checked before it is touched again. */
struct obj {
	unsigned char *p;
	size_t sz;
	unsigned char tag;
};

static size_t random_size(uint64_t *s) {
	uint64_t r = rng(s);
	unsigned k = (unsigned)(r % 100);
	r >>= 8;
	if (k < 85)
		return 1 + r % HEAP_SMALL_MAX;
	if (k < 95)
		return 1 + r % 48;
	return HEAP_SMALL_MAX + 1 + r % 3000;
}

static int intact(const struct obj *o) {
	for (size_t i = 0; i < o->sz; i++)
		if (o->p[i] != o->tag)
			return 0;
	return 1;
}

/* Returns the number of integrity errors. */
static int churn(struct snlua_heap *h, struct obj *objs, int nobj, int steps, uint64_t *s) {
	int errors = 0;
	for (int step = 0; step < steps; step++) {
		struct obj *o = &objs[rng(s) % (uint64_t)nobj];
		if (o->p && !intact(o))
			errors++;
		if (o->p == NULL) {
			o->sz = random_size(s);
			o->p = heap_realloc(h, NULL, 0, o->sz);
		} else if (rng(s) % 3 == 0) {
			heap_realloc(h, o->p, o->sz, 0);
			o->p = NULL;
			continue;
		} else {
			size_t nsz = random_size(s);
			unsigned char *np = heap_realloc(h, o->p, o->sz, nsz);
			size_t keep = o->sz < nsz ? o->sz : nsz;
			if (np) {
				struct obj moved = {np, keep, o->tag};
				errors += !intact(&moved);
			}
			o->p = np;
			o->sz = nsz;
		}
		if (o->p == NULL || (uintptr_t)o->p % 8 != 0) {
			errors++;
			o->p = NULL;
			continue;
		}
		o->tag = (unsigned char)(1 + rng(s) % 255);
		memset(o->p, o->tag, o->sz);
	}
	for (int i = 0; i < nobj; i++) {
		if (objs[i].p && !intact(&objs[i]))
			errors++;
	}
	return errors;
}

/* Frees what is left, as lua_close would, then releases the heap. */
static void close_heap(struct snlua_heap *h, struct obj *objs, int nobj) {
	for (int i = 0; i < nobj; i++) {
		if (objs[i].p)
			heap_realloc(h, objs[i].p, objs[i].sz, 0);
		objs[i].p = NULL;
	}
	heap_release(h);
}

static void test_heap_random(void) {
	enum { NOBJ = 3000 };
	static struct obj objs[NOBJ];
	struct snlua_heap h;
	struct pages_stats st0, st;
	pages_stats(&st0);
	heap_init(&h);
	int errors = churn(&h, objs, NOBJ, 300000, &rng_state);
	CHECK(errors == 0, "heap: 300,000 random alloc/realloc/free calls keep every object intact");
	close_heap(&h, objs, NOBJ);
	pages_stats(&st);
	CHECK(st.in_use == st0.in_use, "heap: every block goes back after a random run");
}

struct worker {
	uint64_t seed;
	int errors;
};

static void *worker_main(void *ud) {
	enum { NOBJ = 400 };
	struct worker *w = ud;
	struct obj objs[NOBJ];
	memset(objs, 0, sizeof(objs));
	for (int round = 0; round < 150; round++) {
		struct snlua_heap h;
		heap_init(&h);
		w->errors += churn(&h, objs, NOBJ, 2000, &w->seed);
		close_heap(&h, objs, NOBJ);
	}
	return NULL;
}

static void test_threads(void) {
	enum { NT = 4 };
	pthread_t t[NT];
	struct worker w[NT];
	struct pages_stats st0, st;
	pages_stats(&st0);
	for (int i = 0; i < NT; i++) {
		w[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		w[i].errors = 0;
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	int errors = 0;
	for (int i = 0; i < NT; i++) {
		pthread_join(t[i], NULL);
		errors += w[i].errors;
	}
	pages_stats(&st);
	CHECK(errors == 0, "threads: 4 threads with their own heaps on one pool keep their objects intact");
	CHECK(st.in_use == st0.in_use, "threads: every block is back in the pool");
	CHECK(pool_consistent(), "threads: the pool's counts are consistent");
}

static void test_quitting(void) {
	struct snlua_heap h;
	struct pages_stats st0, st;
	static struct obj objs[1000];
	uint64_t seed = 12345;
	/* Fill the hot pool past its limit, then release a heap while quitting. */
	size_t n = KEEP_BLOCKS + 16;
	void **b = malloc(n * sizeof(*b));
	for (size_t i = 0; i < n; i++)
		b[i] = pages_alloc();
	heap_init(&h);
	churn(&h, objs, 1000, 20000, &seed);
	pages_free(chain_of(b, n), 0);
	free(b);
	quitting = true;
	pages_stats(&st0);
	close_heap(&h, objs, 1000);
	pages_stats(&st);
	quitting = false;
	CHECK(st.trimmed == st0.trimmed, "heap: releasing while the node quits trims nothing");
}

int main(void) {
	test_pool_blocks();
	test_pool_trim();
	test_heap_classes();
	test_heap_tail();
	test_heap_random();
	test_threads();
	test_quitting();
	UNIT_EXIT();
}
