/*
 * harbor_calls.c -- table of unanswered requests to other harbors
 * (harbor_calls.h).
 */
#include "harbor_calls.h"
#include "skynet_malloc.h"

#include <string.h>

#define CALLS_MIN 64

static size_t call_hash(uint32_t source, uint32_t session) {
	uint64_t k = (uint64_t)source << 32 | session;
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k;
}

void harbor_calls_init(struct harbor_calls *c) {
	c->cap = CALLS_MIN;
	c->n = 0;
	c->slot = skynet_calloc(c->cap, sizeof(*c->slot));
}

void harbor_calls_release(struct harbor_calls *c) {
	skynet_free(c->slot);
	memset(c, 0, sizeof(*c));
}

/* Rehash helper: keys are unique, so the first free slot is the place. */
static void insert(struct harbor_call *slot, size_t cap, const struct harbor_call *call) {
	size_t i = call_hash(call->source, call->session) & (cap - 1);
	while (slot[i].source != 0)
		i = (i + 1) & (cap - 1);
	slot[i] = *call;
}

uint32_t harbor_calls_add(struct harbor_calls *c, uint32_t source, uint32_t session, uint32_t dest,
                          uint64_t sent_ns) {
	if (source == 0)
		return 0; /* 0 marks free slots; the framework never waits for replies */
	if ((c->n + 1) * 2 > c->cap) {
		size_t cap = c->cap * 2;
		struct harbor_call *slot = skynet_calloc(cap, sizeof(*slot));
		for (size_t i = 0; i < c->cap; i++)
			if (c->slot[i].source)
				insert(slot, cap, &c->slot[i]);
		skynet_free(c->slot);
		c->slot = slot;
		c->cap = cap;
	}
	/* A key already there (a session reused) is replaced in place. */
	size_t i = call_hash(source, session) & (c->cap - 1);
	for (;; i = (i + 1) & (c->cap - 1)) {
		if (c->slot[i].source == 0) {
			c->slot[i] = (struct harbor_call){source, session, dest, sent_ns};
			c->n++;
			return 0;
		}
		if (c->slot[i].source == source && c->slot[i].session == session) {
			uint32_t old = c->slot[i].dest;
			c->slot[i].dest = dest;
			c->slot[i].sent_ns = sent_ns;
			return old;
		}
	}
}

/* Empties slot i and shifts later entries of its probe run back. */
static void delete_at(struct harbor_calls *c, size_t i) {
	size_t mask = c->cap - 1;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (c->slot[j].source == 0)
			break;
		size_t home = call_hash(c->slot[j].source, c->slot[j].session) & mask;
		/* j may move to i when its home is not in (i, j] (cyclically) */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			c->slot[i] = c->slot[j];
			i = j;
		}
	}
	c->slot[i].source = 0;
	c->n--;
}

int harbor_calls_remove(struct harbor_calls *c, uint32_t source, uint32_t session, struct harbor_call *out) {
	if (c->n == 0 || source == 0)
		return 0;
	size_t mask = c->cap - 1;
	for (size_t i = call_hash(source, session) & mask; c->slot[i].source; i = (i + 1) & mask) {
		if (c->slot[i].source == source && c->slot[i].session == session) {
			if (out)
				*out = c->slot[i];
			delete_at(c, i);
			return 1;
		}
	}
	return 0;
}

void harbor_calls_drop_harbor(struct harbor_calls *c, int id, void (*fn)(void *ud, const struct harbor_call *call),
                              void *ud) {
	/* Collect first: deleting shifts entries, which would make a single
	 * forward pass skip or repeat some. */
	size_t n = 0;
	struct harbor_call *hit = NULL;
	for (size_t i = 0; i < c->cap; i++)
		if (c->slot[i].source && (int)(c->slot[i].dest >> 24) == id)
			n++;
	if (n == 0)
		return;
	hit = skynet_malloc(n * sizeof(*hit));
	n = 0;
	for (size_t i = 0; i < c->cap; i++)
		if (c->slot[i].source && (int)(c->slot[i].dest >> 24) == id)
			hit[n++] = c->slot[i];
	for (size_t k = 0; k < n; k++) {
		harbor_calls_remove(c, hit[k].source, hit[k].session, NULL);
		fn(ud, &hit[k]);
	}
	skynet_free(hit);
}
