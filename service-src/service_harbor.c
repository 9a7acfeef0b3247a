/*
 * service_harbor.c -- the C `harbor` service, launched by cdummy as
 * `harbor 0 <cdummy address>`.  In single-node mode nothing is remote; the
 * core hands this service the messages addressed to global names.  Names are
 * bound by cdummy with a PTYPE_HARBOR text "N <name>" whose source is the
 * named service.  A message for a name nobody registered yet waits here until
 * the name appears (as upstream does).  Multi-harbor networking
 * (harbor != 0) is not supported by this build.
 */
#include "skynet.h"
#include "skynet_harbor.h"

#include <stdio.h>
#include <string.h>

struct pending {
	struct pending *next;
	struct remote_message rmsg;
	uint32_t source;
	int session;
};

struct global_name {
	struct global_name *next;
	char name[GLOBALNAME_LENGTH + 1];
	uint32_t handle;
};

struct harbor {
	struct skynet_context *ctx;
	uint32_t slave;
	struct global_name *names;
	struct pending *pending;
};

void *harbor_create(void) {
	struct harbor *h = skynet_malloc(sizeof(*h));
	memset(h, 0, sizeof(*h));
	return h;
}

void harbor_release(struct harbor *h) {
	while (h->names) {
		struct global_name *n = h->names;
		h->names = n->next;
		skynet_free(n);
	}
	while (h->pending) {
		struct pending *p = h->pending;
		h->pending = p->next;
		skynet_free((void *)p->rmsg.message);
		skynet_free(p);
	}
	skynet_free(h);
}

static uint32_t find_name(struct harbor *h, const char *name) {
	for (struct global_name *n = h->names; n; n = n->next)
		if (strncmp(n->name, name, GLOBALNAME_LENGTH) == 0)
			return n->handle;
	return 0;
}

static void deliver(struct harbor *h, const struct remote_message *rmsg, uint32_t dest, uint32_t source,
                    int session) {
	int r = skynet_send(h->ctx, source, dest, rmsg->type | PTYPE_TAG_DONTCOPY, session,
	                    (void *)rmsg->message, rmsg->sz);
	if (r < 0 && session != 0)
		skynet_send(h->ctx, dest, source, PTYPE_ERROR, session, NULL, 0);
}

static void bind_name(struct harbor *h, const char *name, size_t len, uint32_t handle) {
	if (len == 0 || len > GLOBALNAME_LENGTH)
		return;
	struct global_name *n = h->names;
	while (n && !(strlen(n->name) == len && memcmp(n->name, name, len) == 0))
		n = n->next;
	if (n == NULL) {
		n = skynet_malloc(sizeof(*n));
		memset(n, 0, sizeof(*n));
		memcpy(n->name, name, len);
		n->next = h->names;
		h->names = n;
	}
	n->handle = handle;
	struct pending **pp = &h->pending;
	while (*pp) {
		struct pending *p = *pp;
		if (strncmp(p->rmsg.destination.name, n->name, GLOBALNAME_LENGTH) == 0) {
			*pp = p->next;
			deliver(h, &p->rmsg, handle, p->source, p->session);
			skynet_free(p);
		} else {
			pp = &p->next;
		}
	}
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
	uint32_t dest = rmsg->destination.handle;
	if (dest == 0)
		dest = find_name(h, rmsg->destination.name);
	if (dest) {
		deliver(h, rmsg, dest, source, session);
		return 0;
	}
	struct pending *p = skynet_malloc(sizeof(*p));
	p->rmsg = *rmsg;
	p->source = source;
	p->session = session;
	p->next = NULL;
	/* Appended at the tail: messages for one name keep their order. */
	struct pending **tail = &h->pending;
	while (*tail)
		tail = &(*tail)->next;
	*tail = p;
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
