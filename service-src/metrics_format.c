/*
 * metrics_format.c -- Prometheus text and JSON writers for a snapshot
 * (see metrics_format.h).
 */
#include "metrics_format.h"
#include "skynet.h"
#include "socket_info.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mbuf_init(struct mbuf *b) { memset(b, 0, sizeof(*b)); }

void mbuf_free(struct mbuf *b) {
	skynet_free(b->p);
	mbuf_init(b);
}

static int mbuf_reserve(struct mbuf *b, size_t more) {
	if (b->failed)
		return -1;
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = skynet_realloc(b->p, cap);
	if (p == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void mbuf_add(struct mbuf *b, const char *s, size_t n) {
	if (mbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...) {
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		mbuf_add(b, tmp, (size_t)n);
		return;
	}
	if (mbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *mbuf_take(struct mbuf *b, size_t *len) {
	char *p = b->p;
	*len = b->len;
	mbuf_init(b);
	return p;
}

/* A label value or JSON string body: escapes \ and ", newlines as \n, and
 * turns every other byte outside printable ASCII into '?'. */
static void add_escaped(struct mbuf *b, const char *s) {
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\' || c == '"') {
			char e[2] = {'\\', (char)c};
			mbuf_add(b, e, 2);
		} else if (c == '\n') {
			mbuf_add(b, "\\n", 2);
		} else if (c < 0x20 || c >= 0x7f) {
			mbuf_add(b, "?", 1);
		} else {
			mbuf_add(b, (const char *)&c, 1);
		}
	}
}

/* ---- Prometheus text ---------------------------------------------------- */

static void family(struct mbuf *b, const char *name, const char *type, const char *help) {
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u(struct mbuf *b, const char *name, uint64_t v) {
	mbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void sample_d(struct mbuf *b, const char *name, double v) { mbuf_printf(b, "%s %.6f\n", name, v); }

static void metric_u(struct mbuf *b, const char *name, const char *type, const char *help, uint64_t v) {
	family(b, name, type, help);
	sample_u(b, name, v);
}

static void service_labels(struct mbuf *b, const struct metrics_service *m) {
	mbuf_printf(b, "{address=\":%08x\",name=\"", m->handle);
	add_escaped(b, m->name);
	mbuf_add(b, "\"}", 2);
}

static const char *const SOCKET_KIND[METRICS_SOCKET_KINDS] = {
	[SOCKET_INFO_UNKNOWN] = NULL,     [SOCKET_INFO_LISTEN] = "listen", [SOCKET_INFO_TCP] = "tcp",
	[SOCKET_INFO_UDP] = "udp",        [SOCKET_INFO_BIND] = "bind",     [SOCKET_INFO_CLOSING] = "closing",
};

static void per_service(struct mbuf *b, const struct metrics_snapshot *s, const char *name, const char *type,
                        const char *help, int what) {
	if (s->nall == 0)
		return;
	family(b, name, type, help);
	for (int i = 0; i < s->nall; i++) {
		const struct metrics_service *m = &s->all[i];
		mbuf_add(b, name, strlen(name));
		service_labels(b, m);
		switch (what) {
		case 0: mbuf_printf(b, " %d\n", m->mailbox); break;
		case 1: mbuf_printf(b, " %llu\n", (unsigned long long)m->messages); break;
		case 2: mbuf_printf(b, " %.6f\n", (double)m->cpu_us / 1e6); break;
		case 3: mbuf_printf(b, " %d\n", m->tasks); break;
		default: mbuf_printf(b, " %llu\n", (unsigned long long)m->memory); break;
		}
	}
}

struct published {
	struct mbuf *b;
	const char *last; /* family whose HELP/TYPE were written */
};

static void number(struct mbuf *b, double v) {
	if (v == floor(v) && fabs(v) < 1e15)
		mbuf_printf(b, "%.0f", v);
	else
		mbuf_printf(b, "%.9g", v);
}

static void text_published(const struct metrics_series_view *v, void *ud) {
	struct published *p = ud;
	struct mbuf *b = p->b;
	static const char *const TYPE[] = {"counter", "gauge", "summary"};
	if (p->last == NULL || strcmp(p->last, v->name) != 0) {
		family(b, v->name, TYPE[v->type], v->help[0] ? v->help : "Published by a service.");
		p->last = v->name;
	}
	const char *lb = v->labels[0] ? "{" : "", *rb = v->labels[0] ? "}" : "";
	if (v->type == METRICS_SUMMARY) {
		mbuf_printf(b, "%s_sum%s%s%s ", v->name, lb, v->labels, rb);
		number(b, v->value);
		mbuf_printf(b, "\n%s_count%s%s%s %llu\n", v->name, lb, v->labels, rb, (unsigned long long)v->count);
	} else {
		mbuf_printf(b, "%s%s%s%s ", v->name, lb, v->labels, rb);
		number(b, v->value);
		mbuf_add(b, "\n", 1);
	}
}

void metrics_format_text(struct mbuf *b, const struct metrics_snapshot *s) {
	metric_u(b, "skynet_services", "gauge", "Services alive now.", (uint64_t)s->services);
	metric_u(b, "skynet_services_started_total", "counter", "Services started since the node began.", s->started);
	metric_u(b, "skynet_services_exited_total", "counter", "Services exited since the node began.", s->exited);

	family(b, "skynet_messages_dispatched_total", "counter", "Messages handled by service callbacks, by protocol.");
	for (int i = 0; i < METRICS_PTYPES; i++)
		if (s->dispatched[i] || i == 10)
			mbuf_printf(b, "skynet_messages_dispatched_total{protocol=\"%s\"} %llu\n", metrics_ptype_name(i),
			            (unsigned long long)s->dispatched[i]);
	family(b, "skynet_messages_sent_total", "counter", "Messages sent by services, by protocol.");
	for (int i = 0; i < METRICS_PTYPES; i++)
		if (s->sent[i] || i == 10)
			mbuf_printf(b, "skynet_messages_sent_total{protocol=\"%s\"} %llu\n", metrics_ptype_name(i),
			            (unsigned long long)s->sent[i]);

	metric_u(b, "skynet_workers", "gauge", "Worker threads that have run.", (uint64_t)s->workers);
	if (s->workers > 0) {
		family(b, "skynet_worker_busy_seconds_total", "counter",
		       "Time each worker spent inside service callbacks (counted when profile is on, the default).");
		for (int i = 0; i < s->workers; i++)
			mbuf_printf(b, "skynet_worker_busy_seconds_total{worker=\"%d\"} %.6f\n", i,
			            (double)s->worker_busy_us[i] / 1e6);
	}
	metric_u(b, "skynet_run_queue_mailboxes", "gauge", "Mailboxes waiting for a worker.", (uint64_t)s->runq);
	metric_u(b, "skynet_mailbox_messages", "gauge", "Messages waiting in all mailboxes.", s->mailbox_total);
	metric_u(b, "skynet_timers", "gauge", "Timers pending.", (uint64_t)s->timers);

	family(b, "skynet_sockets", "gauge", "Sockets open, by kind.");
	for (int k = 0; k < METRICS_SOCKET_KINDS; k++)
		if (SOCKET_KIND[k])
			mbuf_printf(b, "skynet_sockets{kind=\"%s\"} %d\n", SOCKET_KIND[k], s->sockets[k]);
	metric_u(b, "skynet_socket_received_bytes_total", "counter", "Bytes read by all sockets.", s->bytes_in);
	metric_u(b, "skynet_socket_sent_bytes_total", "counter", "Bytes written by all sockets.", s->bytes_out);
	metric_u(b, "skynet_lua_memory_bytes", "gauge", "Lua heap bytes of all services.", s->lua_memory);

	per_service(b, s, "skynet_service_mailbox_messages", "gauge",
	            "Messages waiting in the mailbox of a service (top services only).", 0);
	per_service(b, s, "skynet_service_messages_total", "counter",
	            "Messages a service has handled (top services only).", 1);
	per_service(b, s, "skynet_service_cpu_seconds_total", "counter",
	            "Time a service spent in its callbacks (top services only).", 2);
	per_service(b, s, "skynet_service_lua_memory_bytes", "gauge", "Lua heap bytes of a service (top services only).",
	            4);
	per_service(b, s, "skynet_service_tasks", "gauge",
	            "Coroutines of a service waiting for a reply, a timer or a wakeup (top services only).", 3);

	struct published p = {b, NULL};
	uint64_t refused = skynet_metrics_foreach(text_published, &p);
	metric_u(b, "skynet_metrics_series_refused_total", "counter",
	         "Series services asked to publish while the table was full.", refused);
	family(b, "skynet_metrics_collect_seconds", "gauge", "Time the metrics snapshot took.");
	sample_d(b, "skynet_metrics_collect_seconds", (double)s->collect_ns / 1e9);

	family(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
	sample_d(b, "process_cpu_seconds_total", s->cpu_seconds);
	metric_u(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", s->rss_bytes);
	metric_u(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", s->vsize_bytes);
	metric_u(b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
	         s->start_time);
	metric_u(b, "process_open_fds", "gauge", "Number of open file descriptors.", (uint64_t)s->open_fds);
	if (s->max_fds >= 0)
		metric_u(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.", (uint64_t)s->max_fds);
	metric_u(b, "process_threads", "gauge", "Threads of the process.", (uint64_t)s->threads);
}

/* ---- JSON --------------------------------------------------------------- */

static void json_str(struct mbuf *b, const char *s) {
	mbuf_add(b, "\"", 1);
	add_escaped(b, s);
	mbuf_add(b, "\"", 1);
}

static void json_service(struct mbuf *b, const struct metrics_service *m) {
	mbuf_printf(b, "{\"address\":\":%08x\",\"name\":", m->handle);
	json_str(b, m->name);
	mbuf_printf(b, ",\"mailbox\":%d,\"tasks\":%d,\"messages\":%llu,\"cpu\":%.6f,\"memory\":%llu}", m->mailbox,
	            m->tasks, (unsigned long long)m->messages, (double)m->cpu_us / 1e6, (unsigned long long)m->memory);
}

static void json_top(struct mbuf *b, const char *key, const struct metrics_snapshot *s, int kind) {
	mbuf_printf(b, "\"%s\":[", key);
	for (int i = 0; i < s->ntop[kind]; i++) {
		if (i)
			mbuf_add(b, ",", 1);
		json_service(b, &s->top[kind][i]);
	}
	mbuf_add(b, "]", 1);
}

struct json_pub {
	struct mbuf *b;
	int n;
};

static void json_published(const struct metrics_series_view *v, void *ud) {
	struct json_pub *p = ud;
	static const char *const TYPE[] = {"counter", "gauge", "summary"};
	if (p->n++)
		mbuf_add(p->b, ",", 1);
	mbuf_printf(p->b, "{\"name\":\"%s\",\"type\":\"%s\",\"labels\":", v->name, TYPE[v->type]);
	json_str(p->b, v->labels);
	mbuf_add(p->b, ",\"value\":", 9);
	number(p->b, v->value);
	mbuf_printf(p->b, ",\"count\":%llu}", (unsigned long long)v->count);
}

void metrics_format_json(struct mbuf *b, const struct metrics_snapshot *s, const struct metrics_sample *history,
                         int n) {
	uint64_t dispatched = 0, sent = 0;
	for (int i = 0; i < METRICS_PTYPES; i++) {
		dispatched += s->dispatched[i];
		sent += s->sent[i];
	}
	mbuf_printf(b,
	            "{\"node\":{\"time\":%llu,\"start_time\":%u,\"services\":%d,\"started\":%llu,\"exited\":%llu,"
	            "\"messages\":%llu,\"sent\":%llu,\"run_queue\":%d,\"mailbox\":%llu,\"timers\":%d,"
	            "\"lua_memory\":%llu,\"rss\":%llu,\"cpu_seconds\":%.3f,\"open_fds\":%d,\"threads\":%d,"
	            "\"bytes_in\":%llu,\"bytes_out\":%llu,\"collect_seconds\":%.6f,\"top_n\":%d,",
	            (unsigned long long)s->time_ms, s->start_time, s->services, (unsigned long long)s->started,
	            (unsigned long long)s->exited, (unsigned long long)dispatched, (unsigned long long)sent, s->runq,
	            (unsigned long long)s->mailbox_total, s->timers, (unsigned long long)s->lua_memory,
	            (unsigned long long)s->rss_bytes, s->cpu_seconds, s->open_fds, s->threads,
	            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out, (double)s->collect_ns / 1e9,
	            s->top_n);
	mbuf_add(b, "\"sockets\":{", 11);
	int first = 1;
	for (int k = 0; k < METRICS_SOCKET_KINDS; k++) {
		if (!SOCKET_KIND[k])
			continue;
		mbuf_printf(b, "%s\"%s\":%d", first ? "" : ",", SOCKET_KIND[k], s->sockets[k]);
		first = 0;
	}
	mbuf_add(b, "},\"protocols\":{", 15);
	first = 1;
	for (int i = 0; i < METRICS_PTYPES; i++) {
		if (!s->dispatched[i])
			continue;
		mbuf_printf(b, "%s\"%s\":%llu", first ? "" : ",", metrics_ptype_name(i),
		            (unsigned long long)s->dispatched[i]);
		first = 0;
	}
	mbuf_add(b, "},\"workers\":[", 13);
	for (int i = 0; i < s->workers; i++)
		mbuf_printf(b, "%s%.6f", i ? "," : "", (double)s->worker_busy_us[i] / 1e6);
	mbuf_add(b, "]},\"top\":{", 10);
	json_top(b, "cpu", s, TOP_CPU);
	mbuf_add(b, ",", 1);
	json_top(b, "mailbox", s, TOP_MAILBOX);
	mbuf_add(b, ",", 1);
	json_top(b, "memory", s, TOP_MEMORY);
	mbuf_add(b, "},\"history\":[", 13);
	for (int i = 0; i < n; i++)
		mbuf_printf(b, "%s[%llu,%llu,%llu,%llu]", i ? "," : "", (unsigned long long)history[i].time_ms,
		            (unsigned long long)history[i].lua_memory, (unsigned long long)history[i].rss_bytes,
		            (unsigned long long)history[i].messages);
	mbuf_add(b, "],\"published\":[", 15);
	struct json_pub p = {b, 0};
	skynet_metrics_foreach(json_published, &p);
	mbuf_add(b, "]}\n", 3);
}

void metrics_format_service_json(struct mbuf *b, const struct metrics_service *m) {
	json_service(b, m);
	mbuf_add(b, "\n", 1);
}
