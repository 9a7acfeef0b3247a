/*
 * netload.c -- closed-loop TCP load generator for the `echo` and `gate`
 * benchmarks (bench/run.sh).  Loopback only.
 *
 *   netload -p PORT [-c CONNS] [-d SECONDS] [-w WARMUP] [-s BYTES]
 *           [-f] [-i INFLIGHT] [-n PREFIX]
 *   netload --free-port        prints a currently free 127.0.0.1 port
 *
 * Each of CONNS connections (TCP_NODELAY) sends a request of BYTES bytes
 * and waits for the same bytes back before it sends the next (with -i, up
 * to INFLIGHT requests are outstanding per connection, answered in order).
 * With -f every request and answer is a netpack frame: a 2-byte big-endian
 * length, then BYTES bytes.  Payloads carry the connection and a sequence
 * number, and every answer is compared with what was sent.
 *
 * Requests completed in the WARMUP seconds after the last connection is
 * up are not measured; those completed in the next SECONDS are.  Then all
 * connections are closed.  One metric a line on stdout:
 *   PREFIX_rps      completed requests per second in the measured window
 *   PREFIX_p50_us, PREFIX_p99_us, PREFIX_max_us   round-trip times
 *   PREFIX_reqs     requests completed in the window
 *   PREFIX_errors   lost connections and wrong answers (should be 0)
 * Exit status 0, or 1 if nothing could be measured.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_MAX 2000000 /* 1 us buckets up to 2 s */
#define RBUF_SIZE 65536  /* answers longer than this are an error */
#define INFLIGHT_MAX 64
#define SIZE_MAX_REQ 65535

struct conn {
	int fd;
	int index;
	int dead;
	uint64_t next_seq;                /* sequence number of the next request */
	int64_t sent_ns[INFLIGHT_MAX];    /* send times of outstanding requests (ring) */
	int out_head, outstanding;
	unsigned char *wbuf;              /* bytes to send */
	size_t wlen, woff;
	unsigned char *rbuf;              /* one answer being received */
	size_t rlen;
};

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int free_port(void) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("netload: free port");
		return 1;
	}
	printf("%d\n", ntohs(sa.sin_port));
	close(fd);
	return 0;
}

static size_t SIZE = 64, WIRE; /* payload bytes; bytes on the wire per request */
static int FRAMED;
enum { MODE_ECHO, MODE_HTTP, MODE_WS };
static int MODE = MODE_ECHO;
static const char *PATH = "/bench";
static char HTTP_REQ[512];

/* The expected bytes of request `seq` of connection `index`. */
static void fill(unsigned char *p, int index, uint64_t seq) {
	unsigned char *body = p;
	if (MODE == MODE_HTTP) {
		memcpy(p, HTTP_REQ, WIRE);
		return;
	}
	if (MODE == MODE_WS) {
		/* masked text frame: header, key, payload XOR key; the payload is
		 * printable ASCII so it is valid UTF-8 */
		size_t h = 2;
		p[0] = 0x81;
		if (SIZE < 126) {
			p[1] = (unsigned char)(0x80 | SIZE);
		} else {
			p[1] = 0x80 | 126;
			p[2] = (unsigned char)(SIZE >> 8);
			p[3] = (unsigned char)SIZE;
			h = 4;
		}
		unsigned char key[4] = {(unsigned char)seq, (unsigned char)index, 0x5a, 0xa5};
		memcpy(p + h, key, 4);
		for (size_t i = 0; i < SIZE; i++)
			p[h + 4 + i] = (unsigned char)('a' + (seq * 7 + (uint64_t)index + i) % 26) ^ key[i & 3];
		return;
	}
	if (FRAMED) {
		p[0] = (unsigned char)(SIZE >> 8);
		p[1] = (unsigned char)SIZE;
		body = p + 2;
	}
	for (size_t i = 0; i < SIZE; i++)
		body[i] = (unsigned char)(seq * 131 + (uint64_t)index * 7 + i);
}

/* Length of the whole answer at the start of buf[0..n), 0 if it has not
 * all arrived, -1 if it is wrong.  For echo modes the answer is `expect`
 * itself; http and ws check what they can (status 200, the payload). */
static long answer_len(const unsigned char *buf, size_t n, int index, uint64_t seq, unsigned char *expect) {
	if (MODE == MODE_ECHO) {
		if (n < WIRE)
			return 0;
		fill(expect, index, seq);
		return memcmp(expect, buf, WIRE) == 0 ? (long)WIRE : -1;
	}
	if (MODE == MODE_HTTP) {
		const unsigned char *e = memmem(buf, n, "\r\n\r\n", 4);
		if (e == NULL)
			return n >= RBUF_SIZE ? -1 : 0;
		size_t head = (size_t)(e - buf) + 4;
		if (head < 12 || memcmp(buf, "HTTP/1.1 200", 12) != 0)
			return -1;
		const unsigned char *cl = memmem(buf, head, "content-length:", 15);
		if (cl == NULL)
			cl = memmem(buf, head, "Content-Length:", 15);
		if (cl == NULL)
			return -1;
		long body = strtol((const char *)cl + 15, NULL, 10);
		if (body < 0 || head + (size_t)body > RBUF_SIZE)
			return -1;
		return n >= head + (size_t)body ? (long)(head + (size_t)body) : 0;
	}
	/* ws: an unmasked text frame carrying the request's payload */
	if (n < 2)
		return 0;
	size_t h = 2, len = buf[1] & 0x7f;
	if (buf[0] != 0x81 || (buf[1] & 0x80) || len == 127)
		return -1;
	if (len == 126) {
		if (n < 4)
			return 0;
		len = (size_t)buf[2] << 8 | buf[3];
		h = 4;
	}
	if (len != SIZE)
		return -1;
	if (n < h + len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (buf[h + i] != (unsigned char)('a' + (seq * 7 + (uint64_t)index + i) % 26))
			return -1;
	return (long)(h + len);
}

/* RFC 6455 opening handshake on a blocking socket; 0 or -1. */
static int ws_handshake(int fd, int port) {
	char req[512];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	                 PATH, port);
	if (write(fd, req, (size_t)n) != n)
		return -1;
	char buf[1024];
	size_t got = 0;
	while (got < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + got, 1); /* byte by byte: no frame bytes swallowed */
		if (r <= 0)
			return -1;
		got++;
		if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
			return memcmp(buf, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
	}
	return -1;
}

static int flush_conn(struct conn *c) {
	while (c->woff < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	return 0;
}

/* Queues one request (its bytes appended to the write buffer). */
static void queue_request(struct conn *c, int inflight) {
	if (c->wlen + WIRE > WIRE * (size_t)inflight) {
		/* compact: only unsent bytes stay */
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	fill(c->wbuf + c->wlen, c->index, c->next_seq++);
	c->wlen += WIRE;
	c->sent_ns[(c->out_head + c->outstanding) % INFLIGHT_MAX] = now_ns();
	c->outstanding++;
}

static void usage(void) {
	fprintf(stderr, "usage: netload -p PORT [-c CONNS] [-d SECONDS] [-w WARMUP] [-s BYTES] [-f] [-i INFLIGHT] "
	                "[-n PREFIX] [-m echo|http|ws] [-u PATH]\n       netload --free-port\n");
	exit(2);
}

int main(int argc, char **argv) {
	int port = 0, nconn = 1, inflight = 1;
	double secs = 3, warm = 0.5;
	const char *prefix = "netload";
	if (argc == 2 && strcmp(argv[1], "--free-port") == 0)
		return free_port();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-f") == 0) {
			FRAMED = 1;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "-p") == 0)
			port = atoi(v);
		else if (strcmp(a, "-m") == 0)
			MODE = strcmp(v, "http") == 0 ? MODE_HTTP : strcmp(v, "ws") == 0 ? MODE_WS : MODE_ECHO;
		else if (strcmp(a, "-u") == 0)
			PATH = v;
		else if (strcmp(a, "-c") == 0)
			nconn = atoi(v);
		else if (strcmp(a, "-d") == 0)
			secs = atof(v);
		else if (strcmp(a, "-w") == 0)
			warm = atof(v);
		else if (strcmp(a, "-s") == 0)
			SIZE = (size_t)atol(v);
		else if (strcmp(a, "-i") == 0)
			inflight = atoi(v);
		else if (strcmp(a, "-n") == 0)
			prefix = v;
		else
			usage();
	}
	if (port <= 0 || port > 65535 || nconn < 1 || nconn > 10000 || SIZE < 16 || SIZE > SIZE_MAX_REQ ||
	    inflight < 1 || inflight > INFLIGHT_MAX || secs <= 0)
		usage();
	WIRE = SIZE + (FRAMED ? 2 : 0);
	if (MODE == MODE_HTTP) {
		WIRE = (size_t)snprintf(HTTP_REQ, sizeof(HTTP_REQ), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", PATH, port);
	} else if (MODE == MODE_WS) {
		WIRE = SIZE + (SIZE < 126 ? 6 : 8);
	}

	struct conn *conns = calloc((size_t)nconn, sizeof(*conns));
	uint32_t *hist = calloc(HIST_MAX + 1, sizeof(uint32_t));
	int ep = epoll_create1(0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int i = 0; i < nconn; i++) {
		struct conn *c = &conns[i];
		c->index = i;
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		int tries = 0;
		while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (++tries > 100) {
				fprintf(stderr, "netload: connect 127.0.0.1:%d: %s\n", port, strerror(errno));
				return 1;
			}
			close(c->fd);
			usleep(50000);
			c->fd = socket(AF_INET, SOCK_STREAM, 0);
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		if (MODE == MODE_WS && ws_handshake(c->fd, port) < 0) {
			fprintf(stderr, "netload: websocket handshake on %s failed\n", PATH);
			return 1;
		}
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		c->wbuf = malloc(WIRE * (size_t)inflight);
		c->rbuf = malloc(RBUF_SIZE);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	unsigned char *expect = malloc(WIRE > RBUF_SIZE ? WIRE : RBUF_SIZE);
	int64_t t_start = now_ns();
	int64_t t_measure = t_start + (int64_t)(warm * 1e9);
	int64_t t_end = t_measure + (int64_t)(secs * 1e9);
	uint64_t measured = 0, errors = 0;
	uint64_t maxlat = 0;
	int alive = nconn;
	for (int i = 0; i < nconn; i++) {
		for (int k = 0; k < inflight; k++)
			queue_request(&conns[i], inflight);
		if (flush_conn(&conns[i]) < 0) {
			conns[i].dead = 1;
			errors++;
			alive--;
		}
	}
	struct epoll_event evs[256];
	/* After t_end no new request is sent; the outstanding ones are awaited
	 * (for up to a second) so that no connection closes with data in
	 * flight, which the server would see as a reset. */
	int64_t t_drain = t_end + 1000000000;
	uint64_t outstanding = (uint64_t)nconn * (uint64_t)inflight;
	while (alive > 0) {
		int64_t now = now_ns();
		if (now >= t_drain || (now >= t_end && outstanding == 0))
			break;
		int64_t until = now < t_end ? t_end : t_drain;
		int n = epoll_wait(ep, evs, 256, (int)((until - now) / 1000000) + 1);
		for (int e = 0; e < n; e++) {
			struct conn *c = evs[e].data.ptr;
			if (c->dead)
				continue;
			if (evs[e].events & EPOLLOUT) {
				if (flush_conn(c) < 0)
					goto lost;
			}
			for (;;) {
				if (c->rlen == RBUF_SIZE) {
					errors++;
					goto lost;
				}
				ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen);
				if (r < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					goto lost;
				}
				if (r == 0)
					goto lost;
				c->rlen += (size_t)r;
			answer:;
				uint64_t seq = c->next_seq - (uint64_t)c->outstanding;
				long alen = answer_len(c->rbuf, c->rlen, c->index, seq, expect);
				if (alen == 0)
					continue;
				/* one whole answer */
				int64_t t = now_ns();
				if (alen < 0 || c->outstanding == 0) {
					errors++;
					goto lost;
				}
				int64_t lat = (t - c->sent_ns[c->out_head]) / 1000;
				c->out_head = (c->out_head + 1) % INFLIGHT_MAX;
				c->outstanding--;
				outstanding--;
				memmove(c->rbuf, c->rbuf + alen, c->rlen - (size_t)alen);
				c->rlen -= (size_t)alen;
				if (t >= t_measure && t < t_end) {
					measured++;
					hist[lat < HIST_MAX ? lat : HIST_MAX]++;
					if ((uint64_t)lat > maxlat)
						maxlat = (uint64_t)lat;
				}
				if (t < t_end) {
					queue_request(c, inflight);
					outstanding++;
					if (flush_conn(c) < 0)
						goto lost;
				}
				if (c->rlen > 0 && c->outstanding > 0)
					goto answer; /* several answers in one read */
			}
			continue;
		lost:
			c->dead = 1;
			errors++;
			alive--;
			outstanding -= (uint64_t)c->outstanding;
		}
	}
	for (int i = 0; i < nconn; i++)
		close(conns[i].fd);
	double window = secs;
	if (measured == 0) {
		fprintf(stderr, "netload: no request completed in the measured window (errors %llu)\n",
		        (unsigned long long)errors);
		printf("%s_errors %llu count\n", prefix, (unsigned long long)errors);
		return 1;
	}
	uint64_t p50 = 0, p99 = 0, acc = 0;
	int got50 = 0;
	for (uint64_t us = 0; us <= HIST_MAX; us++) {
		acc += hist[us];
		if (!got50 && acc * 2 >= measured) {
			p50 = us;
			got50 = 1;
		}
		if (acc * 100 >= measured * 99) {
			p99 = us;
			break;
		}
	}
	if (FRAMED)
		printf("%s_frames_per_s %.0f frames/s\n", prefix, (double)measured / window);
	else if (MODE == MODE_WS)
		printf("%s_msgs_per_s %.0f msg/s\n", prefix, (double)measured / window);
	else
		printf("%s_rps %.0f req/s\n", prefix, (double)measured / window);
	printf("%s_p50_us %llu us\n", prefix, (unsigned long long)p50);
	printf("%s_p99_us %llu us\n", prefix, (unsigned long long)p99);
	printf("%s_max_us %llu us\n", prefix, (unsigned long long)maxlat);
	printf("%s_reqs %llu count\n", prefix, (unsigned long long)measured);
	printf("%s_errors %llu count\n", prefix, (unsigned long long)errors);
	return 0;
}
