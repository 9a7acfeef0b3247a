/*
 * test_metrics.c -- skynet_metrics.c: per-thread counters summed across
 * threads (each thread its own block, named by kind), and the registry of
 * published series (ids stable per name and labels, families grouped,
 * types enforced, names checked, summaries, the table's cap).
 */
#include "skynet_imp.h"
#include "skynet_metrics.h"
#include "skynet_tunables.h"
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct sum {
	uint64_t dispatched_lua, sent_text, busy;
	int threads, workers, whole; /* whole: blocks holding exactly one thread's 100000 */
};

static void add(const struct metrics_thread *t, void *ud) {
	struct sum *s = ud;
	s->dispatched_lua += atomic_load(&t->dispatched[10]);
	s->sent_text += atomic_load(&t->sent[0]);
	s->busy += atomic_load(&t->busy_us);
	s->threads++;
	s->workers += t->kind == THREAD_WORKER;
	s->whole += atomic_load(&t->dispatched[10]) == 100000;
}

static void *worker(void *p) {
	(void)p;
	skynet_metrics_thread_kind(THREAD_WORKER);
	for (int i = 0; i < 100000; i++) {
		skynet_metrics_dispatched(10);
		skynet_metrics_sent(0);
	}
	skynet_metrics_busy(5);
	skynet_metrics_dispatched(200); /* out of range: the last bucket */
	return NULL;
}

struct view_log {
	char text[4096];
};

static void log_view(const struct metrics_series_view *v, void *ud) {
	struct view_log *l = ud;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "%s{%s}=%g/%llu;", v->name, v->labels, v->value,
	         (unsigned long long)v->count);
}

static void count_other(const struct metrics_thread *t, void *ud) {
	*(uint64_t *)ud += atomic_load(&t->dispatched[METRICS_PTYPES - 1]);
}

int main(void) {
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct sum s = {0};
	skynet_metrics_threads(add, &s);
	CHECK(s.dispatched_lua == 400000 && s.sent_text == 400000,
	      "metrics: counters of 4 threads sum to every increment (no lost update)");
	CHECK(s.busy == 20, "metrics: busy time sums");
	CHECK(s.threads == 4 && s.workers == 4 && s.whole == 4, "metrics: each thread has its own block, named worker");
	uint64_t other = 0;
	skynet_metrics_threads(count_other, &other);
	CHECK(other == 4, "metrics: protocol numbers past 15 count in the last bucket");

	int a = skynet_metrics_series("peer_state", METRICS_GAUGE, "State.", "node=\"a\"");
	int c = skynet_metrics_series("calls_total", METRICS_COUNTER, "Calls.", "");
	int b = skynet_metrics_series("peer_state", METRICS_GAUGE, NULL, "node=\"b\"");
	CHECK(a >= 0 && b >= 0 && c >= 0 && a != b, "metrics: series are created");
	CHECK(skynet_metrics_series("peer_state", METRICS_GAUGE, NULL, "node=\"a\"") == a,
	      "metrics: the same name and labels give the same id");
	CHECK(skynet_metrics_series("peer_state", METRICS_COUNTER, NULL, "node=\"c\"") == -1,
	      "metrics: a second type for a family is refused");
	CHECK(skynet_metrics_series("bad name", METRICS_GAUGE, NULL, "") == -1 &&
	          skynet_metrics_series("9lives", METRICS_GAUGE, NULL, "") == -1 &&
	          skynet_metrics_series("", METRICS_GAUGE, NULL, "") == -1,
	      "metrics: invalid names are refused");
	char long_labels[METRICS_LABELS_MAX + 10];
	memset(long_labels, 'x', sizeof(long_labels) - 1);
	long_labels[sizeof(long_labels) - 1] = '\0';
	CHECK(skynet_metrics_series("ok_name", METRICS_GAUGE, NULL, long_labels) == -1, "metrics: over-long labels are refused");
	skynet_metrics_set(a, 1);
	skynet_metrics_set(b, 0);
	skynet_metrics_add(c, 2);
	skynet_metrics_add(c, -5); /* a counter never goes down */
	skynet_metrics_add(c, 0.5);
	int lat = skynet_metrics_series("latency_seconds", METRICS_SUMMARY, "Latency.", "");
	skynet_metrics_observe(lat, 0.25);
	skynet_metrics_observe(lat, 0.5);
	skynet_metrics_observe(c, 1); /* not a summary: ignored */
	int lat2 = skynet_metrics_series("latency_seconds", METRICS_SUMMARY, NULL, "peer=\"x\"");
	skynet_metrics_set_summary(lat2, 1.5, 7);
	skynet_metrics_set_summary(c, 9, 9); /* not a summary: ignored */
	skynet_metrics_set(-1, 3);    /* bad ids are ignored */
	skynet_metrics_set(1 << 20, 3);
	struct view_log log = {{0}};
	skynet_metrics_foreach(log_view, &log);
	CHECK(strcmp(log.text, "peer_state{node=\"a\"}=1/0;peer_state{node=\"b\"}=0/0;calls_total{}=2.5/0;"
	                       "latency_seconds{}=0.75/2;latency_seconds{peer=\"x\"}=1.5/7;") == 0,
	      "metrics: series come out grouped by family with their values (a summary set whole)");
	if (strcmp(log.text, "peer_state{node=\"a\"}=1/0;peer_state{node=\"b\"}=0/0;calls_total{}=2.5/0;"
	                     "latency_seconds{}=0.75/2;latency_seconds{peer=\"x\"}=1.5/7;") != 0)
		printf("# got %s\n", log.text);

	int made = 0, last = 0;
	for (int i = 0; i < METRICS_SERIES_MAX + 10; i++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		last = skynet_metrics_series("many", METRICS_GAUGE, NULL, labels);
		made += last >= 0;
	}
	CHECK(last == -1 && made == METRICS_SERIES_MAX - 5, "metrics: the table stops at METRICS_SERIES_MAX");
	CHECK(skynet_metrics_foreach(log_view, &(struct view_log){{0}}) >= 10, "metrics: refused series are counted");
	CHECK(skynet_metrics_series("peer_state", METRICS_GAUGE, NULL, "node=\"a\"") == a,
	      "metrics: existing series are still found when the table is full");
	UNIT_EXIT();
}
