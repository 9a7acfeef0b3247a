/*
 * metrics_collect.h -- one snapshot of the node for the metrics endpoint:
 * node totals read from the core's counters, a walk over every service
 * (mailbox, messages, CPU time, Lua memory) that keeps only the top N by
 * each of CPU time, mailbox length and Lua memory, and the process's own
 * figures from /proc.
 *
 * Cost: one pass over the live services (a registry lookup and a few
 * relaxed loads each; 10,000 services take 1-2 ms, see
 * `bench/run.sh metrics`), O(N) work per service for the top lists, and
 * no allocation after the first snapshot.  Nothing here blocks or sends a
 * message: a scrape never waits for a busy service.
 */
#ifndef METRICS_COLLECT_H
#define METRICS_COLLECT_H

#include "skynet_metrics.h"
#include "skynet_server.h"

#include <stddef.h>
#include <stdint.h>

#define METRICS_TOP_MAX 1000 /* largest accepted `metrics_top` */
#define METRICS_WORKERS_MAX 128

/* Socket kinds, as socket_info.h numbers them (0 unknown .. 5 closing). */
#define METRICS_SOCKET_KINDS 6

struct metrics_service {
	uint32_t handle;
	int mailbox;
	int tasks;         /* coroutines waiting on a session (debug STAT's task) */
	uint64_t messages; /* handled so far (64 bits: never wraps in practice) */
	uint64_t cpu_us;
	uint64_t memory; /* Lua heap bytes (0 for C services) */
	char name[SKYNET_CONTEXT_NAME_MAX + 1];
};

/* The three rankings; a service may sit in several. */
enum { TOP_CPU, TOP_MAILBOX, TOP_MEMORY, TOP_KINDS };

struct metrics_snapshot {
	uint64_t time_ms;     /* wall clock of the snapshot */
	uint64_t collect_ns;  /* how long collecting took */
	int services;
	uint64_t started, exited;
	uint64_t dispatched[METRICS_PTYPES];
	uint64_t sent[METRICS_PTYPES];
	int workers;
	uint64_t worker_busy_us[METRICS_WORKERS_MAX];
	int runq;
	uint64_t mailbox_total; /* messages waiting in all mailboxes */
	int timers;
	int sockets[METRICS_SOCKET_KINDS];
	uint64_t bytes_in, bytes_out;
	uint64_t lua_memory;
	uint32_t start_time; /* seconds since the epoch */
	/* The process (from /proc; 0 when unreadable). */
	uint64_t rss_bytes, vsize_bytes;
	double cpu_seconds;
	int open_fds, max_fds, threads;
	/* Top N by each ranking, best first; `all` is their union (at most
	 * 3N, each service once) in no particular order. */
	int top_n;
	int ntop[TOP_KINDS];
	struct metrics_service *top[TOP_KINDS];
	int nall;
	struct metrics_service *all;
	/* Scratch owned by the snapshot. */
	uint32_t *handles;
	int handles_cap;
};

void metrics_snapshot_init(struct metrics_snapshot *s, int top_n);
void metrics_snapshot_free(struct metrics_snapshot *s);
/* Fills s.  `full` = 0 skips the per-service names and the process's
 * figures that need /proc (the console's history sampler). */
void metrics_collect(struct metrics_snapshot *s, int full);
/* One service's figures by handle; 0, or -1 if it is gone. */
int metrics_collect_service(uint32_t handle, struct metrics_service *out);
/* The protocol name of bucket i (skynet_metrics.h): "lua", "text", ... */
const char *metrics_ptype_name(int i);

#endif
