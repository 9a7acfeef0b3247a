/*
 * harbor_names.c -- the global name table of the harbor service
 * (harbor_names.h).
 */
#include "harbor_names.h"
#include "skynet_malloc.h"

#include <string.h>

#define NAME_BUCKETS_MIN 64

void harbor_names_init(struct harbor_names *t) {
	t->nbucket = NAME_BUCKETS_MIN;
	t->bucket = skynet_calloc(t->nbucket, sizeof(*t->bucket));
	t->nname = 0;
}

static void free_pending(struct harbor_pending *p) {
	while (p) {
		struct harbor_pending *next = p->next;
		skynet_free((void *)p->rmsg.message);
		skynet_free(p);
		p = next;
	}
}

void harbor_names_release(struct harbor_names *t) {
	for (size_t i = 0; i < t->nbucket; i++) {
		struct harbor_name *n = t->bucket[i];
		while (n) {
			struct harbor_name *next = n->next;
			free_pending(n->head);
			skynet_free(n);
			n = next;
		}
	}
	skynet_free(t->bucket);
	memset(t, 0, sizeof(*t));
}

/* FNV-1a over the name's bytes (at most GLOBALNAME_LENGTH of them). */
static size_t name_hash(const char *name, size_t len) {
	uint32_t x = 2166136261u;
	for (size_t i = 0; i < len; i++)
		x = (x ^ (unsigned char)name[i]) * 16777619u;
	return x;
}

static void grow(struct harbor_names *t) {
	size_t nbucket = t->nbucket * 2;
	struct harbor_name **bucket = skynet_calloc(nbucket, sizeof(*bucket));
	for (size_t i = 0; i < t->nbucket; i++) {
		struct harbor_name *n = t->bucket[i];
		while (n) {
			struct harbor_name *next = n->next;
			size_t b = name_hash(n->name, strlen(n->name)) & (nbucket - 1);
			n->next = bucket[b];
			bucket[b] = n;
			n = next;
		}
	}
	skynet_free(t->bucket);
	t->bucket = bucket;
	t->nbucket = nbucket;
}

struct harbor_name *harbor_names_find(struct harbor_names *t, const char *name, size_t len, bool create,
                                      bool *created) {
	size_t b = name_hash(name, len) & (t->nbucket - 1);
	for (struct harbor_name *n = t->bucket[b]; n; n = n->next)
		if (strlen(n->name) == len && memcmp(n->name, name, len) == 0)
			return n;
	if (!create)
		return NULL;
	if (t->nname >= t->nbucket) {
		grow(t);
		b = name_hash(name, len) & (t->nbucket - 1);
	}
	struct harbor_name *n = skynet_calloc(1, sizeof(*n));
	memcpy(n->name, name, len);
	n->tail = &n->head;
	n->next = t->bucket[b];
	t->bucket[b] = n;
	t->nname++;
	if (created)
		*created = true;
	return n;
}

void harbor_names_queue(struct harbor_name *n, const struct remote_message *rmsg, uint32_t source, int session) {
	struct harbor_pending *p = skynet_malloc(sizeof(*p));
	p->rmsg = *rmsg;
	p->source = source;
	p->session = session;
	p->next = NULL;
	*n->tail = p;
	n->tail = &p->next;
}

struct harbor_pending *harbor_names_take(struct harbor_name *n) {
	struct harbor_pending *p = n->head;
	n->head = NULL;
	n->tail = &n->head;
	return p;
}

void harbor_names_each_waiting(struct harbor_names *t, void (*fn)(void *ud, struct harbor_name *n), void *ud) {
	for (size_t i = 0; i < t->nbucket; i++)
		for (struct harbor_name *n = t->bucket[i]; n; n = n->next)
			if (n->handle == 0 && n->head)
				fn(ud, n);
}
