/*
 * skynet_monitor.c -- endless-loop detection.  A worker bumps `version`
 * before and after each message; if a check sees the same version twice
 * while a destination is recorded, one message has run for 5-10 s.
 */
#include "skynet_monitor.h"
#include "skynet.h"
#include "skynet_server.h"

#include <stdatomic.h>
#include <string.h>

/* Written by its worker, read by the monitor thread: all atomics. */
struct skynet_monitor {
	atomic_int version;
	int check_version; /* monitor thread only */
	_Atomic uint32_t source;
	_Atomic uint32_t destination;
};

struct skynet_monitor *skynet_monitor_new(void) {
	struct skynet_monitor *m = skynet_malloc(sizeof(*m));
	memset(m, 0, sizeof(*m));
	return m;
}

void skynet_monitor_delete(struct skynet_monitor *m) { skynet_free(m); }

void skynet_monitor_trigger(struct skynet_monitor *m, uint32_t source, uint32_t destination) {
	atomic_store_explicit(&m->source, source, memory_order_relaxed);
	atomic_store_explicit(&m->destination, destination, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->version, 1, memory_order_release);
}

void skynet_monitor_check(struct skynet_monitor *m) {
	int version = atomic_load_explicit(&m->version, memory_order_acquire);
	if (version == m->check_version) {
		uint32_t destination = atomic_load_explicit(&m->destination, memory_order_relaxed);
		if (destination) {
			skynet_context_endless(destination);
			skynet_error(NULL,
			             "error: A message from [ :%08x ] to [ :%08x ] maybe in an endless loop (version = %d)",
			             atomic_load_explicit(&m->source, memory_order_relaxed), destination, version);
		}
	} else {
		m->check_version = version;
	}
}
