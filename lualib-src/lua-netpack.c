/*
 * lua-netpack.c -- `skynet.netpack`: the 2-byte big-endian framing used by
 * gates (a length counting only the body, then the body).
 *
 *   filter(queue, msg, sz [, max]) -> queue, type, ...
 *       consumes one PTYPE_SOCKET message (a struct skynet_socket_message)
 *       and returns the queue (created when `queue` is nil) and:
 *         "data", fd, ptr, size     exactly one frame completed
 *         "more"                    several frames completed: pop them
 *         "open", fd, "ip:port"     a connection was accepted
 *         "close", fd [, partial]   closed; `partial` describes a frame
 *                                   left unfinished ("3 of 100 bytes")
 *         "error", fd, text         socket error, or a frame longer than
 *                                   `max` (default and upper bound 65535)
 *         "warning", fd, sizeK      output buffer warning (0 = drained)
 *         "init", id, text, port    CONNECT (listen ready, start, ...)
 *         nothing                   only part of a frame arrived (or UDP)
 *   pop(queue) -> fd, ptr, size | nothing
 *   pack(str | ptr, size) -> ptr, size + 2   (header + copy of the data)
 *   tostring(ptr, size) -> string            (frees ptr)
 *   clear(queue)                             (drops everything queued)
 *
 * Frame buffers (ptr) are malloc'd; whoever receives one frees it or hands
 * it on (skynet.redirect, socket.write).  filter frees the DATA buffer of
 * the socket message; the message itself belongs to the dispatcher.
 *
 * After an oversized frame the connection is marked broken: its later data
 * is dropped without another error, until its CLOSE/ERROR arrives, so one
 * bad client produces one "error" and never disturbs other connections.
 */
#include "netpack_frame.h"
#include "skynet.h"
#include "skynet_socket.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define QUEUE_MT "skynet.netpack.queue"
#define NETPACK_MAX 65535u
#define TEXT_MAX 128 /* longest inline text of a socket message */

/* A connection with an unfinished frame, or broken by an oversized one. */
struct pending {
	struct pending *next;
	int fd;
	bool broken;
	struct netpack_frame frame;
};

struct packet {
	int fd;
	uint32_t size;
	char *data;
};

/* The queue userdata (owned by the Lua service that filters). */
struct queue {
	struct pending **bucket; /* hash of pending by fd, nbucket a power of 2 */
	uint32_t nbucket;
	uint32_t npending;
	struct packet *ring; /* completed frames not popped yet */
	uint32_t cap;        /* ring capacity, a power of 2 (or 0) */
	uint32_t head;
	uint32_t count;
};

static struct queue *check_queue(lua_State *L, int idx) {
	return luaL_checkudata(L, idx, QUEUE_MT);
}

/* ------------------------------------------------------- pending frames */

static uint32_t hash_fd(const struct queue *q, int fd) {
	return ((uint32_t)fd * 2654435761u) & (q->nbucket - 1);
}

static struct pending *pending_find(struct queue *q, int fd) {
	if (q->nbucket == 0)
		return NULL;
	for (struct pending *p = q->bucket[hash_fd(q, fd)]; p; p = p->next)
		if (p->fd == fd)
			return p;
	return NULL;
}

/* Doubles the bucket array (the load stays at most 1). */
static void pending_grow(struct queue *q) {
	uint32_t old = q->nbucket;
	struct pending **ob = q->bucket;
	q->nbucket = old ? old * 2 : 64;
	q->bucket = skynet_calloc(q->nbucket, sizeof(*q->bucket));
	for (uint32_t i = 0; i < old; i++) {
		struct pending *p = ob[i];
		while (p) {
			struct pending *next = p->next;
			uint32_t h = hash_fd(q, p->fd);
			p->next = q->bucket[h];
			q->bucket[h] = p;
			p = next;
		}
	}
	skynet_free(ob);
}

static struct pending *pending_get(struct queue *q, int fd) {
	struct pending *p = pending_find(q, fd);
	if (p)
		return p;
	if (q->npending >= q->nbucket)
		pending_grow(q);
	p = skynet_calloc(1, sizeof(*p));
	p->fd = fd;
	uint32_t h = hash_fd(q, fd);
	p->next = q->bucket[h];
	q->bucket[h] = p;
	q->npending++;
	return p;
}

static void pending_remove(struct queue *q, int fd) {
	if (q->nbucket == 0)
		return;
	struct pending **pp = &q->bucket[hash_fd(q, fd)];
	for (; *pp; pp = &(*pp)->next) {
		struct pending *p = *pp;
		if (p->fd == fd) {
			*pp = p->next;
			netpack_frame_clear(&p->frame);
			skynet_free(p);
			q->npending--;
			return;
		}
	}
}

/* ------------------------------------------------------ completed frames */

static void ring_push(struct queue *q, int fd, char *data, uint32_t size) {
	if (q->count == q->cap) {
		uint32_t ncap = q->cap ? q->cap * 2 : 64;
		struct packet *r = skynet_malloc(ncap * sizeof(*r));
		for (uint32_t i = 0; i < q->count; i++)
			r[i] = q->ring[(q->head + i) & (q->cap - 1)];
		skynet_free(q->ring);
		q->ring = r;
		q->cap = ncap;
		q->head = 0;
	}
	struct packet *p = &q->ring[(q->head + q->count) & (q->cap - 1)];
	p->fd = fd;
	p->size = size;
	p->data = data;
	q->count++;
}

static bool ring_pop(struct queue *q, struct packet *out) {
	if (q->count == 0)
		return false;
	*out = q->ring[q->head];
	q->head = (q->head + 1) & (q->cap - 1);
	q->count--;
	return true;
}

/* Removes the newest entry (used to take back this call's frames). */
static bool ring_pop_tail(struct queue *q, struct packet *out) {
	if (q->count == 0)
		return false;
	q->count--;
	*out = q->ring[(q->head + q->count) & (q->cap - 1)];
	return true;
}

static void queue_clear(struct queue *q) {
	struct packet pk;
	while (ring_pop(q, &pk))
		skynet_free(pk.data);
	for (uint32_t i = 0; i < q->nbucket; i++) {
		struct pending *p = q->bucket[i];
		while (p) {
			struct pending *next = p->next;
			netpack_frame_clear(&p->frame);
			skynet_free(p);
			p = next;
		}
		q->bucket[i] = NULL;
	}
	q->npending = 0;
}

static int lqueue_gc(lua_State *L) {
	struct queue *q = check_queue(L, 1);
	queue_clear(q);
	skynet_free(q->bucket);
	skynet_free(q->ring);
	memset(q, 0, sizeof(*q));
	return 0;
}

static struct queue *new_queue(lua_State *L) {
	struct queue *q = lua_newuserdatauv(L, sizeof(*q), 0);
	memset(q, 0, sizeof(*q));
	if (luaL_newmetatable(L, QUEUE_MT)) {
		lua_pushcfunction(L, lqueue_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	return q;
}

/* --------------------------------------------------------------- filter */

/* Collects the frames of one DATA message: the first is held aside so
 * that the common case (one frame) returns "data" without queueing. */
struct collect {
	struct queue *q;
	int fd;
	int n;
	char *first;
	uint32_t first_size;
};

static void collect_frame(void *ud, char *body, uint32_t size) {
	struct collect *c = ud;
	if (c->n == 0) {
		c->first = body;
		c->first_size = size;
	} else {
		if (c->n == 1)
			ring_push(c->q, c->fd, c->first, c->first_size);
		ring_push(c->q, c->fd, body, size);
	}
	c->n++;
}

static int filter_data(lua_State *L, struct queue *q, int fd, const uint8_t *data, int size,
                       uint32_t max) {
	struct pending *p = pending_find(q, fd);
	if (p && p->broken)
		return 1; /* dropped: an error was reported already */
	struct netpack_frame tmp;
	struct netpack_frame *f = p ? &p->frame : &tmp;
	memset(&tmp, 0, sizeof(tmp));
	struct collect c = {q, fd, 0, NULL, 0};
	uint32_t declared = 0;
	uint32_t before = q->count;
	int r = netpack_frame_feed(f, 2, max, data, (size_t)size, collect_frame, &c, &declared);
	if (r == NETPACK_FRAME_TOOLARGE) {
		/* the connection is finished: take back what this read completed */
		struct packet pk;
		while (q->count > before && ring_pop_tail(q, &pk))
			skynet_free(pk.data);
		if (c.n == 1)
			skynet_free(c.first);
		p = pending_get(q, fd);
		netpack_frame_clear(&p->frame);
		p->broken = true;
		lua_pushliteral(L, "error");
		lua_pushinteger(L, fd);
		lua_pushfstring(L, "frame of %d bytes exceeds the maximum of %d", (int)declared, (int)max);
		return 4;
	}
	/* keep or drop the per-connection state */
	if (netpack_frame_partial(f)) {
		if (p == NULL) {
			p = pending_get(q, fd);
			p->frame = tmp;
		}
	} else if (p) {
		pending_remove(q, fd);
	}
	if (c.n == 0)
		return 1;
	if (c.n == 1) {
		lua_pushliteral(L, "data");
		lua_pushinteger(L, fd);
		lua_pushlightuserdata(L, c.first);
		lua_pushinteger(L, c.first_size);
		return 5;
	}
	lua_pushliteral(L, "more");
	return 2;
}

/* Text carried after the struct (CONNECT/ACCEPT/ERROR). */
static void push_text(lua_State *L, const struct skynet_socket_message *m, size_t sz) {
	size_t n = sz - sizeof(*m);
	const char *s = (const char *)(m + 1);
	if (n > TEXT_MAX)
		n = TEXT_MAX;
	lua_pushlstring(L, s, strnlen(s, n));
}

/* Forgets fd's unfinished frame; pushes its description, or nothing. */
static int drop_pending(lua_State *L, struct queue *q, int fd) {
	struct pending *p = pending_find(q, fd);
	int ret = 0;
	if (p && !p->broken && netpack_frame_partial(&p->frame)) {
		const struct netpack_frame *f = &p->frame;
		if (f->hgot < 2)
			lua_pushfstring(L, "%d of 2 header bytes", (int)f->hgot);
		else
			lua_pushfstring(L, "%d of %d bytes", (int)f->got, (int)f->need);
		ret = 1;
	}
	pending_remove(q, fd);
	return ret;
}

/* filter(queue, msg, sz [, max]) */
static int lfilter(lua_State *L) {
	struct queue *q;
	if (lua_isnoneornil(L, 1)) {
		q = new_queue(L);
		lua_replace(L, 1);
	} else {
		q = check_queue(L, 1);
	}
	struct skynet_socket_message *m = lua_touserdata(L, 2);
	lua_Integer sz = luaL_checkinteger(L, 3);
	lua_Integer max = luaL_optinteger(L, 4, NETPACK_MAX);
	if (max < 0 || max > NETPACK_MAX)
		max = NETPACK_MAX;
	lua_settop(L, 1);
	if (m == NULL || sz < (lua_Integer)sizeof(*m))
		return luaL_error(L, "netpack.filter: not a socket message (size %d)", (int)sz);
	switch (m->type) {
	case SKYNET_SOCKET_TYPE_DATA: {
		int n;
		if (m->ud < 0 || m->buffer == NULL) {
			skynet_free(m->buffer);
			return 1;
		}
		n = filter_data(L, q, m->id, (const uint8_t *)m->buffer, m->ud, (uint32_t)max);
		skynet_free(m->buffer);
		m->buffer = NULL;
		return n;
	}
	case SKYNET_SOCKET_TYPE_CONNECT:
		lua_pushliteral(L, "init");
		lua_pushinteger(L, m->id);
		push_text(L, m, (size_t)sz);
		lua_pushinteger(L, m->ud);
		return 5;
	case SKYNET_SOCKET_TYPE_CLOSE:
		lua_pushliteral(L, "close");
		lua_pushinteger(L, m->id);
		return 3 + drop_pending(L, q, m->id);
	case SKYNET_SOCKET_TYPE_ACCEPT:
		lua_pushliteral(L, "open");
		lua_pushinteger(L, m->ud); /* the new connection, not the listen socket */
		push_text(L, m, (size_t)sz);
		return 4;
	case SKYNET_SOCKET_TYPE_ERROR:
		drop_pending(L, q, m->id);
		lua_settop(L, 1);
		lua_pushliteral(L, "error");
		lua_pushinteger(L, m->id);
		push_text(L, m, (size_t)sz);
		return 4;
	case SKYNET_SOCKET_TYPE_WARNING:
		lua_pushliteral(L, "warning");
		lua_pushinteger(L, m->id);
		lua_pushinteger(L, m->ud);
		return 4;
	case SKYNET_SOCKET_TYPE_UDP:
		skynet_free(m->buffer); /* gates do not speak UDP */
		m->buffer = NULL;
		return 1;
	default:
		return 1;
	}
}

/* pop(queue) -> fd, ptr, size */
static int lpop(lua_State *L) {
	if (lua_isnoneornil(L, 1))
		return 0;
	struct queue *q = check_queue(L, 1);
	struct packet pk;
	if (!ring_pop(q, &pk))
		return 0;
	lua_pushinteger(L, pk.fd);
	lua_pushlightuserdata(L, pk.data);
	lua_pushinteger(L, pk.size);
	return 3;
}

/* clear(queue) */
static int lclear(lua_State *L) {
	if (!lua_isnoneornil(L, 1))
		queue_clear(check_queue(L, 1));
	return 0;
}

/* pack(str | ptr, size) -> ptr, size + 2 */
static int lpack(lua_State *L) {
	const void *src;
	size_t len;
	if (lua_type(L, 1) == LUA_TLIGHTUSERDATA || lua_type(L, 1) == LUA_TUSERDATA) {
		src = lua_touserdata(L, 1);
		lua_Integer n = luaL_checkinteger(L, 2);
		if (n < 0)
			return luaL_error(L, "Invalid size (negative) of data : %d", (int)n);
		len = (size_t)n;
	} else {
		src = luaL_checklstring(L, 1, &len);
	}
	if (len > NETPACK_MAX)
		return luaL_error(L, "Invalid size (too long) of data : %d", (int)len);
	uint8_t *buf = skynet_malloc(len + 2);
	buf[0] = (uint8_t)(len >> 8);
	buf[1] = (uint8_t)len;
	if (len)
		memcpy(buf + 2, src, len);
	lua_pushlightuserdata(L, buf);
	lua_pushinteger(L, (lua_Integer)len + 2);
	return 2;
}

/* tostring(ptr, size) -> string; frees ptr */
static int ltostring(lua_State *L) {
	void *ptr = lua_touserdata(L, 1);
	lua_Integer size = luaL_checkinteger(L, 2);
	if (ptr == NULL) {
		lua_pushliteral(L, "");
		return 1;
	}
	if (size < 0) {
		skynet_free(ptr);
		return luaL_error(L, "netpack.tostring: invalid size %d", (int)size);
	}
	lua_pushlstring(L, ptr, (size_t)size);
	skynet_free(ptr);
	return 1;
}

LUAMOD_API int luaopen_skynet_netpack(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
	    {"filter", lfilter}, {"pop", lpop},           {"pack", lpack},
	    {"clear", lclear},   {"tostring", ltostring}, {NULL, NULL},
	};
	luaL_newlib(L, l);
	return 1;
}
