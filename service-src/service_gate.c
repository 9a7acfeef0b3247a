/*
 * service_gate.c -- the C `gate` service (cservice/gate.so), driven by
 * upstream's text commands.
 *
 *   skynet.launch("gate", "<S|L> <watchdog> <address> <client_tag> <max>")
 *
 * It listens on <address> ("ip:port" or "port", backlog 128) and cuts each
 * connection's byte stream into frames with a 2-byte (S) or 4-byte (L)
 * big-endian length header (lualib-src/netpack_frame.h).  A frame goes, in
 * this order of preference, to the broker, to the connection's agent (type
 * client_tag, session = socket id, source = the client handle), or to the
 * watchdog as the text "<id> data <body>".  Declared lengths of 16 MiB or
 * more close the connection.
 *
 * Text commands: kick <id> | forward <id> :<agent> :<client> |
 * broker <name> | start <id> | close.  Reports to the watchdog (PTYPE_TEXT):
 * "<id> open <id> <ip:port>:0" on accept, "<id> close" on close/error.
 * A PTYPE_CLIENT message sent to the gate is written to a connection: the
 * last 4 bytes are its socket id, little-endian, the rest is the payload.
 * Backpressure: each connection is read only while the service its frames
 * go to (broker, agent or watchdog) has a bounded backlog
 * (skynet_socket_sink); socket errors on a connection are logged.
 *
 * The gate runs on one worker at a time like every service, so its state
 * needs no lock: it is owned by the gate's callback.
 */
#include "../lualib-src/netpack_frame.h"
#include "skynet.h"
#include "skynet_socket.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GATE_BACKLOG 128
#define GATE_MAXFRAME 0xFFFFFFu /* a declared length >= 16 MiB closes the connection */
#define GATE_CMD_MAX 256        /* longest text command understood */
#define GATE_TEXT_MAX 128       /* longest inline text of a socket message */

struct connection {
	struct connection *next; /* hash chain */
	int id;                  /* socket id */
	uint32_t agent;
	uint32_t client;
	bool broken; /* sent an oversized frame: drop its data until CLOSE */
	struct netpack_frame frame;
};

struct gate {
	struct skynet_context *ctx;
	int listen_id;
	uint32_t watchdog;
	uint32_t broker;
	int client_tag;
	unsigned header_size; /* 2 or 4 */
	int max_connection;
	int nconn;
	uint32_t nbucket; /* power of 2 */
	struct connection **bucket;
};

/* ------------------------------------------------------- connection table */

static struct connection **conn_slot(struct gate *g, int id) {
	return &g->bucket[((uint32_t)id * 2654435761u) & (g->nbucket - 1)];
}

static struct connection *conn_find(struct gate *g, int id) {
	for (struct connection *c = *conn_slot(g, id); c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static struct connection *conn_add(struct gate *g, int id) {
	struct connection *c = skynet_calloc(1, sizeof(*c));
	c->id = id;
	struct connection **slot = conn_slot(g, id);
	c->next = *slot;
	*slot = c;
	g->nconn++;
	return c;
}

/* Unlinks and frees; returns false if id was unknown. */
static bool conn_remove(struct gate *g, int id) {
	for (struct connection **pp = conn_slot(g, id); *pp; pp = &(*pp)->next) {
		struct connection *c = *pp;
		if (c->id == id) {
			*pp = c->next;
			netpack_frame_clear(&c->frame);
			skynet_free(c);
			g->nconn--;
			return true;
		}
	}
	return false;
}

/* --------------------------------------------------------------- reports */

/* Sends printf-style text to the watchdog (if any), session 0. */
static void report(struct gate *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct gate *g, const char *fmt, ...) {
	if (g->watchdog == 0)
		return;
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	skynet_send(g->ctx, 0, g->watchdog, PTYPE_TEXT, 0, tmp, (size_t)n);
}

/* ------------------------------------------------------------ frames in */

struct frame_target {
	struct gate *g;
	struct connection *c;
};

/* One complete frame of connection t->c; takes ownership of body. */
static void deliver_frame(void *ud, char *body, uint32_t size) {
	struct frame_target *t = ud;
	struct gate *g = t->g;
	struct connection *c = t->c;
	int type = g->client_tag | PTYPE_TAG_DONTCOPY;
	if (g->broker) {
		skynet_send(g->ctx, 0, g->broker, type, c->id, body, size);
	} else if (c->agent) {
		skynet_send(g->ctx, c->client, c->agent, type, c->id, body, size);
	} else if (g->watchdog) {
		char head[32];
		int hn = snprintf(head, sizeof(head), "%d data ", c->id);
		char *text = skynet_malloc((size_t)hn + size);
		memcpy(text, head, (size_t)hn);
		memcpy(text + hn, body, size);
		skynet_free(body);
		skynet_send(g->ctx, 0, g->watchdog, PTYPE_TEXT | PTYPE_TAG_DONTCOPY, c->id, text,
		            (size_t)hn + size);
	} else {
		skynet_free(body);
	}
}

static void on_data(struct gate *g, int id, char *data, int size) {
	struct connection *c = conn_find(g, id);
	if (c == NULL) {
		skynet_error(g->ctx, "[gate] drop %d bytes from unknown connection %d", size, id);
		skynet_free(data);
		skynet_socket_close(g->ctx, id);
		return;
	}
	if (c->broken) {
		skynet_free(data);
		return;
	}
	struct frame_target t = {g, c};
	uint32_t declared = 0;
	int r = netpack_frame_feed(&c->frame, g->header_size, GATE_MAXFRAME, (const uint8_t *)data,
	                           size > 0 ? (size_t)size : 0, deliver_frame, &t, &declared);
	skynet_free(data);
	if (r == NETPACK_FRAME_TOOLARGE) {
		skynet_error(g->ctx, "Recv socket message > 16M (connection %d declared %u bytes)", id,
		             (unsigned)declared);
		/* the CLOSE that follows removes the connection and reports it */
		skynet_socket_close(g->ctx, id);
		c->broken = true;
	}
}

/* Copies the inline text of a socket message (at most 128 bytes). */
static void socket_text(const struct skynet_socket_message *m, size_t sz, char *out, size_t outsz) {
	size_t n = sz > sizeof(*m) ? sz - sizeof(*m) : 0;
	if (n > GATE_TEXT_MAX)
		n = GATE_TEXT_MAX;
	if (n >= outsz)
		n = outsz - 1;
	n = strnlen((const char *)(m + 1), n);
	memcpy(out, m + 1, n);
	out[n] = '\0';
}

static void on_socket(struct gate *g, const struct skynet_socket_message *m, size_t sz) {
	char text[GATE_TEXT_MAX + 1];
	switch (m->type) {
	case SKYNET_SOCKET_TYPE_DATA:
		on_data(g, m->id, m->buffer, m->ud);
		break;
	case SKYNET_SOCKET_TYPE_CONNECT:
		/* listen ready, or reading started on a connection: nothing to do */
		if (m->id != g->listen_id && conn_find(g, m->id) == NULL) {
			skynet_error(g->ctx, "[gate] close unknown connection %d", m->id);
			skynet_socket_close(g->ctx, m->id);
		}
		break;
	case SKYNET_SOCKET_TYPE_CLOSE:
	case SKYNET_SOCKET_TYPE_ERROR:
		if (m->id == g->listen_id) {
			socket_text(m, sz, text, sizeof(text));
			skynet_error(g->ctx, "[gate] listen socket %d: %s", m->id,
			             m->type == SKYNET_SOCKET_TYPE_ERROR ? text : "closed");
			g->listen_id = -1;
			break;
		}
		if (conn_find(g, m->id) && m->type == SKYNET_SOCKET_TYPE_ERROR) {
			socket_text(m, sz, text, sizeof(text));
			skynet_error(g->ctx, "[gate] connection %d: %s", m->id, text);
		}
		if (conn_remove(g, m->id)) {
			/* release the slot (no second CLOSE is reported) */
			skynet_socket_close(g->ctx, m->id);
			report(g, "%d close", m->id);
		}
		break;
	case SKYNET_SOCKET_TYPE_ACCEPT: {
		int id = m->ud;
		if (g->nconn >= g->max_connection) {
			skynet_socket_close(g->ctx, id);
			break;
		}
		conn_add(g, id);
		/* backpressure: read it only while its frames' taker keeps up */
		skynet_socket_sink(g->ctx, id, g->broker ? g->broker : g->watchdog);
		socket_text(m, sz, text, sizeof(text));
		skynet_error(g->ctx, "socket open: %x", id);
		report(g, "%d open %d %s:0", id, id, text);
		break;
	}
	case SKYNET_SOCKET_TYPE_WARNING:
		skynet_error(g->ctx, "[gate] fd (%d) send buffer (%d)K", m->id, m->ud);
		break;
	case SKYNET_SOCKET_TYPE_UDP:
		skynet_free(m->buffer);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------- commands */

/* Parses a decimal socket id; -1 if it is not one. */
static int parse_id(const char *s) {
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || v <= 0 || v > INT32_MAX)
		return -1;
	return (int)v;
}

static void on_command(struct gate *g, const char *msg, size_t sz) {
	char cmd[GATE_CMD_MAX + 1];
	if (sz > GATE_CMD_MAX) {
		skynet_error(g->ctx, "[gate] Unknown command : (%zu bytes)", sz);
		return;
	}
	memcpy(cmd, msg, sz);
	cmd[sz] = '\0';
	char *arg = strchr(cmd, ' ');
	if (arg)
		*arg++ = '\0';
	else
		arg = cmd + sz;

	if (strcmp(cmd, "kick") == 0) {
		int id = parse_id(arg);
		if (id > 0 && conn_find(g, id))
			skynet_socket_close(g->ctx, id);
		return;
	}
	if (strcmp(cmd, "forward") == 0) {
		char idstr[16], agent[64], client[64];
		if (sscanf(arg, "%15s %63s %63s", idstr, agent, client) == 3) {
			int id = parse_id(idstr);
			struct connection *c = id > 0 ? conn_find(g, id) : NULL;
			uint32_t a = skynet_queryname(g->ctx, agent);
			if (c && a) {
				c->agent = a;
				c->client = skynet_queryname(g->ctx, client);
				if (g->broker == 0)
					skynet_socket_sink(g->ctx, id, a);
				return;
			}
		}
		skynet_error(g->ctx, "[gate] Invalid forward command : %s", arg);
		return;
	}
	if (strcmp(cmd, "broker") == 0) {
		g->broker = skynet_queryname(g->ctx, arg);
		if (g->broker == 0) {
			skynet_error(g->ctx, "[gate] Invalid broker : %s", arg);
			return;
		}
		for (uint32_t i = 0; i < g->nbucket; i++)
			for (struct connection *c = g->bucket[i]; c; c = c->next)
				skynet_socket_sink(g->ctx, c->id, g->broker);
		return;
	}
	if (strcmp(cmd, "start") == 0) {
		int id = parse_id(arg);
		if (id > 0 && conn_find(g, id))
			skynet_socket_start(g->ctx, id);
		else
			skynet_error(g->ctx, "[gate] start unknown connection %s", arg);
		return;
	}
	if (strcmp(cmd, "close") == 0) {
		if (g->listen_id >= 0) {
			skynet_socket_close(g->ctx, g->listen_id);
			g->listen_id = -1;
		}
		return;
	}
	skynet_error(g->ctx, "[gate] Unknown command : %s%s%s", cmd, *arg ? " " : "", arg);
}

/* PTYPE_CLIENT to the gate: payload + socket id (4 bytes, little-endian).
 * Returns 1 when the message now belongs to the socket layer. */
static int on_client(struct gate *g, uint32_t source, const void *msg, size_t sz) {
	if (sz <= 4) {
		skynet_error(g->ctx, "[gate] Invalid client message from %x (%zu bytes)", source, sz);
		return 0;
	}
	const uint8_t *idb = (const uint8_t *)msg + sz - 4;
	int id = (int)((uint32_t)idb[0] | (uint32_t)idb[1] << 8 | (uint32_t)idb[2] << 16 |
	               (uint32_t)idb[3] << 24);
	if (conn_find(g, id) == NULL) {
		skynet_error(g->ctx, "[gate] Invalid client id %d from %x", id, source);
		return 0;
	}
	skynet_socket_send(g->ctx, id, (void *)msg, (int)(sz - 4));
	return 1;
}

static int gate_cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source,
                   const void *msg, size_t sz) {
	(void)ctx;
	(void)session;
	struct gate *g = ud;
	switch (type) {
	case PTYPE_TEXT:
		on_command(g, msg, sz);
		return 0;
	case PTYPE_CLIENT:
		return on_client(g, source, msg, sz);
	case PTYPE_SOCKET:
		if (msg && sz >= sizeof(struct skynet_socket_message))
			on_socket(g, msg, sz);
		return 0;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ lifecycle */

struct gate *gate_create(void) {
	struct gate *g = skynet_calloc(1, sizeof(*g));
	g->listen_id = -1;
	return g;
}

void gate_release(struct gate *g) {
	if (g == NULL)
		return;
	for (uint32_t i = 0; i < g->nbucket; i++) {
		struct connection *c = g->bucket[i];
		while (c) {
			struct connection *next = c->next;
			netpack_frame_clear(&c->frame);
			skynet_free(c);
			c = next;
		}
	}
	skynet_free(g->bucket);
	skynet_free(g);
}

/* "ip:port" or "port" (IPv6 as "[::1]:port" or "::1:port"). */
static int start_listen(struct gate *g, char *address) {
	const char *host = "";
	char *portstr = strrchr(address, ':');
	if (portstr) {
		*portstr++ = '\0';
		host = address;
		size_t hl = strlen(address);
		if (hl >= 2 && address[0] == '[' && address[hl - 1] == ']') {
			address[hl - 1] = '\0';
			host = address + 1;
		}
	} else {
		portstr = address;
	}
	char *end;
	long port = strtol(portstr, &end, 10);
	if (end == portstr || *end != '\0' || port <= 0 || port > 65535) {
		skynet_error(g->ctx, "Invalid gate address %s", portstr);
		return 1;
	}
	g->listen_id = skynet_socket_listen(g->ctx, host, (int)port, GATE_BACKLOG);
	if (g->listen_id < 0) {
		skynet_error(g->ctx, "Invalid gate address: can't listen on %s:%ld", host, port);
		return 1;
	}
	skynet_socket_start(g->ctx, g->listen_id);
	return 0;
}

int gate_init(struct gate *g, struct skynet_context *ctx, const char *parm) {
	g->ctx = ctx;
	if (parm == NULL) {
		skynet_error(ctx, "Invalid gate parm (none)");
		return 1;
	}
	char header[8], watchdog[64], address[128];
	int client_tag = 0, max = 0;
	if (sscanf(parm, "%7s %63s %127s %d %d", header, watchdog, address, &client_tag, &max) != 5) {
		skynet_error(ctx, "Invalid gate parm %s", parm);
		return 1;
	}
	if (max <= 0) {
		skynet_error(ctx, "Need max connection");
		return 1;
	}
	if (strcmp(header, "S") == 0) {
		g->header_size = 2;
	} else if (strcmp(header, "L") == 0) {
		g->header_size = 4;
	} else {
		skynet_error(ctx, "Invalid data header style");
		return 1;
	}
	if (strcmp(watchdog, "!") != 0) {
		g->watchdog = skynet_queryname(ctx, watchdog);
		if (g->watchdog == 0) {
			skynet_error(ctx, "Invalid watchdog %s", watchdog);
			return 1;
		}
	}
	g->client_tag = client_tag ? client_tag : PTYPE_CLIENT;
	g->max_connection = max;
	uint32_t nb = 16;
	while (nb < (uint32_t)max && nb < 65536)
		nb *= 2;
	g->nbucket = nb;
	g->bucket = skynet_calloc(nb, sizeof(*g->bucket));
	skynet_callback(ctx, g, gate_cb);
	return start_listen(g, address);
}
