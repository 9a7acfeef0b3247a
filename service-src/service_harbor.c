/*
 * service_harbor.c -- the C `harbor` service, launched by the node's
 * `.cslave` as `harbor <harbor id> <cslave address>`.
 *
 * It receives, as PTYPE_SYSTEM remote_messages from the core, every message
 * for a global name or for a handle of another harbor, and
 *   - delivers a message for a global name to the name's handle, or keeps
 *     it (in order) until the name is bound (harbor_names.c), asking
 *     `.cslave` for the name once;
 *   - forwards a message for another harbor's handle over that harbor's
 *     TCP connection (frames: harbor_frame.c), queueing it while the
 *     connection is being set up;
 *   - reads frames from those connections and delivers them locally.
 * Every request sent to another harbor is remembered until its answer
 * comes back (harbor_calls.c), so that when the harbor goes down each
 * waiting caller gets a PTYPE_ERROR instead of hanging.
 *
 * With harbor = 0 (cdummy) nothing is remote: a message to another
 * harbor's handle is dropped with a log line and a caller is answered with
 * "no such node" at once; so is a message to a harbor id this node has no
 * connection for.
 *
 * Commands from `.cslave` (PTYPE_HARBOR text):
 *   N <name>           bind name to the message's source handle
 *   C <id> <host:port> connect to harbor id (we send our id byte first)
 *   A <socket id>      an accepted connection: read the peer's id byte
 *   M                  the master is gone: names nobody knows fail at once
 * Reports to `.cslave` (PTYPE_TEXT): "Q <name>" (a name to look up),
 * "U <id>" (connection to id up), "D <id>" (connection to id lost).
 *
 * Each link is published on the metrics endpoint (skynet_metrics.h): up
 * or down, bytes and messages each way, requests waiting for an answer,
 * and the round trip of answered requests, timed from the request/answer
 * exchange harbor_calls.c already tracks.  The counters are plain fields
 * of the link, published (a few relaxed stores) once per socket read and
 * once per write batch, not per message.
 *
 * All state is owned by the service's callback (one thread at a time).
 */
#include "harbor_calls.h"
#include "harbor_frame.h"
#include "harbor_names.h"
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_harbor.h"
#include "skynet_metrics.h"
#include "skynet_server.h"
#include "skynet_socket.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Output of a connection is collected while the harbor service has more
 * messages waiting, and written when its mailbox is empty or this much is
 * queued: a burst of sends leaves in few write()s. */
#define HARBOR_FLUSH_BYTES (64 * 1024)
/* Log one "Drop message to harbor" line for the first drop after a harbor
 * went down and then one per this many, so a flood cannot flood the log. */
#define HARBOR_DROP_LOG_EVERY 10000

enum link_state {
	LINK_NONE,       /* never heard of: messages to it are dropped ("no such node") */
	LINK_CONNECTING, /* connect() issued, waiting for CONNECT */
	LINK_SHAKING,    /* our id byte sent, waiting for the peer's */
	LINK_UP,         /* frames flow */
	LINK_DOWN,       /* lost: messages to it are dropped, callers answered */
};

static const char *const LINK_STATE_NAME[] = {"unknown", "connecting", "handshaking", "up", "down"};

/* A link's series on the metrics endpoint, all labelled harbor="<id>". */
enum { LS_UP, LS_BYTES_IN, LS_BYTES_OUT, LS_MSGS_IN, LS_MSGS_OUT, LS_WAITING, LS_CALLS, LS_COUNT };
static const struct {
	const char *name;
	enum metrics_type type;
	const char *help;
} LINK_SERIES[LS_COUNT] = {
	[LS_UP] = {"skynet_harbor_link_up", METRICS_GAUGE, "1 while the link to another harbor is up."},
	[LS_BYTES_IN] = {"skynet_harbor_received_bytes_total", METRICS_COUNTER,
	                 "Bytes read from the link to another harbor (frames and handshake)."},
	[LS_BYTES_OUT] = {"skynet_harbor_sent_bytes_total", METRICS_COUNTER,
	                  "Bytes written to the link to another harbor (frames and handshake)."},
	[LS_MSGS_IN] = {"skynet_harbor_received_messages_total", METRICS_COUNTER,
	                "Messages received from another harbor."},
	[LS_MSGS_OUT] = {"skynet_harbor_sent_messages_total", METRICS_COUNTER, "Messages sent to another harbor."},
	[LS_WAITING] = {"skynet_harbor_calls_waiting", METRICS_GAUGE,
	                "Requests sent to another harbor whose answer has not come back."},
	[LS_CALLS] = {"skynet_harbor_call_duration_seconds", METRICS_SUMMARY,
	              "Round trip of requests to another harbor, from leaving this node to the answer or error "
	              "coming back (the callee's own time included)."},
};

/* The connection to one other harbor. */
struct link {
	enum link_state state;
	int sock; /* socket id, 0 when none */
	struct harbor_reader rd;
	uint8_t *out; /* frames not written yet: before UP, or batched */
	size_t nout, capout;
	bool dirty; /* on the dirty list: has output to flush */
	uint64_t dropped;
	char addr[100]; /* host:port, for log lines */
	/* Totals since the process began (a reconnect goes on counting: they
	 * are exported as counters). */
	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
	uint64_t msgs_queued;    /* in `out`, not yet counted in msgs_out */
	uint64_t calls, call_ns; /* answered requests, their round trips summed */
	int waiting;             /* requests to this harbor not answered yet */
	bool published;          /* series[] are made */
	int series[LS_COUNT];
};

/* An accepted connection whose peer has not sent its id byte yet. */
struct accepting {
	struct accepting *next;
	int sock;
	char peer[64]; /* ip:port, for log lines */
};

struct harbor {
	struct skynet_context *ctx;
	int id; /* our harbor id (0: single node) */
	uint32_t slave;
	bool master_down;
	struct harbor_names names;
	struct harbor_calls calls;
	struct accepting *accepting;
	int ndirty;
	uint8_t dirty[256];
	struct link link[REMOTE_MAX];
};

/* Text of the PTYPE_ERROR sent to a caller whose message was dropped: its
 * skynet.call fails with "call to :01000001 failed: no such node". */
static const char NO_SUCH_NODE[] = "no such node";

void *harbor_create(void) {
	struct harbor *h = skynet_calloc(1, sizeof(*h));
	harbor_names_init(&h->names);
	harbor_calls_init(&h->calls);
	return h;
}

void harbor_release(struct harbor *h) {
	for (int i = 0; i < REMOTE_MAX; i++) {
		harbor_reader_release(&h->link[i].rd);
		skynet_free(h->link[i].out);
	}
	while (h->accepting) {
		struct accepting *a = h->accepting;
		h->accepting = a->next;
		skynet_free(a);
	}
	harbor_names_release(&h->names);
	harbor_calls_release(&h->calls);
	skynet_free(h);
}

static void report(struct harbor *h, const char *fmt, int id) {
	char text[32];
	int n = snprintf(text, sizeof(text), fmt, id);
	if (h->slave)
		skynet_send(h->ctx, 0, h->slave, PTYPE_TEXT, 0, text, (size_t)n);
}

/* Answers a caller whose message could not be delivered: PTYPE_ERROR with
 * its session, from the destination, carrying the reason. */
static void fail_caller(struct harbor *h, uint32_t dest, uint32_t source, int session, const char *why) {
	if (session != 0 && source != 0)
		skynet_send(h->ctx, dest, source, PTYPE_ERROR, session, (void *)why, strlen(why));
}

/* --------------------------------------------------------------- metrics */

/* Stores the link's figures in its series (made on first use: a registry
 * lookup under a lock, once per link). */
static void link_publish(struct link *l, int id) {
	if (!l->published) {
		char labels[32];
		snprintf(labels, sizeof(labels), "harbor=\"%d\"", id);
		for (int k = 0; k < LS_COUNT; k++)
			l->series[k] = skynet_metrics_series(LINK_SERIES[k].name, LINK_SERIES[k].type, LINK_SERIES[k].help, labels);
		l->published = true;
	}
	skynet_metrics_set(l->series[LS_UP], l->state == LINK_UP ? 1 : 0);
	skynet_metrics_set(l->series[LS_BYTES_IN], (double)l->bytes_in);
	skynet_metrics_set(l->series[LS_BYTES_OUT], (double)l->bytes_out);
	skynet_metrics_set(l->series[LS_MSGS_IN], (double)l->msgs_in);
	skynet_metrics_set(l->series[LS_MSGS_OUT], (double)l->msgs_out);
	skynet_metrics_set(l->series[LS_WAITING], l->waiting);
	skynet_metrics_set_summary(l->series[LS_CALLS], (double)l->call_ns / 1e9, l->calls);
}

/* ---------------------------------------------------------------- output */

static void out_append(struct link *l, size_t need, uint8_t **at) {
	if (l->nout + need > l->capout) {
		size_t cap = l->capout ? l->capout * 2 : 4096;
		while (cap < l->nout + need)
			cap *= 2;
		l->out = skynet_realloc(l->out, cap);
		l->capout = cap;
	}
	*at = l->out + l->nout;
	l->nout += need;
}

/* Writes what the link has queued.  A small batch is handed over by
 * pointer (the socket layer copies what the kernel does not take at once),
 * a large one by ownership, so it is never copied again. */
static void link_flush(struct harbor *h, struct link *l) {
	if (l->nout == 0 || l->state != LINK_UP)
		return;
	l->bytes_out += l->nout;
	l->msgs_out += l->msgs_queued;
	l->msgs_queued = 0;
	link_publish(l, (int)(l - h->link));
	struct socket_sendbuffer buf;
	buf.id = l->sock;
	buf.buffer = l->out;
	buf.sz = l->nout;
	if (l->nout <= HARBOR_FLUSH_BYTES) {
		buf.type = SOCKET_BUFFER_RAWPOINTER;
	} else {
		buf.type = SOCKET_BUFFER_MEMORY;
		l->out = NULL;
		l->capout = 0;
	}
	l->nout = 0;
	skynet_socket_sendbuffer(h->ctx, &buf);
}

static void mark_dirty(struct harbor *h, int id) {
	struct link *l = &h->link[id];
	if (!l->dirty) {
		l->dirty = true;
		h->dirty[h->ndirty++] = (uint8_t)id;
	}
}

/* Flushes every link with output, unless more messages are waiting in our
 * mailbox (they will come through here again). */
static void flush_dirty(struct harbor *h, bool force) {
	if (h->ndirty == 0)
		return;
	if (!force) {
		struct skynet_context_stat st;
		skynet_context_stat(h->ctx, &st, false);
		if (st.mqlen > 0)
			return;
	}
	for (int i = 0; i < h->ndirty; i++) {
		struct link *l = &h->link[h->dirty[i]];
		l->dirty = false;
		link_flush(h, l);
	}
	h->ndirty = 0;
}

/* Frames one message for harbor `id`'s link (its state allows it). */
static void link_queue(struct harbor *h, int id, const void *payload, size_t sz, uint32_t source, int type,
                       uint32_t dest, uint32_t session) {
	struct link *l = &h->link[id];
	uint8_t *at;
	out_append(l, sz + HARBOR_FRAME_OVERHEAD, &at);
	harbor_frame_encode(at, payload, sz, source, type, dest, session);
	l->msgs_queued++;
	if (l->state == LINK_UP) {
		if (l->nout >= HARBOR_FLUSH_BYTES)
			link_flush(h, l);
		else
			mark_dirty(h, id);
	}
}

/* ---------------------------------------------------------- link state */

struct down_ctx {
	struct harbor *h;
	const char *why;
};

static void fail_call(void *ud, const struct harbor_call *call) {
	struct down_ctx *d = ud;
	fail_caller(d->h, call->dest, call->source, (int)call->session, d->why);
}

/* Harbor id is gone: close its socket, discard what was queued for it, fail
 * every caller still waiting on it, and tell .cslave. */
static void link_down(struct harbor *h, int id, const char *reason) {
	struct link *l = &h->link[id];
	if (l->state == LINK_DOWN || l->state == LINK_NONE)
		return;
	skynet_error(h->ctx, "harbor: harbor %d (%s) is down: %s", id, l->addr, reason);
	if (l->sock)
		skynet_socket_close(h->ctx, l->sock);
	l->sock = 0;
	l->state = LINK_DOWN;
	l->dropped = 0;
	harbor_reader_release(&l->rd);
	l->nout = 0;
	l->msgs_queued = 0;
	char why[160];
	snprintf(why, sizeof(why), "harbor %d is down: %s", id, reason);
	struct down_ctx d = {h, why};
	harbor_calls_drop_harbor(&h->calls, id, fail_call, &d);
	l->waiting = 0;
	report(h, "D %d", id);
	link_publish(l, id);
}

static void link_up(struct harbor *h, int id) {
	struct link *l = &h->link[id];
	l->state = LINK_UP;
	link_publish(l, id);
	link_flush(h, l); /* what was queued before the handshake */
	report(h, "U %d", id);
}

/* The handshake: each side sends one byte, its own harbor id. */
static void send_id_byte(struct harbor *h, struct link *l) {
	uint8_t me = (uint8_t)h->id;
	struct socket_sendbuffer buf = {.id = l->sock, .type = SOCKET_BUFFER_RAWPOINTER, .buffer = &me, .sz = 1};
	skynet_socket_sendbuffer(h->ctx, &buf);
	l->bytes_out++;
}

static int link_by_socket(struct harbor *h, int sock) {
	for (int i = 1; i < REMOTE_MAX; i++)
		if (h->link[i].sock == sock && h->link[i].state != LINK_NONE)
			return i;
	return 0;
}

/* ------------------------------------------------------------ delivery */

/* A message for another harbor's handle. */
static void send_remote(struct harbor *h, const struct remote_message *rmsg, uint32_t dest, uint32_t source,
                        int session) {
	int id = (int)(dest >> HANDLE_REMOTE_SHIFT);
	struct link *l = &h->link[id];
	const char *why = NULL;
	char buf[96];
	if (h->id == 0 || l->state == LINK_NONE) {
		skynet_error(h->ctx, "harbor: dropped a message from :%08x to :%08x: no such node (harbor %u)", source,
		             dest, dest >> HANDLE_REMOTE_SHIFT);
		why = NO_SUCH_NODE;
	} else if (l->state == LINK_DOWN) {
		if (l->dropped++ % HARBOR_DROP_LOG_EVERY == 0)
			skynet_error(h->ctx, "Drop message to harbor %d from :%08x to :%08x (%llu so far): harbor is down", id,
			             source, dest, (unsigned long long)l->dropped);
		snprintf(buf, sizeof(buf), "harbor %d is down", id);
		why = buf;
	} else if (rmsg->type == PTYPE_SYSTEM || rmsg->type == PTYPE_HARBOR) {
		skynet_error(h->ctx, "harbor: dropped a message of internal type %d from :%08x to :%08x", rmsg->type,
		             source, dest);
		why = "message type not allowed over harbor";
	} else if (rmsg->sz > HARBOR_PAYLOAD_MAX) {
		skynet_error(h->ctx, "harbor: dropped a message of %zu bytes from :%08x to :%08x (limit %u)", rmsg->sz,
		             source, dest, (unsigned)HARBOR_PAYLOAD_MAX);
		why = "message too large for harbor (16 MiB)";
	}
	if (why) {
		skynet_free((void *)rmsg->message);
		fail_caller(h, dest, source, session, why);
		return;
	}
	if (session != 0 && rmsg->type != PTYPE_RESPONSE && rmsg->type != PTYPE_ERROR) {
		uint32_t replaced = harbor_calls_add(&h->calls, source, (uint32_t)session, dest, skynet_hpc());
		if (source != 0)
			l->waiting++;
		if (replaced)
			h->link[replaced >> HANDLE_REMOTE_SHIFT].waiting--;
	}
	link_queue(h, id, rmsg->message, rmsg->sz, source, rmsg->type, dest, (uint32_t)session);
	skynet_free((void *)rmsg->message);
}

static void deliver(struct harbor *h, const struct remote_message *rmsg, uint32_t dest, uint32_t source,
                    int session) {
	if (skynet_harbor_message_isremote(dest)) {
		send_remote(h, rmsg, dest, source, session);
		return;
	}
	int r = skynet_send(h->ctx, source, dest, rmsg->type | PTYPE_TAG_DONTCOPY, session, (void *)rmsg->message,
	                    rmsg->sz);
	if (r < 0 && session != 0)
		skynet_send(h->ctx, dest, source, PTYPE_ERROR, session, NULL, 0);
}

/* Binds a name and delivers, in order, what waited for it. */
static void bind_name(struct harbor *h, const char *name, size_t len, uint32_t handle) {
	if (len == 0 || len > HARBOR_NAME_MAX || handle == 0) {
		skynet_error(h->ctx, "harbor: refused to bind global name '%.*s' to :%08x (1..%d bytes, non-zero handle)",
		             (int)(len > 64 ? 64 : len), name, handle, HARBOR_NAME_MAX);
		return;
	}
	struct harbor_name *n = harbor_names_find(&h->names, name, len, true, NULL);
	n->handle = handle;
	struct harbor_pending *p = harbor_names_take(n);
	while (p) {
		struct harbor_pending *next = p->next;
		deliver(h, &p->rmsg, handle, p->source, p->session);
		skynet_free(p);
		p = next;
	}
}

static void fail_waiting(void *ud, struct harbor_name *n) {
	struct harbor *h = ud;
	char why[80];
	snprintf(why, sizeof(why), "global name %s is unknown and the master is down", n->name);
	skynet_error(h->ctx, "harbor: %s: dropping the messages waiting for it", why);
	struct harbor_pending *p = harbor_names_take(n);
	while (p) {
		struct harbor_pending *next = p->next;
		skynet_free((void *)p->rmsg.message);
		fail_caller(h, 0, p->source, p->session, why);
		skynet_free(p);
		p = next;
	}
}

static void send_to_name(struct harbor *h, const struct remote_message *rmsg, uint32_t source, int session) {
	const char *name = rmsg->destination.name;
	size_t len = strnlen(name, GLOBALNAME_LENGTH);
	const char *why = NULL;
	if (len == 0) {
		skynet_error(h->ctx, "harbor: dropped a message from :%08x to an empty name", source);
		why = "empty global name";
	} else if (len > HARBOR_NAME_MAX) {
		skynet_error(h->ctx, "harbor: dropped a message from :%08x to global name '%.*s...': longer than %d bytes",
		             source, (int)len, name, HARBOR_NAME_MAX);
		why = "global name longer than 15 bytes";
	}
	if (why) {
		skynet_free((void *)rmsg->message);
		fail_caller(h, 0, source, session, why);
		return;
	}
	struct harbor_name *n = harbor_names_find(&h->names, name, len, !h->master_down, NULL);
	if (n && n->handle) {
		deliver(h, rmsg, n->handle, source, session);
		return;
	}
	if (n == NULL) {
		char text[80];
		snprintf(text, sizeof(text), "global name %.*s is unknown and the master is down", (int)len, name);
		skynet_error(h->ctx, "harbor: dropped a message from :%08x: %s", source, text);
		skynet_free((void *)rmsg->message);
		fail_caller(h, 0, source, session, text);
		return;
	}
	bool ask = n->head == NULL;
	harbor_names_queue(n, rmsg, source, session);
	if (ask && h->slave && h->id != 0) {
		char text[GLOBALNAME_LENGTH + 3];
		int tn = snprintf(text, sizeof(text), "Q %s", n->name);
		skynet_send(h->ctx, 0, h->slave, PTYPE_TEXT, 0, text, (size_t)tn);
	}
}

/* ------------------------------------------------------------ incoming */

struct frame_ctx {
	struct harbor *h;
	int id;
};

static void on_frame(void *ud, struct harbor_frame *f) {
	struct frame_ctx *fc = ud;
	struct harbor *h = fc->h;
	uint32_t dest = (uint32_t)h->id << HANDLE_REMOTE_SHIFT | f->dest;
	int session = (int)f->session;
	if (f->type == PTYPE_SYSTEM || f->type == PTYPE_HARBOR) {
		skynet_error(h->ctx, "harbor: dropped a message of internal type %d from harbor %d", f->type, fc->id);
		skynet_free(f->payload);
		return;
	}
	h->link[fc->id].msgs_in++;
	struct harbor_call call;
	if ((f->type == PTYPE_RESPONSE || f->type == PTYPE_ERROR) && session != 0 &&
	    harbor_calls_remove(&h->calls, dest, f->session, &call)) {
		struct link *cl = &h->link[call.dest >> HANDLE_REMOTE_SHIFT];
		cl->waiting--;
		cl->calls++;
		cl->call_ns += skynet_hpc() - call.sent_ns;
	}
	if (skynet_send(h->ctx, f->source, dest, f->type | PTYPE_TAG_DONTCOPY, session, f->payload, f->sz) >= 0)
		return;
	skynet_error(h->ctx, "Unknown destination :%08x from :%08x (harbor %d, type %d)", dest, f->source, fc->id,
	             f->type);
	if (f->type != PTYPE_ERROR && h->link[fc->id].state == LINK_UP)
		link_queue(h, fc->id, NULL, 0, dest, PTYPE_ERROR, f->source, f->session);
}

/* Frames from harbor id's connection. */
static void link_read(struct harbor *h, int id, const uint8_t *data, size_t n) {
	struct link *l = &h->link[id];
	struct frame_ctx fc = {h, id};
	l->bytes_in += n;
	int err = harbor_reader_push(&l->rd, data, n, on_frame, &fc);
	link_publish(l, id);
	if (err == HARBOR_READ_TOO_LONG) {
		skynet_error(h->ctx, "Message is too long from harbor %d (length prefix 0x%08x)", id,
		             harbor_reader_badlength(&l->rd));
		link_down(h, id, "message too long");
	} else if (err == HARBOR_READ_TOO_SHORT) {
		skynet_error(h->ctx, "Message is too short from harbor %d (length prefix %u, at least %d)", id,
		             harbor_reader_badlength(&l->rd), HARBOR_FRAME_TRAILER);
		link_down(h, id, "malformed frame");
	}
}

/* The peer's id byte on an outgoing connection, then its frames. */
static void shaking_read(struct harbor *h, int id, const uint8_t *data, size_t n) {
	if (data[0] != id) {
		skynet_error(h->ctx, "Invalid shakehand id %d from harbor %d (%s)", data[0], id, h->link[id].addr);
		link_down(h, id, "invalid handshake");
		return;
	}
	h->link[id].bytes_in++;
	link_up(h, id);
	if (n > 1)
		link_read(h, id, data + 1, n - 1);
}

static struct accepting **find_accepting(struct harbor *h, int sock) {
	for (struct accepting **a = &h->accepting; *a; a = &(*a)->next)
		if ((*a)->sock == sock)
			return a;
	return NULL;
}

/* The first bytes of an accepted connection: the peer's id byte. */
static void accepted_read(struct harbor *h, struct accepting **pa, const uint8_t *data, size_t n) {
	struct accepting *a = *pa;
	*pa = a->next;
	int sock = a->sock;
	char peer[sizeof(a->peer)];
	memcpy(peer, a->peer, sizeof(peer));
	skynet_free(a);
	int id = data[0];
	const char *bad = NULL;
	if (id == 0)
		bad = "id 0";
	else if (id == h->id)
		bad = "our own id";
	else if (h->link[id].state != LINK_NONE && h->link[id].state != LINK_DOWN)
		bad = "a harbor we already have a connection for";
	if (bad) {
		skynet_error(h->ctx, "harbor: closed the connection from %s: handshake id %d is %s", peer, id, bad);
		skynet_socket_close(h->ctx, sock);
		return;
	}
	struct link *l = &h->link[id];
	l->state = LINK_SHAKING;
	l->sock = sock;
	l->dropped = 0;
	snprintf(l->addr, sizeof(l->addr), "from %s", peer);
	send_id_byte(h, l);
	l->bytes_in++; /* the peer's id byte */
	link_up(h, id);
	if (n > 1)
		link_read(h, id, data + 1, n - 1);
}

static void on_socket(struct harbor *h, const struct skynet_socket_message *m, size_t sz) {
	const char *text = sz > sizeof(*m) ? (const char *)(m + 1) : "";
	switch (m->type) {
	case SKYNET_SOCKET_TYPE_DATA: {
		const uint8_t *data = (const uint8_t *)m->buffer;
		size_t n = m->ud > 0 ? (size_t)m->ud : 0;
		int id = link_by_socket(h, m->id);
		if (n > 0 && id && h->link[id].state == LINK_UP) {
			link_read(h, id, data, n);
		} else if (n > 0 && id && h->link[id].state == LINK_SHAKING) {
			shaking_read(h, id, data, n);
		} else if (n > 0) {
			struct accepting **pa = find_accepting(h, m->id);
			if (pa)
				accepted_read(h, pa, data, n);
		}
		skynet_free(m->buffer);
		break;
	}
	case SKYNET_SOCKET_TYPE_CONNECT: {
		int id = link_by_socket(h, m->id);
		if (id && h->link[id].state == LINK_CONNECTING) {
			struct link *l = &h->link[id];
			l->state = LINK_SHAKING;
			send_id_byte(h, l);
		}
		break;
	}
	case SKYNET_SOCKET_TYPE_CLOSE:
	case SKYNET_SOCKET_TYPE_ERROR: {
		int id = link_by_socket(h, m->id);
		const char *why = m->type == SKYNET_SOCKET_TYPE_CLOSE ? "connection closed" : text;
		if (id) {
			char reason[160];
			snprintf(reason, sizeof(reason), "%s%s", h->link[id].state == LINK_CONNECTING ? "connect failed: " : "",
			         why);
			link_down(h, id, reason);
			break;
		}
		struct accepting **pa = find_accepting(h, m->id);
		if (pa) {
			struct accepting *a = *pa;
			*pa = a->next;
			skynet_error(h->ctx, "harbor: the connection from %s closed before its handshake: %s", a->peer, why);
			skynet_free(a);
			if (m->type == SKYNET_SOCKET_TYPE_ERROR)
				skynet_socket_close(h->ctx, m->id);
		}
		break;
	}
	default:
		break;
	}
}

/* ------------------------------------------------------------ commands */

static void cmd_connect(struct harbor *h, const char *args, size_t len) {
	char buf[128];
	if (len >= sizeof(buf)) {
		skynet_error(h->ctx, "harbor: connect command too long");
		return;
	}
	memcpy(buf, args, len);
	buf[len] = '\0';
	int id;
	char addr[100];
	if (sscanf(buf, "%d %99s", &id, addr) != 2 || id <= 0 || id >= REMOTE_MAX || id == h->id) {
		skynet_error(h->ctx, "harbor: bad connect command `%s`", buf);
		return;
	}
	struct link *l = &h->link[id];
	if (l->state != LINK_NONE && l->state != LINK_DOWN) {
		skynet_error(h->ctx, "harbor: connect to harbor %d ignored: it is %s", id, LINK_STATE_NAME[l->state]);
		return;
	}
	char *colon = strrchr(addr, ':');
	int port = colon ? atoi(colon + 1) : 0;
	if (colon == NULL || port <= 0 || port > 65535) {
		skynet_error(h->ctx, "harbor: bad address `%s` for harbor %d", addr, id);
		return;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	*colon = '\0';
	const char *host = addr;
	if (host[0] == '[' && colon > addr + 1 && colon[-1] == ']') {
		colon[-1] = '\0';
		host++;
	}
	l->dropped = 0;
	l->nout = 0;
	l->msgs_queued = 0;
	int sock = skynet_socket_connect(h->ctx, host, port);
	if (sock < 0) {
		l->state = LINK_CONNECTING; /* so that link_down reports it */
		link_down(h, id, "connect failed");
		return;
	}
	l->sock = sock;
	l->state = LINK_CONNECTING;
}

static void cmd_accept(struct harbor *h, const char *args, size_t len) {
	char buf[128];
	if (len >= sizeof(buf)) {
		skynet_error(h->ctx, "harbor: accept command too long");
		return;
	}
	memcpy(buf, args, len);
	buf[len] = '\0';
	struct accepting *a = skynet_calloc(1, sizeof(*a));
	if (sscanf(buf, "%d %63s", &a->sock, a->peer) < 1 || a->sock <= 0) {
		skynet_error(h->ctx, "harbor: bad accept command `%s`", buf);
		skynet_free(a);
		return;
	}
	a->next = h->accepting;
	h->accepting = a;
	skynet_socket_start(h->ctx, a->sock);
}

static void on_command(struct harbor *h, uint32_t source, const char *text, size_t sz) {
	if (sz >= 2 && text[0] == 'N' && text[1] == ' ') {
		bind_name(h, text + 2, sz - 2, source);
	} else if (sz >= 2 && text[0] == 'C' && text[1] == ' ') {
		cmd_connect(h, text + 2, sz - 2);
	} else if (sz >= 2 && text[0] == 'A' && text[1] == ' ') {
		cmd_accept(h, text + 2, sz - 2);
	} else if (sz == 1 && text[0] == 'M') {
		h->master_down = true;
		harbor_names_each_waiting(&h->names, fail_waiting, h);
	} else {
		skynet_error(h->ctx, "harbor: unknown command `%.*s`", (int)(sz > 32 ? 32 : sz), text);
	}
}

static int harbor_cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source,
                     const void *msg, size_t sz) {
	(void)ctx;
	struct harbor *h = ud;
	switch (type) {
	case PTYPE_SYSTEM:
		if (sz == sizeof(struct remote_message)) {
			const struct remote_message *rmsg = msg;
			if (rmsg->destination.handle)
				deliver(h, rmsg, rmsg->destination.handle, source, session);
			else
				send_to_name(h, rmsg, source, session);
		}
		break;
	case PTYPE_SOCKET:
		if (sz >= sizeof(struct skynet_socket_message))
			on_socket(h, msg, sz);
		break;
	case PTYPE_HARBOR:
		on_command(h, source, msg, sz);
		break;
	default:
		break;
	}
	flush_dirty(h, false);
	return 0;
}

int harbor_init(struct harbor *h, struct skynet_context *ctx, const char *args) {
	h->ctx = ctx;
	int harbor_id = -1;
	unsigned slave = 0;
	if (args == NULL || sscanf(args, "%d %u", &harbor_id, &slave) != 2 || harbor_id < 0 || harbor_id >= REMOTE_MAX) {
		skynet_error(ctx, "harbor: expected arguments `<harbor id 0..255> <slave address>`, got `%s`",
		             args ? args : "");
		return 1;
	}
	h->id = harbor_id;
	h->slave = slave;
	skynet_callback(ctx, h, harbor_cb);
	skynet_harbor_start(ctx);
	return 0;
}
