/*
 * test_socket_server.c -- the socket server driven directly on 127.0.0.1:
 * listen/accept/connect, data both ways from 1 byte to 8 MiB, ordering of
 * high/low priority queues, output warnings, half-close, reset, graceful
 * close flushing, shutdown, pause/resume, backpressure (undispatched DATA,
 * a sink's backlog, a reset while held back), the unsent cap, write to a
 * closed id, start on a stale id, connect refused, UDP round trip, IPv6
 * (when ::1 exists), bind of an OS fd, info and exit latency.  The poll loop runs on its own thread, as in a node;
 * events are recorded in a queue the checks wait on.
 */
#include "skynet_clock.h"
#include "socket_server.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OWNER 42
#define WAIT_MS 5000

/* ------------------------------------------------------------ recorder */

struct rec {
	struct rec *next;
	int type, id, ud;
	uintptr_t opaque;
	char *data; /* DATA/UDP: owned buffer; else a copy of the text */
	size_t size;
	bool held; /* DATA not reported consumed yet (HOLD_DATA) */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rec *head, *tail;
} R = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL};

static struct socket_server *SS;
/* While set, recorded DATA counts as not yet dispatched until freed. */
static atomic_bool HOLD_DATA;
static pthread_t POLL_THREAD;

static int record(void *ud, const struct socket_event *ev) {
	(void)ud;
	struct rec *r = calloc(1, sizeof(*r));
	r->type = ev->type;
	r->id = ev->id;
	r->ud = ev->ud;
	r->opaque = ev->opaque;
	r->size = ev->size;
	if (ev->type == SOCKET_EV_DATA || ev->type == SOCKET_EV_UDP) {
		r->data = ev->data;
	} else {
		r->data = malloc(ev->size + 1);
		memcpy(r->data, ev->data ? ev->data : "", ev->size);
		r->data[ev->size] = '\0';
	}
	/* a node's owner counts as having taken DATA once it dispatched it;
	 * here recording is dispatching, unless a test holds DATA back: then
	 * it is taken when the record is freed */
	if (ev->type == SOCKET_EV_DATA && atomic_load(&HOLD_DATA))
		r->held = true;
	bool held = r->held;
	pthread_mutex_lock(&R.lock);
	if (R.tail)
		R.tail->next = r;
	else
		R.head = r;
	R.tail = r;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	if (ev->type == SOCKET_EV_DATA && !held)
		socket_server_consumed(SS, ev->id, ev->size);
	return 0;
}

static void *poll_main(void *p) {
	(void)p;
	while (socket_server_poll(SS, record, NULL, true) >= 0) {
	}
	return NULL;
}

static void rec_free(struct rec *r) {
	if (r) {
		if (r->held)
			socket_server_consumed(SS, r->id, r->size);
		free(r->data);
		free(r);
	}
}

static uint64_t now_ms(void) { return skynet_hpc() / 1000000; }

/* Removes and returns the first event for `id` of `type` (type 0: any),
 * waiting up to ms; NULL on timeout. */
static struct rec *wait_event(int type, int id, int ms) {
	uint64_t deadline = now_ms() + (uint64_t)ms;
	pthread_mutex_lock(&R.lock);
	for (;;) {
		struct rec *prev = NULL;
		for (struct rec *r = R.head; r; prev = r, r = r->next) {
			if (r->id == id && (type == 0 || r->type == type)) {
				if (prev)
					prev->next = r->next;
				else
					R.head = r->next;
				if (R.tail == r)
					R.tail = prev;
				pthread_mutex_unlock(&R.lock);
				r->next = NULL;
				return r;
			}
		}
		uint64_t t = now_ms();
		if (t >= deadline)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t wait = deadline - t > 50 ? 50 : deadline - t;
		ts.tv_nsec += (long)(wait * 1000000);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&R.cond, &R.lock, &ts);
	}
	pthread_mutex_unlock(&R.lock);
	return NULL;
}

/* Waits for an event and returns only whether it came (frees it). */
static bool got_event(int type, int id, int ms) {
	struct rec *r = wait_event(type, id, ms);
	rec_free(r);
	return r != NULL;
}

/* Appends DATA of `id` into buf until `want` bytes (or timeout / a CLOSE or
 * ERROR for id, which sets *closed).  Returns bytes gathered. */
static size_t gather(int id, char *buf, size_t want, int ms, bool *closed) {
	size_t got = 0;
	uint64_t deadline = now_ms() + (uint64_t)ms;
	if (closed)
		*closed = false;
	while (got < want && now_ms() < deadline) {
		struct rec *r = wait_event(0, id, 50);
		if (r == NULL)
			continue;
		if (r->type == SOCKET_EV_DATA) {
			size_t n = r->size;
			if (got + n > want)
				n = want - got;
			memcpy(buf + got, r->data, n);
			got += n;
		} else if (r->type == SOCKET_EV_CLOSE || r->type == SOCKET_EV_ERROR) {
			if (closed)
				*closed = true;
			rec_free(r);
			break;
		}
		rec_free(r);
	}
	return got;
}

static void drain_events(void) {
	pthread_mutex_lock(&R.lock);
	struct rec *r = R.head;
	R.head = R.tail = NULL;
	pthread_mutex_unlock(&R.lock);
	while (r) {
		struct rec *n = r->next;
		rec_free(r);
		r = n;
	}
}

/* ------------------------------------------------------------- helpers */

static void fill_pattern(char *p, size_t n, unsigned seed) {
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((i * 131 + seed) & 0xff);
}

static bool check_pattern(const char *p, size_t n, unsigned seed) {
	for (size_t i = 0; i < n; i++)
		if (p[i] != (char)((i * 131 + seed) & 0xff))
			return false;
	return true;
}

static int send_copy(int id, const void *data, size_t sz, bool low) {
	void *m = malloc(sz ? sz : 1);
	memcpy(m, data, sz);
	struct socket_sendbuffer b = {id, SOCKET_BUFFER_MEMORY, m, sz};
	return low ? socket_server_send_lowpriority(SS, &b) : socket_server_send(SS, &b);
}

/* A listen socket on host:0, started; returns id and its port. */
static int make_listener(const char *host, int *port) {
	int lid = socket_server_listen(SS, OWNER, host, 0, 64);
	if (lid < 0)
		return -1;
	struct rec *r = wait_event(SOCKET_EV_CONNECT, lid, WAIT_MS);
	if (r == NULL)
		return -1;
	*port = r->ud;
	rec_free(r);
	socket_server_start(SS, OWNER, lid);
	if (!got_event(SOCKET_EV_CONNECT, lid, WAIT_MS))
		return -1;
	return lid;
}

/* Accepts one connection on lid and starts it; returns the new id. */
static int accept_one(int lid) {
	struct rec *r = wait_event(SOCKET_EV_ACCEPT, lid, WAIT_MS);
	if (r == NULL)
		return -1;
	int id = r->ud;
	rec_free(r);
	socket_server_start(SS, OWNER, id);
	if (!got_event(SOCKET_EV_CONNECT, id, WAIT_MS))
		return -1;
	return id;
}

/* A plain blocking client socket connected to 127.0.0.1:port. */
static int raw_connect(int port) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads exactly n bytes (or until EOF / error / timeout); returns count. */
static size_t raw_read(int fd, char *buf, size_t n, int ms) {
	size_t got = 0;
	uint64_t deadline = now_ms() + (uint64_t)ms;
	while (got < n && now_ms() < deadline) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* True if the next read on fd reports EOF (or reset) within ms. */
static bool raw_eof(int fd, int ms) {
	struct pollfd p = {fd, POLLIN, 0};
	if (poll(&p, 1, ms) <= 0)
		return false;
	char c;
	return read(fd, &c, 1) <= 0;
}

static bool raw_write_all(int fd, const char *p, size_t n) {
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* --------------------------------------------------------------- tests */

static int LID, PORT;

static void test_listen_connect(void) {
	int lid = socket_server_listen(SS, OWNER, "127.0.0.1", 0, 64);
	CHECK(lid > 0, "listen on 127.0.0.1:0 returns an id");
	struct rec *r = wait_event(SOCKET_EV_CONNECT, lid, WAIT_MS);
	CHECK(r && r->ud > 0 && strcmp(r->data, "127.0.0.1") == 0 && r->opaque == OWNER,
	      "listen is announced with CONNECT (ip 127.0.0.1, the bound port) to the owner");
	PORT = r ? r->ud : 0;
	rec_free(r);
	CHECK(!got_event(SOCKET_EV_ACCEPT, lid, 0), "no accept before start");
	socket_server_start(SS, OWNER, lid);
	r = wait_event(SOCKET_EV_CONNECT, lid, WAIT_MS);
	CHECK(r && strcmp(r->data, "start") == 0, "start on a listen socket reports CONNECT \"start\"");
	rec_free(r);
	LID = lid;

	int cid = socket_server_connect(SS, OWNER + 1, "127.0.0.1", PORT);
	CHECK(cid > 0 && cid != lid, "connect returns a new id at once");
	r = wait_event(SOCKET_EV_ACCEPT, lid, WAIT_MS);
	int sid = r ? r->ud : -1;
	CHECK(r && sid > 0 && strncmp(r->data, "127.0.0.1:", 10) == 0 && r->opaque == OWNER,
	      "ACCEPT on the listen id carries the new id and \"ip:port\"");
	rec_free(r);
	r = wait_event(SOCKET_EV_CONNECT, cid, WAIT_MS);
	CHECK(r && strcmp(r->data, "127.0.0.1") == 0 && r->opaque == OWNER + 1,
	      "the connecting side gets CONNECT with the peer ip");
	rec_free(r);

	CHECK(send_copy(cid, "early", 5, false) == 0, "send to an accepted peer before it starts is accepted");
	CHECK(!got_event(SOCKET_EV_DATA, sid, 100), "accepted socket is not read before start");
	socket_server_start(SS, OWNER + 2, sid);
	r = wait_event(SOCKET_EV_CONNECT, sid, WAIT_MS);
	CHECK(r && strcmp(r->data, "start") == 0 && r->opaque == OWNER + 2,
	      "start on an accepted socket reports \"start\" to the new owner");
	rec_free(r);
	char buf[16];
	size_t n = gather(sid, buf, 5, WAIT_MS, NULL);
	CHECK(n == 5 && memcmp(buf, "early", 5) == 0, "bytes sent before start arrive after start");

	/* data both ways, sizes 1 byte .. 8 MiB */
	static const size_t sizes[] = {1, 2, 100, 4096, 65536, 1 << 20, 8 << 20};
	char *out = malloc(8 << 20), *in = malloc(8 << 20);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t sz = sizes[i];
		char name[128];
		fill_pattern(out, sz, (unsigned)i);
		send_copy(cid, out, sz, false);
		n = gather(sid, in, sz, 20000, NULL);
		snprintf(name, sizeof(name), "client -> server %zu bytes arrive intact", sz);
		CHECK(n == sz && check_pattern(in, sz, (unsigned)i), name);
		fill_pattern(out, sz, (unsigned)i + 7);
		/* RAWPOINTER: copied by the socket layer if it can't go at once */
		struct socket_sendbuffer b = {sid, SOCKET_BUFFER_RAWPOINTER, out, sz};
		socket_server_send(SS, &b);
		memset(out, 0, sz);
		n = gather(cid, in, sz, 20000, NULL);
		snprintf(name, sizeof(name), "server -> client %zu bytes arrive intact (raw pointer send)", sz);
		CHECK(n == sz && check_pattern(in, sz, (unsigned)i + 7), name);
	}
	free(out);
	free(in);

	/* transfer: start on a connected socket changes the owner */
	socket_server_start(SS, OWNER + 3, sid);
	r = wait_event(SOCKET_EV_CONNECT, sid, WAIT_MS);
	CHECK(r && strcmp(r->data, "transfer") == 0 && r->opaque == OWNER + 3,
	      "start on a connected socket reports \"transfer\" to the new owner");
	rec_free(r);
	send_copy(cid, "x", 1, false);
	r = wait_event(SOCKET_EV_DATA, sid, WAIT_MS);
	CHECK(r && r->opaque == OWNER + 3, "data then goes to the new owner");
	rec_free(r);

	/* graceful close from the client: CLOSE on both ends */
	socket_server_close(SS, OWNER + 1, cid);
	r = wait_event(SOCKET_EV_CLOSE, cid, WAIT_MS);
	CHECK(r && r->opaque == OWNER + 1, "close reports CLOSE to the closer");
	rec_free(r);
	CHECK(got_event(SOCKET_EV_CLOSE, sid, WAIT_MS), "the peer sees CLOSE on EOF");
	CHECK(!got_event(SOCKET_EV_CLOSE, cid, 100), "CLOSE is reported once");
	CHECK(send_copy(cid, "late", 4, false) == -1, "send on a closed id returns -1 (buffer freed)");
	socket_server_close(SS, OWNER, sid);
	CHECK(!got_event(SOCKET_EV_CLOSE, sid, 100), "closing after a peer EOF raises no second CLOSE");
	CHECK(send_copy(sid, "late", 4, false) == -1, "send on the released id returns -1");
	drain_events(); /* e.g. the WARNINGs of the 8 MiB transfer */
	socket_server_close(SS, OWNER, sid); /* stale: ignored */
	socket_server_shutdown(SS, OWNER, sid);
	socket_server_pause(SS, OWNER, sid);
	socket_server_nodelay(SS, sid);
	r = wait_event(0, sid, 100);
	if (r)
		printf("# unexpected event type %d ud %d\n", r->type, r->ud);
	CHECK(r == NULL, "requests on a stale id are ignored");
	rec_free(r);
	/* ... but a start is answered, or its caller would wait forever */
	socket_server_start(SS, OWNER + 7, sid);
	r = wait_event(0, sid, WAIT_MS);
	CHECK(r && r->type == SOCKET_EV_ERROR && strcmp(r->data, "invalid socket") == 0 && r->opaque == OWNER + 7,
	      "start on a stale id reports ERROR \"invalid socket\" to the caller");
	rec_free(r);
}

static void test_refused(void) {
	/* find a free port: bind, note it, close */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	int id = socket_server_connect(SS, OWNER, "127.0.0.1", ntohs(a.sin_port));
	CHECK(id > 0, "connect to a closed port still returns an id");
	struct rec *r = wait_event(SOCKET_EV_ERROR, id, WAIT_MS);
	CHECK(r && strcmp(r->data, "Connection refused") == 0, "connect to a closed port: ERROR \"Connection refused\"");
	rec_free(r);
	CHECK(send_copy(id, "x", 1, false) == -1, "the failed connect's id is invalid afterwards");
	id = socket_server_connect(SS, OWNER, "no-such-host.invalid", 80);
	r = wait_event(SOCKET_EV_ERROR, id, WAIT_MS);
	CHECK(id > 0 && r && r->data[0], "an unresolvable host gives an ERROR event with a reason");
	rec_free(r);
	CHECK(socket_server_listen(SS, OWNER, "127.0.0.1", PORT, 8) == -1,
	      "listen on a port in use fails synchronously with -1");
}

static void test_halfclose_and_reset(void) {
	int fd = raw_connect(PORT);
	int sid = accept_one(LID);
	CHECK(fd >= 0 && sid > 0, "raw client accepted");
	raw_write_all(fd, "abc", 3);
	shutdown(fd, SHUT_WR);
	char buf[8];
	bool closed = false;
	size_t n = gather(sid, buf, 3, WAIT_MS, &closed);
	CHECK(n == 3 && memcmp(buf, "abc", 3) == 0, "data before the peer's half-close arrives");
	CHECK(closed || got_event(SOCKET_EV_CLOSE, sid, WAIT_MS), "peer half-close reports CLOSE");
	CHECK(send_copy(sid, "reply", 5, false) == 0, "the half-closed socket can still be written");
	n = raw_read(fd, buf, 5, WAIT_MS);
	CHECK(n == 5 && memcmp(buf, "reply", 5) == 0, "the half-closed peer receives the reply");
	socket_server_close(SS, OWNER, sid);
	CHECK(raw_eof(fd, WAIT_MS), "owner close after half-close ends the connection");
	close(fd);

	/* abrupt reset (SO_LINGER 0) */
	fd = raw_connect(PORT);
	sid = accept_one(LID);
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	struct rec *r = wait_event(0, sid, WAIT_MS);
	CHECK(r && (r->type == SOCKET_EV_ERROR || r->type == SOCKET_EV_CLOSE),
	      "a reset peer gives ERROR (or CLOSE)");
	rec_free(r);
	/* writing after the reset is harmless */
	for (int i = 0; i < 10; i++)
		send_copy(sid, "after reset", 11, false);
	socket_server_close(SS, OWNER, sid);
	usleep(100 * 1000);
	CHECK(1, "writes and close after a reset are harmless");
	drain_events();

	/* reset while output is queued */
	fd = raw_connect(PORT);
	sid = accept_one(LID);
	size_t big = 16 << 20;
	char *p = calloc(1, big);
	struct socket_sendbuffer b = {sid, SOCKET_BUFFER_MEMORY, p, big};
	socket_server_send(SS, &b);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	r = wait_event(SOCKET_EV_ERROR, sid, WAIT_MS);
	CHECK(r != NULL, "a reset with queued output reports ERROR");
	rec_free(r);
	CHECK(send_copy(sid, "x", 1, false) == -1, "after a write failure the socket takes no more writes");
	socket_server_close(SS, OWNER, sid);
	drain_events();
}

static void test_queues_and_warning(void) {
	int fd = raw_connect(PORT);
	int sid = accept_one(LID);
	/* the client does not read: 16 MiB of 'A' stay mostly queued */
	size_t a = 16 << 20, l = 1 << 20, h = 1 << 20;
	char *pa = malloc(a), *pl = malloc(l), *ph = malloc(h);
	memset(pa, 'A', a);
	memset(pl, 'L', l);
	memset(ph, 'H', h);
	struct socket_sendbuffer b = {sid, SOCKET_BUFFER_MEMORY, pa, a};
	CHECK(socket_server_send(SS, &b) == 0, "16 MiB send accepted");
	struct rec *r = wait_event(SOCKET_EV_WARNING, sid, WAIT_MS);
	CHECK(r && r->ud >= 1024, "WARNING once more than 1 MiB is queued (ud in KiB)");
	int first = r ? r->ud : 0;
	rec_free(r);
	b = (struct socket_sendbuffer){sid, SOCKET_BUFFER_MEMORY, pl, l};
	socket_server_send_lowpriority(SS, &b);
	b = (struct socket_sendbuffer){sid, SOCKET_BUFFER_MEMORY, ph, h};
	socket_server_send(SS, &b);
	/* 16 MiB + 2 MiB queued, the level was raised to 2 MiB then doubles:
	 * more warnings follow only as the queue grows, none here */
	r = wait_event(SOCKET_EV_WARNING, sid, 200);
	CHECK(r == NULL || r->ud > first, "no repeated warning without growth past the doubled level");
	rec_free(r);

	size_t total = a + l + h;
	char *in = malloc(total);
	size_t n = raw_read(fd, in, total, 30000);
	CHECK(n == total, "the reader receives all 18 MiB");
	bool order = n == total;
	for (size_t i = 0; order && i < a; i++)
		order = in[i] == 'A';
	for (size_t i = a; order && i < a + h; i++)
		order = in[i] == 'H';
	for (size_t i = a + h; order && i < total; i++)
		order = in[i] == 'L';
	CHECK(order, "high priority overtakes queued low priority; no buffer is interleaved");
	free(in);
	r = wait_event(SOCKET_EV_WARNING, sid, WAIT_MS);
	while (r && r->ud != 0) {
		rec_free(r);
		r = wait_event(SOCKET_EV_WARNING, sid, WAIT_MS);
	}
	CHECK(r && r->ud == 0, "WARNING 0 once the queue drains");
	rec_free(r);

	/* graceful close flushes what is queued */
	size_t sz = 8 << 20;
	char *p = malloc(sz);
	fill_pattern(p, sz, 3);
	b = (struct socket_sendbuffer){sid, SOCKET_BUFFER_MEMORY, p, sz};
	socket_server_send(SS, &b);
	socket_server_close(SS, OWNER, sid);
	CHECK(got_event(SOCKET_EV_CLOSE, sid, WAIT_MS), "close with queued output reports CLOSE at once");
	CHECK(send_copy(sid, "x", 1, false) == -1, "no writes accepted after close");
	in = malloc(sz);
	n = raw_read(fd, in, sz, 30000);
	CHECK(n == sz && check_pattern(in, sz, 3), "queued output is flushed after close");
	CHECK(raw_eof(fd, WAIT_MS), "then the connection is closed");
	free(in);
	close(fd);
	drain_events();

	/* shutdown drops the queue */
	fd = raw_connect(PORT);
	sid = accept_one(LID);
	sz = 32 << 20;
	p = calloc(1, sz);
	b = (struct socket_sendbuffer){sid, SOCKET_BUFFER_MEMORY, p, sz};
	socket_server_send(SS, &b);
	socket_server_shutdown(SS, OWNER, sid);
	CHECK(got_event(SOCKET_EV_CLOSE, sid, WAIT_MS), "shutdown reports CLOSE");
	in = malloc(sz);
	n = raw_read(fd, in, sz, 3000);
	CHECK(n < sz, "shutdown discards queued output");
	free(in);
	close(fd);
	drain_events();
}

static void test_pause_resume(void) {
	int fd = raw_connect(PORT);
	int sid = accept_one(LID);
	socket_server_pause(SS, OWNER, sid);
	usleep(50 * 1000);
	raw_write_all(fd, "paused", 6);
	CHECK(!got_event(SOCKET_EV_DATA, sid, 200), "a paused socket is not read");
	socket_server_start(SS, OWNER, sid);
	char buf[8];
	size_t n = gather(sid, buf, 6, WAIT_MS, NULL);
	CHECK(n == 6 && memcmp(buf, "paused", 6) == 0, "resume delivers what waited in the kernel");
	socket_server_close(SS, OWNER, sid);
	close(fd);
	drain_events();
}

struct writer {
	int fd;
	const char *p;
	size_t n;
	bool ok;
};

static void *writer_main(void *a) {
	struct writer *w = a;
	w->ok = raw_write_all(w->fd, w->p, w->n);
	return NULL;
}

/* Reads fd until EOF or reset; true if that came within ms. */
static bool raw_drain_to_eof(int fd, int ms) {
	char buf[65536];
	uint64_t deadline = now_ms() + (uint64_t)ms;
	while (now_ms() < deadline) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		if (read(fd, buf, sizeof(buf)) <= 0)
			return true;
	}
	return false;
}

/* Counts the DATA events of id waiting in the recorder. */
static int count_data(int id) {
	int n = 0;
	pthread_mutex_lock(&R.lock);
	for (struct rec *r = R.head; r; r = r->next)
		n += r->id == id && r->type == SOCKET_EV_DATA;
	pthread_mutex_unlock(&R.lock);
	return n;
}

/* Owner stage: a socket is read only while few of its DATA events wait
 * undispatched; taking one resumes it at once. */
static void test_backpressure_inflight(void) {
	int fd = raw_connect(PORT);
	int sid = accept_one(LID);
	atomic_store(&HOLD_DATA, true);
	char *big = malloc(1 << 20);
	fill_pattern(big, 1 << 20, 7);
	/* the writer blocks once the kernel buffers are full: a thread */
	pthread_t t;
	struct writer w = {fd, big, 1 << 20, false};
	pthread_create(&t, NULL, writer_main, &w);
	usleep(300 * 1000);
	int held = count_data(sid);
	printf("# %d DATA events held\n", held);
	CHECK(held >= 1 && held <= 4, "a socket stops being read with INFLIGHT_MAX DATA events undispatched");
	/* take them one by one: each dispatch lets one more read happen */
	char *got = malloc(1 << 20);
	size_t n = gather(sid, got, 1 << 20, WAIT_MS * 2, NULL);
	atomic_store(&HOLD_DATA, false);
	pthread_join(t, NULL);
	CHECK(w.ok && n == (1 << 20) && check_pattern(got, n, 7), "dispatching resumes it: 1 MiB arrives intact");
	free(big);
	free(got);
	socket_server_close(SS, OWNER, sid);
	close(fd);
	drain_events();
}

static _Atomic int FAKE_BACKLOG;
static int fake_backlog(uint32_t handle) {
	return handle == 77 || handle == 78 ? atomic_load(&FAKE_BACKLOG) : -1;
}

/* Sink stage: a read takes at most 2 bytes per frame the sink can still
 * take; a socket whose sink has a full backlog is not read until it drains
 * (the room is measured again when a socket gets a sink); a reset while
 * held back is reported at once. */
static void test_backpressure_sink(void) {
	socket_server_limits(SS, SOCKET_MAX_UNSENT_DEFAULT, fake_backlog);
	int fd = raw_connect(PORT);
	int sid = accept_one(LID);
	atomic_store(&FAKE_BACKLOG, 1000); /* room for 24 frames: reads of at most 48 bytes */
	socket_server_sink(SS, sid, 77);
	char line[1000];
	memset(line, 'x', sizeof(line));
	raw_write_all(fd, line, sizeof(line));
	size_t got = 0, biggest = 0;
	uint64_t deadline = now_ms() + WAIT_MS;
	while (got < sizeof(line) && now_ms() < deadline) {
		struct rec *r = wait_event(SOCKET_EV_DATA, sid, 50);
		if (r) {
			got += r->size;
			biggest = r->size > biggest ? r->size : biggest;
		}
		rec_free(r);
	}
	printf("# %zu bytes in reads of at most %zu\n", got, biggest);
	CHECK(got == sizeof(line) && biggest <= 48, "a read takes at most 2 bytes per frame the sink can still take");
	atomic_store(&FAKE_BACKLOG, 1024);
	socket_server_sink(SS, sid, 78);
	raw_write_all(fd, "full", 4);
	CHECK(!got_event(SOCKET_EV_DATA, sid, 200), "a socket whose sink has a full backlog is not read");
	atomic_store(&FAKE_BACKLOG, 0);
	char buf[64];
	CHECK(gather(sid, buf, 4, WAIT_MS, NULL) == 4 && memcmp(buf, "full", 4) == 0,
	      "it is read again once the sink's backlog drops (polled)");
	atomic_store(&FAKE_BACKLOG, 5000);
	socket_server_sink(SS, sid, 77);
	drain_events();
	/* reset by the peer while held back */
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	struct rec *r = wait_event(SOCKET_EV_ERROR, sid, 1000);
	CHECK(r != NULL, "a held-back socket whose peer resets is closed at once with ERROR");
	rec_free(r);
	socket_server_limits(SS, SOCKET_MAX_UNSENT_DEFAULT, NULL);
	socket_server_close(SS, OWNER, sid);
	drain_events();
}

/* The unsent cap closes a connection whose peer does not read. */
static void test_unsent_cap(void) {
	socket_server_limits(SS, 256 * 1024, NULL);
	int fd = raw_connect(PORT);
	int sid = accept_one(LID);
	char *chunk = malloc(64 * 1024);
	memset(chunk, 'u', 64 * 1024);
	int rc = 0, sends = 0;
	for (; sends < 4096 && rc == 0; sends++)
		rc = send_copy(sid, chunk, 64 * 1024, false);
	CHECK(rc == -1, "a send past socket_max_unsent fails");
	struct rec *r = wait_event(SOCKET_EV_ERROR, sid, WAIT_MS);
	if (r)
		printf("# %s\n", r->data);
	CHECK(r && strstr(r->data, "unsent output to 127.0.0.1:") &&
	          strstr(r->data, "over socket_max_unsent (262144 bytes)"),
	      "the owner gets ERROR naming the peer and the cap");
	rec_free(r);
	CHECK(send_copy(sid, "x", 1, false) == -1, "later sends fail");
	CHECK(raw_drain_to_eof(fd, WAIT_MS), "the peer is disconnected");
	socket_server_limits(SS, SOCKET_MAX_UNSENT_DEFAULT, NULL);
	free(chunk);
	close(fd);
	drain_events();
}

static void test_many(void) {
	enum { N = 200 };
	int fds[N], ids[N];
	bool ok = true;
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(PORT);
		ids[i] = accept_one(LID);
		ok = ok && fds[i] >= 0 && ids[i] > 0;
	}
	CHECK(ok, "200 concurrent connections accepted");
	for (int i = 0; i < N; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "conn %d", i);
		raw_write_all(fds[i], msg, (size_t)len);
	}
	for (int i = 0; ok && i < N; i++) {
		char msg[32], buf[32];
		int len = snprintf(msg, sizeof(msg), "conn %d", i);
		size_t n = gather(ids[i], buf, (size_t)len, WAIT_MS, NULL);
		ok = n == (size_t)len && memcmp(buf, msg, (size_t)len) == 0;
		send_copy(ids[i], buf, n, false);
	}
	CHECK(ok, "each of 200 connections delivers its own data");
	for (int i = 0; ok && i < N; i++) {
		char msg[32], buf[32];
		int len = snprintf(msg, sizeof(msg), "conn %d", i);
		ok = raw_read(fds[i], buf, (size_t)len, WAIT_MS) == (size_t)len && memcmp(buf, msg, (size_t)len) == 0;
	}
	CHECK(ok, "each of 200 connections receives its own reply");
	for (int i = 0; i < N; i++) {
		close(fds[i]);
		socket_server_close(SS, OWNER, ids[i]);
	}
	usleep(100 * 1000);
	drain_events();
}

static void test_udp(void) {
	int raw = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	bind(raw, (struct sockaddr *)&a, sizeof(a));
	getsockname(raw, (struct sockaddr *)&a, &len);
	int rawport = ntohs(a.sin_port);

	int uid = socket_server_udp_dial(SS, OWNER, "127.0.0.1", rawport);
	CHECK(uid > 0, "udp_dial returns an id");
	CHECK(send_copy(uid, "ping", 4, false) == 0, "send on a dialed UDP socket goes to its peer");
	char buf[128];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	struct pollfd pfd = {raw, POLLIN, 0};
	ssize_t n = poll(&pfd, 1, WAIT_MS) > 0 ? recvfrom(raw, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen) : -1;
	CHECK(n == 4 && memcmp(buf, "ping", 4) == 0, "the peer receives the datagram");
	sendto(raw, "pong!", 5, 0, (struct sockaddr *)&from, flen);
	struct rec *r = wait_event(SOCKET_EV_UDP, uid, WAIT_MS);
	CHECK(r && r->ud == 5 && memcmp(r->data, "pong!", 5) == 0 && r->size == 5 + 7,
	      "UDP event: payload followed by a 7-byte IPv4 address");
	char ip[64];
	int port = 0;
	CHECK(r && socket_udp_address_size(r->data + r->ud, r->size - (size_t)r->ud) == 7 &&
	          socket_udp_address_decode(r->data + r->ud, 7, ip, sizeof(ip), &port) == 0 &&
	          strcmp(ip, "127.0.0.1") == 0 && port == rawport,
	      "the address decodes to the sender's ip and port");
	if (r) {
		char *m = malloc(3);
		memcpy(m, "via", 3);
		struct socket_sendbuffer b = {uid, SOCKET_BUFFER_MEMORY, m, 3};
		CHECK(socket_server_udp_send(SS, r->data + r->ud, 7, &b) == 0, "sendto an address blob");
		n = poll(&pfd, 1, WAIT_MS) > 0 ? recv(raw, buf, sizeof(buf), 0) : -1;
		CHECK(n == 3 && memcmp(buf, "via", 3) == 0, "the datagram sent to the blob arrives");
	}
	rec_free(r);
	char v6[19] = {2};
	char *m = malloc(1);
	struct socket_sendbuffer b = {uid, SOCKET_BUFFER_MEMORY, m, 1};
	CHECK(socket_server_udp_send(SS, v6, 19, &b) == -2, "sendto an IPv6 address on an IPv4 socket is refused");
	char bad[3] = {9, 0, 0};
	m = malloc(1);
	b = (struct socket_sendbuffer){uid, SOCKET_BUFFER_MEMORY, m, 1};
	CHECK(socket_server_udp_send(SS, bad, 3, &b) == -1, "a malformed address blob is refused");

	/* a bound UDP socket receiving from the raw one, then udp_connect */
	int sid = socket_server_udp(SS, OWNER, "127.0.0.1", 0);
	CHECK(sid > 0, "udp bound to 127.0.0.1:0");
	CHECK(socket_server_udp_connect(SS, sid, "127.0.0.1", rawport) == 0, "udp_connect sets the default peer");
	CHECK(send_copy(sid, "hello", 5, false) == 0, "send to the default peer");
	n = poll(&pfd, 1, WAIT_MS) > 0 ? recvfrom(raw, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen) : -1;
	CHECK(n == 5, "datagram to the udp_connect peer arrives");
	/* 60000-byte datagram whole */
	char *bigd = malloc(60000);
	fill_pattern(bigd, 60000, 9);
	sendto(raw, bigd, 60000, 0, (struct sockaddr *)&from, flen);
	r = wait_event(SOCKET_EV_UDP, sid, WAIT_MS);
	CHECK(r && r->ud == 60000 && check_pattern(r->data, 60000, 9), "a 60000-byte datagram arrives whole");
	rec_free(r);
	free(bigd);
	int tcp = socket_server_connect(SS, OWNER, "127.0.0.1", PORT);
	CHECK(socket_server_udp_connect(SS, tcp, "127.0.0.1", 1) == -1, "udp_connect on a TCP socket fails");
	socket_server_close(SS, OWNER, tcp);
	socket_server_close(SS, OWNER, sid);
	socket_server_close(SS, OWNER, uid);
	close(raw);
	usleep(50 * 1000);
	drain_events();
}

static void test_ipv6(void) {
	int probe = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	bool have = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (probe >= 0)
		close(probe);
	if (!have) {
		printf("SKIP ipv6: ::1 not available\n");
		return;
	}
	int port = 0;
	int lid = make_listener("::1", &port);
	CHECK(lid > 0, "listen on [::1]:0");
	int cid = socket_server_connect(SS, OWNER, "::1", port);
	struct rec *r = wait_event(SOCKET_EV_ACCEPT, lid, WAIT_MS);
	CHECK(r && strncmp(r->data, "::1:", 4) == 0, "IPv6 accept text is \"::1:port\" without brackets");
	int sid = r ? r->ud : -1;
	rec_free(r);
	r = wait_event(SOCKET_EV_CONNECT, cid, WAIT_MS);
	CHECK(r && strcmp(r->data, "::1") == 0, "IPv6 connect reports the peer ip ::1");
	rec_free(r);
	socket_server_start(SS, OWNER, sid);
	send_copy(cid, "six", 3, false);
	char buf[4];
	CHECK(gather(sid, buf, 3, WAIT_MS, NULL) == 3 && memcmp(buf, "six", 3) == 0, "data over IPv6");
	int u = socket_server_udp(SS, OWNER, "::1", 0);
	CHECK(u > 0, "UDP socket on ::1");
	socket_server_close(SS, OWNER, u);
	socket_server_close(SS, OWNER, cid);
	socket_server_close(SS, OWNER, sid);
	socket_server_close(SS, OWNER, lid);
	usleep(50 * 1000);
	drain_events();
}

static void test_bind_and_info(void) {
	int p[2];
	if (pipe(p) != 0)
		return;
	int bid = socket_server_bind(SS, OWNER, p[0]);
	struct rec *r = wait_event(SOCKET_EV_CONNECT, bid, WAIT_MS);
	CHECK(r && strcmp(r->data, "binding") == 0, "bind of an OS fd reports CONNECT \"binding\"");
	rec_free(r);
	CHECK(write(p[1], "in", 2) == 2, "write to the pipe");
	char buf[4];
	CHECK(gather(bid, buf, 2, WAIT_MS, NULL) == 2 && memcmp(buf, "in", 2) == 0, "bound fd is read");
	close(p[1]);
	CHECK(got_event(SOCKET_EV_CLOSE, bid, WAIT_MS), "EOF on the bound fd reports CLOSE");
	socket_server_close(SS, OWNER, bid);
	usleep(20 * 1000);
	CHECK(fcntl(p[0], F_GETFD) == 0, "a bound fd is not closed by the socket server");
	close(p[0]);

	struct socket_info *si = socket_server_info(SS);
	bool found = false;
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%d", PORT);
	for (struct socket_info *i = si; i; i = i->next)
		if (i->id == LID && i->type == SOCKET_INFO_LISTEN && strcmp(i->name, want) == 0 && i->read > 0)
			found = true;
	CHECK(found, "info lists the listen socket with its address and accept count");
	socket_info_release(si);
}

static void test_bad_args(void) {
	CHECK(socket_server_listen(SS, OWNER, "127.0.0.1", 70000, 8) == -1, "listen on port 70000 fails");
	CHECK(socket_server_listen(SS, OWNER, "not an address", 0, 8) == -1, "listen on a bad host fails");
	CHECK(socket_server_udp_connect(SS, 0, "127.0.0.1", 1) == -1, "udp_connect on id 0 fails");
	CHECK(socket_server_bind(SS, OWNER, -1) == -1, "bind of fd -1 fails");
	char longhost[400];
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	CHECK(socket_server_connect(SS, OWNER, longhost, 80) == -1, "a host name over 255 bytes is refused");
	struct socket_sendbuffer b = {-5, SOCKET_BUFFER_RAWPOINTER, "x", 1};
	CHECK(socket_server_send(SS, &b) == -1, "send on a negative id fails");
	b.type = SOCKET_BUFFER_OBJECT;
	b.id = LID;
	CHECK(socket_server_send(SS, &b) == -1, "object send without an interface fails");
}

int main(void) {
	SS = socket_server_create(NULL);
	CHECK(SS != NULL, "socket server created");
	if (SS == NULL)
		UNIT_EXIT();
	pthread_create(&POLL_THREAD, NULL, poll_main, NULL);
	test_listen_connect();
	test_refused();
	test_halfclose_and_reset();
	test_queues_and_warning();
	test_pause_resume();
	test_backpressure_inflight();
	test_backpressure_sink();
	test_unsent_cap();
	test_many();
	test_udp();
	test_ipv6();
	test_bind_and_info();
	test_bad_args();

	uint64_t t0 = now_ms();
	socket_server_exit(SS);
	pthread_join(POLL_THREAD, NULL);
	uint64_t dt = now_ms() - t0;
	CHECK(dt < 50, "exit makes the poll loop return within 50 ms");
	drain_events();
	socket_server_release(SS);
	UNIT_EXIT();
}
