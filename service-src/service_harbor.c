/*
 * service_harbor.c -- the C `harbor` service, launched by cdummy as
 * `harbor 0 <cdummy address>`.  In single-node mode nothing is remote; the
 * core hands this service the messages addressed to global names.  Names are
 * bound by cdummy with a PTYPE_HARBOR text "N <name>" whose source is the
 * named service.  A message for a name nobody registered yet waits here until
 * the name appears (as upstream does).  Multi-harbor networking
 * (harbor != 0) is not supported by this build, so a message addressed to a
 * handle of another harbor is dropped here with a log line, and a caller is
 * answered with an error.
 */
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_harbor.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A message for a global name that nobody has registered yet. */
struct pending {
	struct pending *next;
	struct remote_message rmsg;
	uint32_t source;
	int session;
};

/* One global name: bound to `handle`, or (handle 0) holding the messages
 * sent to it so far, oldest first.  A tail pointer keeps each append O(1)
 * (a flood of messages to a name not registered yet used to walk the list
 * once per message). */
struct global_name {
	struct global_name *next; /* hash chain */
	char name[GLOBALNAME_LENGTH + 1];
	uint32_t handle;
	struct pending *head;
	struct pending **tail;
};

/* Names live in a chained hash table that doubles when it is as full as it
 * has buckets, so lookups stay O(1) however many names are registered. */
#define NAME_BUCKETS_MIN 64

struct harbor {
	struct skynet_context *ctx;
	uint32_t slave;
	struct global_name **bucket;
	size_t nbucket;
	size_t nname;
};

void *harbor_create(void) {
	struct harbor *h = skynet_malloc(sizeof(*h));
	memset(h, 0, sizeof(*h));
	h->nbucket = NAME_BUCKETS_MIN;
	h->bucket = skynet_malloc(h->nbucket * sizeof(*h->bucket));
	memset(h->bucket, 0, h->nbucket * sizeof(*h->bucket));
	return h;
}

static void free_pending(struct pending *p) {
	while (p) {
		struct pending *next = p->next;
		skynet_free((void *)p->rmsg.message);
		skynet_free(p);
		p = next;
	}
}

void harbor_release(struct harbor *h) {
	for (size_t i = 0; i < h->nbucket; i++) {
		struct global_name *n = h->bucket[i];
		while (n) {
			struct global_name *next = n->next;
			free_pending(n->head);
			skynet_free(n);
			n = next;
		}
	}
	skynet_free(h->bucket);
	skynet_free(h);
}

/* FNV-1a over the name's bytes (at most GLOBALNAME_LENGTH of them). */
static size_t name_hash(const char *name, size_t len) {
	uint32_t x = 2166136261u;
	for (size_t i = 0; i < len; i++)
		x = (x ^ (unsigned char)name[i]) * 16777619u;
	return x;
}

static void grow_table(struct harbor *h) {
	size_t nbucket = h->nbucket * 2;
	struct global_name **bucket = skynet_malloc(nbucket * sizeof(*bucket));
	memset(bucket, 0, nbucket * sizeof(*bucket));
	for (size_t i = 0; i < h->nbucket; i++) {
		struct global_name *n = h->bucket[i];
		while (n) {
			struct global_name *next = n->next;
			size_t b = name_hash(n->name, strlen(n->name)) & (nbucket - 1);
			n->next = bucket[b];
			bucket[b] = n;
			n = next;
		}
	}
	skynet_free(h->bucket);
	h->bucket = bucket;
	h->nbucket = nbucket;
}

/* The entry for `name` (len bytes, 1..GLOBALNAME_LENGTH), created unbound
 * when `create` is set and there is none; NULL otherwise. */
static struct global_name *find_name(struct harbor *h, const char *name, size_t len, bool create) {
	size_t b = name_hash(name, len) & (h->nbucket - 1);
	for (struct global_name *n = h->bucket[b]; n; n = n->next)
		if (strlen(n->name) == len && memcmp(n->name, name, len) == 0)
			return n;
	if (!create)
		return NULL;
	if (h->nname >= h->nbucket) {
		grow_table(h);
		b = name_hash(name, len) & (h->nbucket - 1);
	}
	struct global_name *n = skynet_malloc(sizeof(*n));
	memset(n, 0, sizeof(*n));
	memcpy(n->name, name, len);
	n->tail = &n->head;
	n->next = h->bucket[b];
	h->bucket[b] = n;
	h->nname++;
	return n;
}

/* Text sent with PTYPE_ERROR to a caller whose message was dropped: its
 * skynet.call fails with "call to :01000001 failed: no such node". */
static const char NO_SUCH_NODE[] = "no such node";

/* A message for another harbor: this node has no harbor links (harbor = 0),
 * so nothing can carry it.  Dropped with a log line; a caller is answered
 * at once.  (Handing it to skynet_send would route it straight back here.) */
static void drop_remote(struct harbor *h, const struct remote_message *rmsg, uint32_t dest, uint32_t source,
                        int session) {
	skynet_error(h->ctx, "harbor: dropped a message from :%08x to :%08x: no such node (harbor %u)", source,
	             dest, dest >> HANDLE_REMOTE_SHIFT);
	skynet_free((void *)rmsg->message);
	if (session != 0)
		skynet_send(h->ctx, dest, source, PTYPE_ERROR, session, (void *)NO_SUCH_NODE,
		            sizeof(NO_SUCH_NODE) - 1);
}

static void deliver(struct harbor *h, const struct remote_message *rmsg, uint32_t dest, uint32_t source,
                    int session) {
	if (skynet_harbor_message_isremote(dest)) {
		drop_remote(h, rmsg, dest, source, session);
		return;
	}
	int r = skynet_send(h->ctx, source, dest, rmsg->type | PTYPE_TAG_DONTCOPY, session,
	                    (void *)rmsg->message, rmsg->sz);
	if (r < 0 && session != 0)
		skynet_send(h->ctx, dest, source, PTYPE_ERROR, session, NULL, 0);
}

/* Binds a name and delivers, in order, what waited for it. */
static void bind_name(struct harbor *h, const char *name, size_t len, uint32_t handle) {
	if (len == 0 || len > GLOBALNAME_LENGTH)
		return;
	struct global_name *n = find_name(h, name, len, true);
	n->handle = handle;
	struct pending *p = n->head;
	n->head = NULL;
	n->tail = &n->head;
	while (p) {
		struct pending *next = p->next;
		deliver(h, &p->rmsg, handle, p->source, p->session);
		skynet_free(p);
		p = next;
	}
}

static void send_to_name(struct harbor *h, const struct remote_message *rmsg, uint32_t source, int session) {
	const char *name = rmsg->destination.name;
	size_t len = strnlen(name, GLOBALNAME_LENGTH);
	if (len == 0) {
		skynet_error(h->ctx, "harbor: dropped a message from :%08x to an empty name", source);
		skynet_free((void *)rmsg->message);
		if (session != 0)
			skynet_send(h->ctx, 0, source, PTYPE_ERROR, session, NULL, 0);
		return;
	}
	struct global_name *n = find_name(h, name, len, true);
	if (n->handle) {
		deliver(h, rmsg, n->handle, source, session);
		return;
	}
	struct pending *p = skynet_malloc(sizeof(*p));
	p->rmsg = *rmsg;
	p->source = source;
	p->session = session;
	p->next = NULL;
	*n->tail = p;
	n->tail = &p->next;
}

static int harbor_cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source,
                     const void *msg, size_t sz) {
	(void)ctx;
	struct harbor *h = ud;
	if (type == PTYPE_HARBOR) {
		const char *text = msg;
		if (sz > 2 && text[0] == 'N' && text[1] == ' ')
			bind_name(h, text + 2, sz - 2, source);
		return 0;
	}
	if (type != PTYPE_SYSTEM || sz != sizeof(struct remote_message))
		return 0;
	const struct remote_message *rmsg = msg;
	if (rmsg->destination.handle)
		deliver(h, rmsg, rmsg->destination.handle, source, session);
	else
		send_to_name(h, rmsg, source, session);
	return 0;
}

int harbor_init(struct harbor *h, struct skynet_context *ctx, const char *args) {
	h->ctx = ctx;
	int harbor_id = -1;
	unsigned slave = 0;
	if (args == NULL || sscanf(args, "%d %u", &harbor_id, &slave) != 2 || harbor_id != 0) {
		skynet_error(ctx, "harbor: expected arguments `0 <slave address>`, got `%s` "
		                  "(multi-harbor mode is not supported; use harbor = 0)",
		             args ? args : "");
		return 1;
	}
	h->slave = slave;
	skynet_callback(ctx, h, harbor_cb);
	skynet_harbor_start(ctx);
	return 0;
}
