/*
 * harbor_names.h -- the harbor service's table of global names: each name
 * is bound to a handle, or (not bound yet) holds the messages sent to it
 * so far, oldest first.  A chained hash table that doubles when it holds
 * as many names as it has buckets; a tail pointer keeps appends O(1).
 * Owned by the harbor service (one thread at a time).
 */
#ifndef HARBOR_NAMES_H
#define HARBOR_NAMES_H

#include "skynet_harbor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A global name is at most this many bytes (names are stored in
 * GLOBALNAME_LENGTH = 16 bytes, zero padded, so 16 bytes means "too long"). */
#define HARBOR_NAME_MAX (GLOBALNAME_LENGTH - 1)

/* A message waiting for its name to be bound. */
struct harbor_pending {
	struct harbor_pending *next;
	struct remote_message rmsg;
	uint32_t source;
	int session;
};

struct harbor_name {
	struct harbor_name *next; /* hash chain */
	char name[GLOBALNAME_LENGTH + 1];
	uint32_t handle; /* 0: not bound yet */
	struct harbor_pending *head;
	struct harbor_pending **tail;
};

struct harbor_names {
	struct harbor_name **bucket;
	size_t nbucket; /* power of 2 */
	size_t nname;
};

void harbor_names_init(struct harbor_names *t);
/* Frees every entry and every message still waiting. */
void harbor_names_release(struct harbor_names *t);
/* The entry for name (len bytes, 1..GLOBALNAME_LENGTH); created unbound
 * when `create` is set and there is none (then *created is set). */
struct harbor_name *harbor_names_find(struct harbor_names *t, const char *name, size_t len, bool create,
                                      bool *created);
/* Appends a message to an unbound name's queue (the entry owns it then). */
void harbor_names_queue(struct harbor_name *n, const struct remote_message *rmsg, uint32_t source, int session);
/* Detaches and returns the queue, oldest first; the caller frees each
 * struct harbor_pending (and delivers or frees its message). */
struct harbor_pending *harbor_names_take(struct harbor_name *n);
/* Calls fn for every unbound name that has messages waiting. */
void harbor_names_each_waiting(struct harbor_names *t, void (*fn)(void *ud, struct harbor_name *n), void *ud);

#endif
