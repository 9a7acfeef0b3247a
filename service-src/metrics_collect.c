/*
 * metrics_collect.c -- takes one snapshot of the node (see
 * metrics_collect.h).  The per-service rankings are bounded min-heaps of N
 * entries, so the walk is O(S log N) whatever the order of the services.
 */
#include "metrics_collect.h"
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_imp.h"
#include "skynet_runq.h"
#include "skynet_socket.h"
#include "skynet_timer.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *const PTYPE_NAMES[METRICS_PTYPES] = {
	"text", "response", "multicast", "client", "system", "harbor", "socket", "error", "queue",
	"debug", "lua", "snax", "trace", "13", "14", "15", "other",
};

const char *metrics_ptype_name(int i) { return i >= 0 && i < METRICS_PTYPES ? PTYPE_NAMES[i] : "other"; }

void metrics_snapshot_init(struct metrics_snapshot *s, int top_n) {
	memset(s, 0, sizeof(*s));
	if (top_n < 0)
		top_n = 0;
	if (top_n > METRICS_TOP_MAX)
		top_n = METRICS_TOP_MAX;
	s->top_n = top_n;
	for (int k = 0; k < TOP_KINDS; k++)
		s->top[k] = skynet_calloc(top_n ? top_n : 1, sizeof(struct metrics_service));
	s->all = skynet_calloc(top_n ? top_n * TOP_KINDS : 1, sizeof(struct metrics_service));
}

void metrics_snapshot_free(struct metrics_snapshot *s) {
	for (int k = 0; k < TOP_KINDS; k++)
		skynet_free(s->top[k]);
	skynet_free(s->all);
	skynet_free(s->handles);
	memset(s, 0, sizeof(*s));
}

/* The ranking key: higher ranks first; a service with 0 is not ranked. */
static uint64_t rank_key(int kind, const struct metrics_service *m) {
	switch (kind) {
	case TOP_CPU: return m->cpu_us ? m->cpu_us : (m->messages ? 1 : 0);
	case TOP_MAILBOX: return (uint64_t)m->mailbox;
	default: return m->memory;
	}
}

/* a ranks below b (ties: the older service, lower handle, ranks higher). */
static int below(int kind, const struct metrics_service *a, const struct metrics_service *b) {
	uint64_t ka = rank_key(kind, a), kb = rank_key(kind, b);
	return ka < kb || (ka == kb && a->handle > b->handle);
}

static void swap(struct metrics_service *a, struct metrics_service *b) {
	struct metrics_service t = *a;
	*a = *b;
	*b = t;
}

static void sift_down(int kind, struct metrics_service *h, int n, int i) {
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && below(kind, &h[l], &h[m]))
			m = l;
		if (r < n && below(kind, &h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		swap(&h[i], &h[m]);
		i = m;
	}
}

/* Offers m to ranking `kind`, a min-heap of at most top_n entries. */
static void rank_offer(struct metrics_snapshot *s, int kind, const struct metrics_service *m) {
	if (s->top_n == 0 || rank_key(kind, m) == 0)
		return;
	struct metrics_service *h = s->top[kind];
	int n = s->ntop[kind];
	if (n < s->top_n) {
		int i = n;
		h[i] = *m;
		while (i > 0 && below(kind, &h[i], &h[(i - 1) / 2])) {
			swap(&h[i], &h[(i - 1) / 2]);
			i = (i - 1) / 2;
		}
		s->ntop[kind] = n + 1;
	} else if (below(kind, &h[0], m)) {
		h[0] = *m;
		sift_down(kind, h, n, 0);
	}
}

/* Heap -> best first, by repeatedly moving the minimum to the end. */
static void rank_sort(int kind, struct metrics_service *h, int n) {
	for (int end = n - 1; end > 0; end--) {
		swap(&h[0], &h[end]);
		sift_down(kind, h, end, 0);
	}
}

static int by_handle(const void *a, const void *b) {
	uint32_t x = ((const struct metrics_service *)a)->handle, y = ((const struct metrics_service *)b)->handle;
	return x < y ? -1 : x > y;
}

static void read_service(struct skynet_context *ctx, uint32_t handle, struct metrics_service *m) {
	struct skynet_context_stat st;
	skynet_context_stat(ctx, &st, false);
	m->handle = handle;
	m->mailbox = st.mqlen;
	m->tasks = st.tasks;
	m->messages = st.message_count;
	m->cpu_us = st.profile ? st.cpu_cost_us : 0;
	m->memory = skynet_context_memory(ctx);
	m->name[0] = '\0';
}

int metrics_collect_service(uint32_t handle, struct metrics_service *out) {
	struct skynet_context *ctx = skynet_handle_grab(handle);
	if (ctx == NULL)
		return -1;
	read_service(ctx, handle, out);
	snprintf(out->name, sizeof(out->name), "%s", skynet_context_name(ctx));
	skynet_context_release(ctx);
	return 0;
}

static void walk_services(struct metrics_snapshot *s) {
	int n;
	for (;;) {
		n = skynet_handle_list(s->handles, s->handles_cap);
		if (n < s->handles_cap)
			break;
		int cap = s->handles_cap ? s->handles_cap * 2 : 1024;
		uint32_t *p = skynet_realloc(s->handles, sizeof(uint32_t) * (size_t)cap);
		if (p == NULL)
			break;
		s->handles = p;
		s->handles_cap = cap;
	}
	for (int k = 0; k < TOP_KINDS; k++)
		s->ntop[k] = 0;
	for (int i = 0; i < n; i++) {
		struct skynet_context *ctx = skynet_handle_grab(s->handles[i]);
		if (ctx == NULL)
			continue;
		struct metrics_service m;
		read_service(ctx, s->handles[i], &m);
		skynet_context_release(ctx);
		s->services++;
		s->mailbox_total += (uint64_t)m.mailbox;
		s->lua_memory += m.memory;
		for (int k = 0; k < TOP_KINDS; k++)
			rank_offer(s, k, &m);
	}
}

/* The union of the rankings, each service once, with its name. */
static void gather_top(struct metrics_snapshot *s) {
	int n = 0;
	for (int k = 0; k < TOP_KINDS; k++) {
		rank_sort(k, s->top[k], s->ntop[k]);
		for (int i = 0; i < s->ntop[k]; i++)
			s->all[n++] = s->top[k][i];
	}
	qsort(s->all, (size_t)n, sizeof(s->all[0]), by_handle);
	int u = 0;
	for (int i = 0; i < n; i++)
		if (u == 0 || s->all[u - 1].handle != s->all[i].handle)
			s->all[u++] = s->all[i];
	/* Names: a service that exited meanwhile keeps an empty one. */
	for (int i = 0; i < u; i++) {
		struct skynet_context *ctx = skynet_handle_grab(s->all[i].handle);
		if (ctx) {
			snprintf(s->all[i].name, sizeof(s->all[i].name), "%s", skynet_context_name(ctx));
			skynet_context_release(ctx);
		}
	}
	for (int k = 0; k < TOP_KINDS; k++) {
		for (int i = 0; i < s->ntop[k]; i++) {
			struct metrics_service key = {.handle = s->top[k][i].handle};
			struct metrics_service *found = bsearch(&key, s->all, (size_t)u, sizeof(key), by_handle);
			if (found)
				memcpy(s->top[k][i].name, found->name, sizeof(found->name));
		}
	}
	s->nall = u;
}

static void add_thread(const struct metrics_thread *t, void *ud) {
	struct metrics_snapshot *s = ud;
	for (int i = 0; i < METRICS_PTYPES; i++) {
		s->dispatched[i] += atomic_load_explicit(&t->dispatched[i], memory_order_relaxed);
		s->sent[i] += atomic_load_explicit(&t->sent[i], memory_order_relaxed);
	}
	int kind = atomic_load_explicit(&t->kind, memory_order_relaxed);
	int index = atomic_load_explicit(&t->index, memory_order_relaxed);
	if (kind == THREAD_WORKER && index >= 0 && index < METRICS_WORKERS_MAX) {
		s->worker_busy_us[index] = atomic_load_explicit(&t->busy_us, memory_order_relaxed);
		if (index + 1 > s->workers)
			s->workers = index + 1;
	}
}

static void read_sockets(struct metrics_snapshot *s) {
	struct socket_info *list = skynet_socket_info();
	for (struct socket_info *si = list; si; si = si->next)
		if (si->type >= 0 && si->type < METRICS_SOCKET_KINDS)
			s->sockets[si->type]++;
	socket_info_release(list);
	skynet_socket_totals(&s->bytes_in, &s->bytes_out);
}

/* /proc/self/stat: utime (14), stime (15), num_threads (20), vsize (23),
 * rss (24, pages); fields counted from 1, the command (2) may hold spaces
 * and parentheses, so parsing starts after its last ')'. */
static void read_proc(struct metrics_snapshot *s, int full) {
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		unsigned long long utime = 0, stime = 0, vsize = 0, threads = 0;
		long long rss = 0;
		if (p && sscanf(p + 2,
		                "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %llu %*d %*u %llu %lld",
		                &utime, &stime, &threads, &vsize, &rss) == 5) {
			long tick = sysconf(_SC_CLK_TCK);
			long page = sysconf(_SC_PAGESIZE);
			s->cpu_seconds = tick > 0 ? (double)(utime + stime) / (double)tick : 0;
			s->threads = (int)threads;
			s->vsize_bytes = vsize;
			s->rss_bytes = rss > 0 && page > 0 ? (uint64_t)rss * (uint64_t)page : 0;
		}
	}
	if (!full)
		return;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		int n = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		s->open_fds = n - 1; /* minus the directory's own fd */
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		s->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (int)rl.rlim_cur;
}

void metrics_collect(struct metrics_snapshot *s, int full) {
	uint64_t t0 = skynet_hpc();
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	s->time_ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
	s->services = 0;
	s->mailbox_total = 0;
	s->lua_memory = 0;
	s->workers = 0;
	memset(s->dispatched, 0, sizeof(s->dispatched));
	memset(s->sent, 0, sizeof(s->sent));
	memset(s->worker_busy_us, 0, sizeof(s->worker_busy_us));
	memset(s->sockets, 0, sizeof(s->sockets));
	skynet_handle_totals(&s->started, &s->exited);
	skynet_metrics_threads(add_thread, s);
	s->runq = skynet_runq_length();
	s->timers = skynet_timer_pending();
	s->start_time = skynet_starttime();
	walk_services(s);
	s->nall = 0;
	if (full) {
		gather_top(s);
		read_sockets(s);
	}
	read_proc(s, full);
	s->collect_ns = skynet_hpc() - t0;
}
