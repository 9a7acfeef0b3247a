/*
 * skynet_metrics.h -- node-wide counters for the metrics endpoint, kept
 * where they cost nothing on the message path, and a small registry of
 * series that services publish themselves (cluster peers, harbor links,
 * an application's own numbers).
 *
 * Per-thread counters: each thread that sends or dispatches gets its own
 * block of counters (claimed on first use), written only by that thread
 * with plain relaxed stores -- no lock, no atomic read-modify-write, no
 * shared cache line on the hot path.  A reader (the metrics service) sums
 * the blocks with relaxed loads; a sum may miss the increments of the last
 * few nanoseconds, never go backwards.  Threads beyond
 * METRICS_THREAD_SLOTS share one block with atomic adds (only unit tests
 * that start many threads get there).
 *
 * Published series: a fixed table of METRICS_SERIES_MAX entries, each a
 * family name, a label set and a value; created under a mutex, updated
 * lock-free (atomics).  Entries are never freed, so an id stays valid for
 * the life of the process; a family/label pair asked for twice gets the
 * same id.  When the table is full, new series are refused (-1) and
 * counted, never allocated: the registry cannot grow without bound.
 */
#ifndef SKYNET_METRICS_H
#define SKYNET_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol buckets: types 0..15 by number, everything above in the last. */
#define METRICS_PTYPES 17

/* One thread's counters.  Owned (written) by that thread, read by anyone. */
struct metrics_thread {
	_Atomic uint64_t dispatched[METRICS_PTYPES]; /* messages its callbacks ran, by type */
	_Atomic uint64_t sent[METRICS_PTYPES];       /* messages it sent (skynet_send), by type */
	_Atomic uint64_t busy_us;                    /* time inside callbacks (profile = true) */
	atomic_int kind;                             /* THREAD_* of skynet_imp.h, -1 unknown */
	atomic_int index;                            /* order among threads of its kind */
	bool shared;                                 /* the overflow block: add atomically (set once, statically) */
};

extern _Thread_local struct metrics_thread *skynet_metrics_self_;
struct metrics_thread *skynet_metrics_claim(void);

static inline struct metrics_thread *skynet_metrics_self(void) {
	struct metrics_thread *t = skynet_metrics_self_;
	return t ? t : skynet_metrics_claim();
}

static inline void skynet_metrics_bump(struct metrics_thread *t, _Atomic uint64_t *c, uint64_t n) {
	if (t->shared)
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
	else
		atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline int skynet_metrics_ptype(int type) {
	return (unsigned)type < METRICS_PTYPES - 1 ? type : METRICS_PTYPES - 1;
}

/* Hot-path hooks (skynet_server.c). */
static inline void skynet_metrics_dispatched(int type) {
	struct metrics_thread *t = skynet_metrics_self();
	skynet_metrics_bump(t, &t->dispatched[skynet_metrics_ptype(type)], 1);
}
static inline void skynet_metrics_sent(int type) {
	struct metrics_thread *t = skynet_metrics_self();
	skynet_metrics_bump(t, &t->sent[skynet_metrics_ptype(type)], 1);
}
static inline void skynet_metrics_busy(uint64_t us) {
	struct metrics_thread *t = skynet_metrics_self();
	skynet_metrics_bump(t, &t->busy_us, us);
}

/* Names the calling thread (skynet_initthread): kind is THREAD_*. */
void skynet_metrics_thread_kind(int kind);
/* Calls fn for every claimed thread block (a snapshot: blocks are never
 * freed, so the pointers stay valid). */
void skynet_metrics_threads(void (*fn)(const struct metrics_thread *t, void *ud), void *ud);

/* ---- Published series -------------------------------------------------- */

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_SUMMARY };

/* Longest family name and label text (`a="x",b="y"`, escaped), NUL excluded. */
#define METRICS_NAME_MAX 96
#define METRICS_LABELS_MAX 192
#define METRICS_HELP_MAX 160

/* Finds or creates a series.  `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*,
 * `labels` is already-escaped exposition text without braces ("" for
 * none).  A family keeps the type and help of its first series.  Returns
 * the id (>= 0), or -1: bad name, labels too long, type differing from
 * the family's, or the table is full. */
int skynet_metrics_series(const char *name, enum metrics_type type, const char *help, const char *labels);
/* Gauge: set.  Counter: set (the caller keeps it monotonic) */
void skynet_metrics_set(int id, double v);
/* Counter or gauge: add v (counters ignore v < 0). */
void skynet_metrics_add(int id, double v);
/* Summary: one observation (count += 1, sum += v). */
void skynet_metrics_observe(int id, double v);
/* Summary: both totals at once, for an owner that keeps them itself and
 * publishes now and then (the two stores are not one atomic step: a
 * reader may see the new sum with the old count for an instant). */
void skynet_metrics_set_summary(int id, double sum, uint64_t count);

/* A read-only view of one published series. */
struct metrics_series_view {
	const char *name;
	const char *help;
	const char *labels;
	enum metrics_type type;
	double value; /* counter/gauge value; summary sum */
	uint64_t count; /* summary count */
};
/* Calls fn for each series, grouped by family (in order of first
 * creation).  Returns how many series were refused because the table was
 * full. */
uint64_t skynet_metrics_foreach(void (*fn)(const struct metrics_series_view *s, void *ud), void *ud);

#endif
