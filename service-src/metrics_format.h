/*
 * metrics_format.h -- writes a snapshot (metrics_collect.h) as Prometheus
 * text exposition format 0.0.4 (/metrics) or as JSON (/metrics.json, read
 * by the console page), into a growable buffer.
 *
 * Names follow Prometheus' conventions: a `skynet_` prefix, base units
 * (seconds, bytes), `_total` on counters, `# HELP` and `# TYPE` for every
 * family, the standard `process_*` names for the process.  Label values
 * are escaped (\\, \", \n) and any byte outside printable ASCII becomes
 * '?', so a service name can never break either format.
 */
#ifndef METRICS_FORMAT_H
#define METRICS_FORMAT_H

#include "metrics_collect.h"

#include <stddef.h>
#include <stdint.h>

struct mbuf {
	char *p;
	size_t len, cap;
	int failed; /* an allocation failed: the content is cut short */
};

void mbuf_init(struct mbuf *b);
void mbuf_free(struct mbuf *b);
void mbuf_add(struct mbuf *b, const char *s, size_t n);
void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes over (the caller frees them) and empties b. */
char *mbuf_take(struct mbuf *b, size_t *len);

/* One sample of the console's memory chart. */
struct metrics_sample {
	uint64_t time_ms;
	uint64_t lua_memory;
	uint64_t rss_bytes;
	uint64_t messages; /* dispatched so far */
};

void metrics_format_text(struct mbuf *b, const struct metrics_snapshot *s);
/* history: n samples, oldest first. */
void metrics_format_json(struct mbuf *b, const struct metrics_snapshot *s, const struct metrics_sample *history,
                         int n);
void metrics_format_service_json(struct mbuf *b, const struct metrics_service *m);

#endif
