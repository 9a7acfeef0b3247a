/*
 * harbor_calls.h -- the requests this node sent to other harbors and that
 * have not been answered yet, so that when a harbor goes down every caller
 * waiting on it can be failed instead of hanging (upstream's callers wait
 * forever).
 *
 * Keyed by (local caller, session); a request is added when it leaves and
 * removed when its PTYPE_RESPONSE or PTYPE_ERROR comes back.  Each entry
 * keeps when it left, so the harbor service can time the round trip
 * (skynet_harbor_call_duration_seconds) from the exchange that already
 * happens, without a frame of its own on the wire.  Open
 * addressing with linear probing and backward-shift deletion: O(1) both
 * ways, no tombstones.  Owned by the harbor service (one thread at a time).
 */
#ifndef HARBOR_CALLS_H
#define HARBOR_CALLS_H

#include <stddef.h>
#include <stdint.h>

struct harbor_call {
	uint32_t source;  /* the local caller; 0 marks a free slot */
	uint32_t session;
	uint32_t dest;    /* the remote callee (its top byte is the harbor id) */
	uint64_t sent_ns; /* skynet_hpc() when the request left */
};

struct harbor_calls {
	struct harbor_call *slot;
	size_t cap; /* power of 2 */
	size_t n;
};

void harbor_calls_init(struct harbor_calls *c);
void harbor_calls_release(struct harbor_calls *c);
/* Remembers a request; returns the callee of the request it replaces (the
 * same caller and session still waiting: a session reused), or 0. */
uint32_t harbor_calls_add(struct harbor_calls *c, uint32_t source, uint32_t session, uint32_t dest,
                          uint64_t sent_ns);
/* Forgets the request and copies it to *out (if not NULL); returns 0 if it
 * was not there. */
int harbor_calls_remove(struct harbor_calls *c, uint32_t source, uint32_t session, struct harbor_call *out);
/* Removes every request to harbor `id` and calls fn for each.  O(capacity),
 * only run when a harbor goes down. */
void harbor_calls_drop_harbor(struct harbor_calls *c, int id, void (*fn)(void *ud, const struct harbor_call *call),
                              void *ud);

#endif
