/*
 * skynet_metrics.c -- per-thread message counters and the registry of
 * published series (see skynet_metrics.h for the why).
 */
#include "skynet_metrics.h"
#include "skynet_tunables.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- Per-thread counters ------------------------------------------------ */

_Thread_local struct metrics_thread *skynet_metrics_self_ __attribute__((tls_model("initial-exec")));

/* Blocks are claimed by an atomic index and never given back: a node has a
 * fixed set of threads.  The last block is the shared overflow. */
static struct metrics_thread THREADS[METRICS_THREAD_SLOTS + 1] = {
	[METRICS_THREAD_SLOTS] = {.kind = -1, .index = -1, .shared = true},
};
static atomic_int threads_claimed;
static atomic_int kind_count[8];

struct metrics_thread *skynet_metrics_claim(void) {
	int i = atomic_fetch_add(&threads_claimed, 1);
	struct metrics_thread *t = &THREADS[i < METRICS_THREAD_SLOTS ? i : METRICS_THREAD_SLOTS];
	if (i < METRICS_THREAD_SLOTS) {
		atomic_store_explicit(&t->kind, -1, memory_order_relaxed);
		atomic_store_explicit(&t->index, -1, memory_order_relaxed);
	}
	skynet_metrics_self_ = t;
	return t;
}

void skynet_metrics_thread_kind(int kind) {
	struct metrics_thread *t = skynet_metrics_self();
	if (t->shared || kind < 0 || kind >= 8)
		return;
	atomic_store_explicit(&t->index, atomic_fetch_add(&kind_count[kind], 1), memory_order_relaxed);
	atomic_store_explicit(&t->kind, kind, memory_order_relaxed);
}

void skynet_metrics_threads(void (*fn)(const struct metrics_thread *t, void *ud), void *ud) {
	int n = atomic_load(&threads_claimed);
	if (n > METRICS_THREAD_SLOTS)
		n = METRICS_THREAD_SLOTS + 1;
	for (int i = 0; i < n; i++)
		fn(&THREADS[i], ud);
}

/* ---- Published series --------------------------------------------------- */

struct series {
	char name[METRICS_NAME_MAX + 1];
	char labels[METRICS_LABELS_MAX + 1];
	int help; /* index into HELP, or -1 */
	enum metrics_type type;
	atomic_int next;  /* next series of the same family, -1 at the end */
	int family_tail;  /* on a family's first series: its last series */
	bool family_head; /* the first series of its family */
	_Atomic uint64_t value; /* bits of a double */
	_Atomic uint64_t count; /* summaries */
};

/* `lock` guards creation (every field but `value` and `count`, and
 * `used`); readers see an entry once `used` (stored with release after the
 * entry is complete) covers it.  A reader that follows a `next` link
 * beyond its snapshot of `used` stops there, so a series created during a
 * scrape shows up in the next one. */
static struct {
	pthread_mutex_t lock;
	atomic_int used;
	_Atomic uint64_t refused;
	struct series s[METRICS_SERIES_MAX];
	char help[METRICS_SERIES_MAX][METRICS_HELP_MAX + 1];
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool valid_name(const char *name) {
	size_t n = strlen(name);
	if (n == 0 || n > METRICS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
		          (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

int skynet_metrics_series(const char *name, enum metrics_type type, const char *help, const char *labels) {
	if (labels == NULL)
		labels = "";
	if (!valid_name(name) || strlen(labels) > METRICS_LABELS_MAX)
		return -1;
	pthread_mutex_lock(&R.lock);
	int used = atomic_load_explicit(&R.used, memory_order_relaxed);
	int head = -1;
	for (int i = 0; i < used; i++) {
		struct series *s = &R.s[i];
		if (strcmp(s->name, name) != 0)
			continue;
		if (s->family_head)
			head = i;
		if (strcmp(s->labels, labels) == 0) {
			pthread_mutex_unlock(&R.lock);
			return s->type == type ? i : -1;
		}
	}
	if ((head >= 0 && R.s[head].type != type) || used == METRICS_SERIES_MAX) {
		if (used == METRICS_SERIES_MAX)
			atomic_fetch_add(&R.refused, 1);
		pthread_mutex_unlock(&R.lock);
		return -1;
	}
	struct series *s = &R.s[used];
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->labels, sizeof(s->labels), "%s", labels);
	s->type = type;
	atomic_store_explicit(&s->next, -1, memory_order_relaxed);
	s->help = -1;
	if (head < 0) {
		s->family_head = true;
		s->family_tail = used;
		if (help) {
			snprintf(R.help[used], sizeof(R.help[used]), "%s", help);
			s->help = used;
		}
	} else {
		s->family_head = false;
		s->help = R.s[head].help;
		atomic_store_explicit(&R.s[R.s[head].family_tail].next, used, memory_order_release);
		R.s[head].family_tail = used;
	}
	atomic_store_explicit(&s->value, 0, memory_order_relaxed);
	atomic_store_explicit(&s->count, 0, memory_order_relaxed);
	atomic_store_explicit(&R.used, used + 1, memory_order_release);
	pthread_mutex_unlock(&R.lock);
	return used;
}

static uint64_t bits_of(double v) {
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static double double_of(uint64_t b) {
	double v;
	memcpy(&v, &b, sizeof(v));
	return v;
}

static struct series *series_at(int id) {
	if (id < 0 || id >= atomic_load_explicit(&R.used, memory_order_acquire))
		return NULL;
	return &R.s[id];
}

static void add_double(_Atomic uint64_t *cell, double v) {
	uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(cell, &old, bits_of(double_of(old) + v), memory_order_relaxed,
	                                              memory_order_relaxed)) {
	}
}

void skynet_metrics_set(int id, double v) {
	struct series *s = series_at(id);
	if (s && isfinite(v))
		atomic_store_explicit(&s->value, bits_of(v), memory_order_relaxed);
}

void skynet_metrics_add(int id, double v) {
	struct series *s = series_at(id);
	if (s == NULL || !isfinite(v) || (s->type == METRICS_COUNTER && v < 0))
		return;
	add_double(&s->value, v);
}

void skynet_metrics_observe(int id, double v) {
	struct series *s = series_at(id);
	if (s == NULL || s->type != METRICS_SUMMARY || !isfinite(v))
		return;
	add_double(&s->value, v);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void skynet_metrics_set_summary(int id, double sum, uint64_t count) {
	struct series *s = series_at(id);
	if (s == NULL || s->type != METRICS_SUMMARY || !isfinite(sum))
		return;
	atomic_store_explicit(&s->count, count, memory_order_relaxed);
	atomic_store_explicit(&s->value, bits_of(sum), memory_order_relaxed);
}

uint64_t skynet_metrics_foreach(void (*fn)(const struct metrics_series_view *s, void *ud), void *ud) {
	int used = atomic_load_explicit(&R.used, memory_order_acquire);
	for (int h = 0; h < used; h++) {
		if (!R.s[h].family_head)
			continue;
		for (int i = h; i >= 0 && i < used; i = atomic_load_explicit(&R.s[i].next, memory_order_acquire)) {
			struct series *s = &R.s[i];
			struct metrics_series_view v = {
				s->name,
				s->help >= 0 ? R.help[s->help] : "",
				s->labels,
				s->type,
				double_of(atomic_load_explicit(&s->value, memory_order_relaxed)),
				atomic_load_explicit(&s->count, memory_order_relaxed),
			};
			fn(&v, ud);
		}
	}
	return atomic_load(&R.refused);
}
