/*
 * service_metrics.c -- the `metrics` C service: an HTTP endpoint on the
 * address of the config key `metrics` (bootstrap launches it as
 * `metrics <address>`), serving
 *   /metrics       Prometheus text exposition format 0.0.4
 *   /metrics.json  the same snapshot as JSON, plus the memory history
 *   /service.json?address=:0000000a   one service's stat and mem
 *   /              the live console page (metrics_page.html, built in)
 *
 * Why a C service and not Lua over skynet.socket: the snapshot reads the
 * core directly (no message to any service, no Lua table per service), and
 * every byte a client can make us hold is in a buffer whose size we fixed:
 * METRICS_HTTP_CONNECTIONS connections of one METRICS_HTTP_HEAD_MAX head
 * each.  Each message is handled in time proportional to its bytes (a
 * scrape: to the number of services), nothing waits, so a worker is never
 * stalled by a client:
 *   - a slow client (one byte a second) is answered 408 and closed when
 *     METRICS_HTTP_TIMEOUT_S have passed since it connected;
 *   - a huge head is answered 431 at METRICS_HTTP_HEAD_MAX bytes and the
 *     socket stops being read;
 *   - one connection more than METRICS_HTTP_CONNECTIONS closes the oldest,
 *     so a crowd of idle connections cannot lock a scraper out;
 *   - an answer a client does not read is dropped METRICS_HTTP_TIMEOUT_S
 *     after it was queued (the socket is shut down).
 * Every answer closes its connection: no keep-alive state to get wrong,
 * at the price of one TCP handshake per scrape.
 *
 * A one-second tick enforces the deadlines and, every
 * METRICS_HISTORY_STEP_S, samples the node's memory for the console chart.
 */
#include "metrics_collect.h"
#include "metrics_format.h"
#include "metrics_http.h"
#include "skynet.h"
#include "skynet_metrics.h"
#include "skynet_server.h"
#include "skynet_socket.h"
#include "skynet_tunables.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The console page, assembled into the module (no file to find at run
 * time, nothing fetched from elsewhere). */
__asm__(".section .rodata\n"
        ".type metrics_page_html, @object\n"
        "metrics_page_html:\n"
        ".incbin \"service-src/metrics_page.html\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char metrics_page_html[] __attribute__((visibility("hidden")));

#define CLOSING_MAX (METRICS_HTTP_CONNECTIONS * 4)
#define LISTEN_BACKLOG 128

/* A connection still sending its request. */
struct conn {
	int id;
	uint64_t seq;      /* accept order: the oldest is evicted first */
	uint64_t deadline; /* skynet_now() centiseconds */
	struct http_head head;
};

/* An answered connection whose output may still be queued. */
struct closing {
	int id;
	uint64_t deadline;
};

enum { CODE_200, CODE_400, CODE_404, CODE_405, CODE_408, CODE_431, CODE_505, CODE_KINDS };
static const int CODES[CODE_KINDS] = {200, 400, 404, 405, 408, 431, 505};

/* Owned by the service (one thread at a time). */
struct metrics {
	struct skynet_context *ctx;
	int listen_id;
	char address[128];
	uint64_t seq;
	int nconn;
	struct conn *conns[METRICS_HTTP_CONNECTIONS];
	struct closing closing[CLOSING_MAX];
	int closing_head, nclosing;
	struct metrics_snapshot snap;
	struct metrics_sample history[METRICS_HISTORY_LEN];
	int hist_head, hist_len;
	int ticks;
	int code_series[CODE_KINDS];
	int evicted_series;
};

struct metrics *metrics_create(void) {
	struct metrics *m = skynet_malloc(sizeof(*m));
	memset(m, 0, sizeof(*m));
	m->listen_id = -1;
	return m;
}

void metrics_release(struct metrics *m) {
	for (int i = 0; i < METRICS_HTTP_CONNECTIONS; i++)
		skynet_free(m->conns[i]);
	metrics_snapshot_free(&m->snap);
	skynet_free(m);
}

/* ---- Connections -------------------------------------------------------- */

static int conn_find(struct metrics *m, int id) {
	for (int i = 0; i < METRICS_HTTP_CONNECTIONS; i++)
		if (m->conns[i] && m->conns[i]->id == id)
			return i;
	return -1;
}

static void conn_drop(struct metrics *m, int i) {
	skynet_free(m->conns[i]);
	m->conns[i] = NULL;
	m->nconn--;
}

/* Remembers an answered socket so it can be shut down if its client never
 * takes the answer; a full list shuts the oldest down now. */
static void closing_add(struct metrics *m, int id) {
	if (m->nclosing == CLOSING_MAX) {
		skynet_socket_shutdown(m->ctx, m->closing[m->closing_head].id);
		m->closing_head = (m->closing_head + 1) % CLOSING_MAX;
		m->nclosing--;
	}
	int at = (m->closing_head + m->nclosing) % CLOSING_MAX;
	m->closing[at].id = id;
	m->closing[at].deadline = skynet_now() + METRICS_HTTP_TIMEOUT_S * 100;
	m->nclosing++;
}

static void count_code(struct metrics *m, int status) {
	for (int k = 0; k < CODE_KINDS; k++)
		if (CODES[k] == status)
			skynet_metrics_add(m->code_series[k], 1);
}

/* Sends status + body (body_len bytes, not sent for HEAD) and closes. */
static void respond(struct metrics *m, int id, int status, const char *type, const char *body, size_t body_len,
                    bool head_only) {
	char hdr[512];
	int hl = snprintf(hdr, sizeof(hdr),
	                  "HTTP/1.1 %d %s\r\n"
	                  "Content-Type: %s\r\n"
	                  "Content-Length: %zu\r\n"
	                  "Cache-Control: no-store\r\n"
	                  "X-Content-Type-Options: nosniff\r\n"
	                  "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
	                  "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:\r\n"
	                  "Connection: close\r\n\r\n",
	                  status, http_reason(status), type, body_len);
	size_t send_len = head_only ? 0 : body_len;
	char *out = skynet_malloc((size_t)hl + send_len);
	if (out) {
		memcpy(out, hdr, (size_t)hl);
		if (send_len)
			memcpy(out + hl, body, send_len);
		skynet_socket_send(m->ctx, id, out, (int)((size_t)hl + send_len));
	}
	skynet_socket_close(m->ctx, id);
	closing_add(m, id);
	count_code(m, status);
}

static void respond_error(struct metrics *m, int id, int status) {
	char body[128];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	respond(m, id, status, "text/plain; charset=utf-8", body, (size_t)n, false);
}

/* ---- Routes ------------------------------------------------------------- */

static void sample_history(struct metrics *m, const struct metrics_snapshot *s) {
	uint64_t messages = 0;
	for (int i = 0; i < METRICS_PTYPES; i++)
		messages += s->dispatched[i];
	int at = (m->hist_head + m->hist_len) % METRICS_HISTORY_LEN;
	if (m->hist_len == METRICS_HISTORY_LEN)
		m->hist_head = (m->hist_head + 1) % METRICS_HISTORY_LEN;
	else
		m->hist_len++;
	m->history[at] = (struct metrics_sample){s->time_ms, s->lua_memory, s->rss_bytes, messages};
}

static void serve(struct metrics *m, int id, const struct http_request *req) {
	struct mbuf b;
	mbuf_init(&b);
	const char *type = NULL;
	if (strcmp(req->path, "/metrics") == 0) {
		metrics_collect(&m->snap, 1);
		metrics_format_text(&b, &m->snap);
		type = "text/plain; version=0.0.4; charset=utf-8";
	} else if (strcmp(req->path, "/metrics.json") == 0) {
		metrics_collect(&m->snap, 1);
		struct metrics_sample hist[METRICS_HISTORY_LEN];
		for (int i = 0; i < m->hist_len; i++)
			hist[i] = m->history[(m->hist_head + i) % METRICS_HISTORY_LEN];
		metrics_format_json(&b, &m->snap, hist, m->hist_len);
		type = "application/json";
	} else if (strcmp(req->path, "/service.json") == 0) {
		char addr[32];
		struct metrics_service svc;
		if (http_query_get(req->query, "address", addr, sizeof(addr)) != 0) {
			respond_error(m, id, 400);
			return;
		}
		const char *hex = addr[0] == ':' ? addr + 1 : (strncmp(addr, "%3A", 3) == 0 ? addr + 3 : addr);
		char *end;
		unsigned long h = strtoul(hex, &end, 16);
		if (*hex == '\0' || *end != '\0' || h == 0 || h > 0xffffffffUL || metrics_collect_service((uint32_t)h, &svc)) {
			respond_error(m, id, 404);
			return;
		}
		metrics_format_service_json(&b, &svc);
		type = "application/json";
	} else if (strcmp(req->path, "/") == 0 || strcmp(req->path, "/index.html") == 0) {
		respond(m, id, 200, "text/html; charset=utf-8", metrics_page_html, strlen(metrics_page_html),
		        req->head_only);
		return;
	} else {
		respond_error(m, id, 404);
		return;
	}
	if (b.failed) {
		mbuf_free(&b);
		respond_error(m, id, 503);
		return;
	}
	respond(m, id, 200, type, b.p ? b.p : "", b.len, req->head_only);
	mbuf_free(&b);
}

/* ---- Socket events ------------------------------------------------------ */

static void on_accept(struct metrics *m, int id) {
	int slot = -1;
	for (int i = 0; i < METRICS_HTTP_CONNECTIONS && slot < 0; i++)
		if (m->conns[i] == NULL)
			slot = i;
	if (slot < 0) {
		/* Full: the oldest connection makes room (it had the longest
		 * chance to send its request). */
		slot = 0;
		for (int i = 1; i < METRICS_HTTP_CONNECTIONS; i++)
			if (m->conns[i]->seq < m->conns[slot]->seq)
				slot = i;
		skynet_socket_shutdown(m->ctx, m->conns[slot]->id);
		conn_drop(m, slot);
		skynet_metrics_add(m->evicted_series, 1);
	}
	struct conn *c = skynet_malloc(sizeof(*c));
	if (c == NULL) {
		skynet_socket_shutdown(m->ctx, id);
		return;
	}
	c->id = id;
	c->seq = ++m->seq;
	c->deadline = skynet_now() + METRICS_HTTP_TIMEOUT_S * 100;
	http_head_init(&c->head);
	m->conns[slot] = c;
	m->nconn++;
	skynet_socket_start(m->ctx, id);
}

static void on_data(struct metrics *m, int id, const char *data, size_t n) {
	int i = conn_find(m, id);
	if (i < 0)
		return; /* answered already: the rest of its bytes are ignored */
	struct http_request req;
	int r = http_feed(&m->conns[i]->head, data, n, &req);
	if (r == HTTP_MORE)
		return;
	conn_drop(m, i);
	if (r == HTTP_READY)
		serve(m, id, &req);
	else
		respond_error(m, id, r);
}

static void on_socket(struct metrics *m, const struct skynet_socket_message *sm) {
	switch (sm->type) {
	case SKYNET_SOCKET_TYPE_ACCEPT:
		if (sm->id == m->listen_id)
			on_accept(m, sm->ud);
		break;
	case SKYNET_SOCKET_TYPE_DATA:
		on_data(m, sm->id, sm->buffer, (size_t)sm->ud);
		skynet_free(sm->buffer);
		break;
	case SKYNET_SOCKET_TYPE_CLOSE:
	case SKYNET_SOCKET_TYPE_ERROR: {
		int i = conn_find(m, sm->id);
		if (i >= 0) {
			conn_drop(m, i);
			skynet_socket_close(m->ctx, sm->id);
		}
		if (sm->id == m->listen_id) {
			skynet_error(m->ctx, "metrics: the listening socket on %s closed", m->address);
			m->listen_id = -1;
		}
		break;
	}
	case SKYNET_SOCKET_TYPE_UDP:
		skynet_free(sm->buffer);
		break;
	default:
		break;
	}
}

/* ---- The tick ------------------------------------------------------------ */

static void tick(struct metrics *m) {
	uint64_t now = skynet_now();
	for (int i = 0; i < METRICS_HTTP_CONNECTIONS; i++) {
		if (m->conns[i] && now >= m->conns[i]->deadline) {
			int id = m->conns[i]->id;
			conn_drop(m, i);
			respond_error(m, id, 408);
		}
	}
	while (m->nclosing > 0 && now >= m->closing[m->closing_head].deadline) {
		skynet_socket_shutdown(m->ctx, m->closing[m->closing_head].id);
		m->closing_head = (m->closing_head + 1) % CLOSING_MAX;
		m->nclosing--;
	}
	if (++m->ticks % METRICS_HISTORY_STEP_S == 1 || METRICS_HISTORY_STEP_S == 1) {
		metrics_collect(&m->snap, 0);
		sample_history(m, &m->snap);
	}
	skynet_command(m->ctx, "TIMEOUT", "100");
}

static int metrics_cb(struct skynet_context *ctx, void *ud, int type, int session, uint32_t source,
                      const void *msg, size_t sz) {
	(void)ctx;
	(void)session;
	(void)source;
	(void)sz;
	struct metrics *m = ud;
	if (type == PTYPE_SOCKET)
		on_socket(m, msg);
	else if (type == PTYPE_RESPONSE)
		tick(m);
	return 0;
}

/* "host:port", "[v6]:port" or "port" (loopback). */
static int parse_address(const char *s, char *host, size_t hostsz, int *port) {
	const char *colon = strrchr(s, ':');
	const char *p = colon ? colon + 1 : s;
	char *end;
	long v = strtol(p, &end, 10);
	if (*p == '\0' || *end != '\0' || v <= 0 || v > 65535)
		return -1;
	*port = (int)v;
	if (colon == NULL) {
		snprintf(host, hostsz, "127.0.0.1");
		return 0;
	}
	size_t hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostsz)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	return 0;
}

static void make_series(struct metrics *m) {
	for (int k = 0; k < CODE_KINDS; k++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "code=\"%d\"", CODES[k]);
		m->code_series[k] = skynet_metrics_series("skynet_metrics_http_requests_total", METRICS_COUNTER,
		                                          "Requests the metrics endpoint answered, by status code.", labels);
	}
	m->evicted_series =
	    skynet_metrics_series("skynet_metrics_http_evicted_total", METRICS_COUNTER,
	                          "Connections to the metrics endpoint closed to make room for a newer one.", "");
}

int metrics_init(struct metrics *m, struct skynet_context *ctx, const char *args) {
	m->ctx = ctx;
	const char *top = skynet_command(ctx, "GETENV", "metrics_top");
	int top_n = top ? atoi(top) : METRICS_TOP_DEFAULT;
	metrics_snapshot_init(&m->snap, top_n);
	char host[128];
	int port;
	snprintf(m->address, sizeof(m->address), "%s", args ? args : "");
	if (args == NULL || parse_address(args, host, sizeof(host), &port)) {
		skynet_error(ctx, "metrics: bad address '%s' (want host:port, [v6]:port or a port)", m->address);
		return 1;
	}
	m->listen_id = skynet_socket_listen(ctx, host, port, LISTEN_BACKLOG);
	if (m->listen_id < 0) {
		skynet_error(ctx, "metrics: cannot listen on %s: %s", m->address, strerror(errno));
		return 1;
	}
	make_series(m);
	skynet_callback(ctx, m, metrics_cb);
	skynet_socket_start(ctx, m->listen_id);
	skynet_command(ctx, "TIMEOUT", "0");
	skynet_error(ctx, "metrics: serving http://%s/metrics (top %d services)", m->address, m->snap.top_n);
	return 0;
}
