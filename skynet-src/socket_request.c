/*
 * socket_request.c -- the socket server functions services call, from any
 * thread: sends (written straight to the fd when nothing is queued),
 * listen/connect/bind/UDP setup, the requests posted to the socket thread,
 * and the statistics snapshot.  See socket_internal.h for the locking rules.
 */
#include "socket_internal.h"
#include "skynet_malloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void mem_free(void *p) {
	skynet_free(p);
}

void ss_post_request(struct socket_server *ss, struct request *req) {
	for (;;) {
		ssize_t n = write(ss->ctrl_wfd, req, sizeof(*req));
		if (n == (ssize_t)sizeof(*req))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		fprintf(stderr, "socket-server: request '%c' lost: %s\n", req->type,
		        n < 0 ? strerror(errno) : "short write");
		return;
	}
}

static void post(struct socket_server *ss, char type, int id, int fd, int arg, uintptr_t opaque) {
	struct request req;
	memset(&req, 0, sizeof(req));
	req.type = type;
	req.id = id;
	req.fd = fd;
	req.arg = arg;
	req.opaque = opaque;
	ss_post_request(ss, &req);
}

/* Would queueing `left` more bytes take s past the unsent cap?  UDP is not
 * capped (its queue only grows while the kernel refuses datagrams).  Lock
 * held. */
static bool over_cap(const struct socket_server *ss, const struct socket *s, size_t left) {
	size_t max = atomic_load_explicit(&ss->max_unsent, memory_order_relaxed);
	if (max == 0 || is_udp(s))
		return false;
	size_t cost = s->wb_size + left + (s->wb_count + 1) * WBUF_COST;
	return cost > max;
}

/* Every send.  When nothing is queued the caller writes to the fd itself
 * (socket_internal.h says why that is safe); what the kernel does not take
 * is queued and the socket thread finishes it.  `to` is the UDP
 * destination (NULL: the default peer).  Returns 0, -1 (invalid socket; the
 * buffer is released) or -2 (UDP address of the other family). */
static int send_buffer(struct socket_server *ss, const struct socket_sendbuffer *buf, bool low,
                       const union sockaddr_all *to, socklen_t tolen) {
	int id = buf->id;
	const char *ptr;
	size_t sz;
	void *obj = NULL;
	void (*free_fn)(void *) = NULL;
	switch (buf->type) {
	case SOCKET_BUFFER_MEMORY:
		ptr = buf->buffer;
		sz = buf->sz;
		obj = (void *)buf->buffer;
		free_fn = mem_free;
		break;
	case SOCKET_BUFFER_OBJECT:
		if (!ss->has_soi)
			return -1;
		ptr = ss->soi.buffer(buf->buffer);
		sz = ss->soi.size(buf->buffer);
		obj = (void *)buf->buffer;
		free_fn = ss->soi.free;
		break;
	case SOCKET_BUFFER_RAWPOINTER:
		ptr = buf->buffer;
		sz = buf->sz;
		break;
	default:
		return -1;
	}
	if (id <= 0)
		goto invalid;
	struct socket *s = SLOT(ss, id);
	if (!sid_is(s, id))
		goto invalid;
	slock(s);
	int st = atomic_load_explicit(&s->state, memory_order_relaxed);
	if (!sid_is(s, id) || s->closing || s->write_closed ||
	    (st != ST_CONNECTED && st != ST_CONNECTING && st != ST_HALFCLOSE_READ && st != ST_BIND)) {
		sunlock(s);
		goto invalid;
	}
	if (is_udp(s)) {
		if (to == NULL) {
			to = &s->peer;
			tolen = s->peerlen;
		}
		if (tolen == 0) {
			sunlock(s);
			goto invalid;
		}
		int family = s->protocol == PROTO_UDP6 ? AF_INET6 : AF_INET;
		if (to->s.sa_family != family) {
			sunlock(s);
			if (obj)
				free_fn(obj);
			return -2;
		}
	} else if (to != NULL || sz == 0) {
		sunlock(s);
		if (obj)
			free_fn(obj);
		return to != NULL ? -1 : 0;
	}
	size_t done = 0;
	if (st != ST_CONNECTING && queues_empty(s)) {
		ssize_t n = ss_write_some(ss, s, ptr, sz, to, tolen);
		/* A fatal error is left for the socket thread to find and report:
		 * it sees the socket writable at once and retries. */
		if (n > 0)
			done = (size_t)n;
		if (done == sz) {
			sunlock(s);
			if (obj)
				free_fn(obj);
			return 0;
		}
	}
	size_t left = sz - done;
	if (over_cap(ss, s, left)) {
		/* The peer does not take what we send: drop the queues now (that
		 * is the memory the cap protects), refuse further sends, and let
		 * the socket thread close the socket and tell the owner. */
		ss_wb_list_free(&s->high);
		ss_wb_list_free(&s->low);
		s->wb_size = 0;
		s->wb_count = 0;
		s->write_closed = true;
		ss_ep_update(ss, s);
		uintptr_t opaque = s->opaque;
		sunlock(s);
		post(ss, 'K', id, -1, CLOSE_OVERFLOW, opaque);
		goto invalid;
	}
	struct wbuf *wb;
	if (obj) {
		wb = skynet_malloc(sizeof(*wb));
		wb->ptr = ptr + done;
		wb->obj = obj;
		wb->free_fn = free_fn;
	} else {
		wb = skynet_malloc(sizeof(*wb) + left);
		memcpy(wb + 1, ptr + done, left);
		wb->ptr = (const char *)(wb + 1);
		wb->obj = NULL;
		wb->free_fn = NULL;
	}
	wb->sz = left;
	wb->tolen = 0;
	if (is_udp(s)) {
		wb->tolen = tolen;
		memcpy(&wb->to, to, tolen);
	}
	/* Both queues empty: the buffer goes to the high queue whatever its
	 * priority (upstream does the same). */
	if (low && !queues_empty(s))
		wb_append(&s->low, wb);
	else
		wb_append(&s->high, wb);
	s->wb_size += left;
	s->wb_count++;
	ss_ep_update(ss, s);
	bool post_warning = false;
	if (s->wb_size >= WARNING_SIZE && s->wb_size >= s->warn_level) {
		s->warn_level = s->warn_level == 0 ? WARNING_SIZE * 2 : s->warn_level * 2;
		post_warning = s->warn_pending == 0;
		s->warn_pending = (int)((s->wb_size + 1023) / 1024);
	}
	sunlock(s);
	if (post_warning) {
		struct request req;
		memset(&req, 0, sizeof(req));
		req.type = 'W';
		req.id = id;
		ss_post_request(ss, &req);
	}
	return 0;
invalid:
	if (obj)
		free_fn(obj);
	return -1;
}

int socket_server_send(struct socket_server *ss, const struct socket_sendbuffer *buf) {
	return send_buffer(ss, buf, false, NULL, 0);
}

int socket_server_send_lowpriority(struct socket_server *ss, const struct socket_sendbuffer *buf) {
	return send_buffer(ss, buf, true, NULL, 0);
}

void socket_server_exit(struct socket_server *ss) {
	post(ss, 'X', 0, -1, 0, 0);
}

int socket_server_listen(struct socket_server *ss, uintptr_t opaque, const char *host, int port,
                         int backlog) {
	int family;
	int fd = sockaddr_bind(host, port, SOCK_STREAM, &family);
	if (fd < 0)
		return -1;
	if (listen(fd, backlog > 0 ? backlog : 32) != 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	int id = ss_reserve_id(ss);
	if (id < 0) {
		close(fd);
		errno = EMFILE;
		return -1;
	}
	post(ss, 'L', id, fd, 0, opaque);
	return id;
}

static void post_connect_error(struct socket_server *ss, int id, uintptr_t opaque, const char *text) {
	struct request req;
	memset(&req, 0, sizeof(req));
	req.type = 'O';
	req.id = id;
	req.opaque = opaque;
	snprintf(req.text, sizeof(req.text), "%s", text);
	ss_post_request(ss, &req);
}

/* Resolution and the non-blocking connect() run on the caller's thread, so
 * a slow DNS lookup stalls one service rather than the whole node's I/O.
 * The socket thread finishes the connect when the fd becomes writable. */
int socket_server_connect(struct socket_server *ss, uintptr_t opaque, const char *host, int port) {
	if (host == NULL || strlen(host) > 255)
		return -1;
	int id = ss_reserve_id(ss);
	if (id < 0)
		return -1;
	struct addrinfo *list;
	int gai = sockaddr_resolve(host, port, SOCK_STREAM, AF_UNSPEC, false, &list);
	if (gai != 0) {
		post_connect_error(ss, id, opaque, gai_strerror(gai));
		return id;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		sockfd_keepalive(fd);
		sockfd_nodelay(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(list);
	if (fd < 0) {
		post_connect_error(ss, id, opaque, strerror(err));
		return id;
	}
	struct socket *s = SLOT(ss, id);
	slock(s);
	s->fd = fd;
	s->opaque = opaque;
	s->protocol = PROTO_TCP;
	s->reading = true;
	sset_state(s, ST_CONNECTING);
	err = ss_ep_update(ss, s);
	if (err) {
		close(fd);
		s->fd = -1;
		sset_state(s, ST_RESERVE);
	}
	sunlock(s);
	if (err)
		post_connect_error(ss, id, opaque, strerror(err));
	return id;
}

int socket_server_bind(struct socket_server *ss, uintptr_t opaque, int fd) {
	if (fd < 0)
		return -1;
	int id = ss_reserve_id(ss);
	if (id < 0)
		return -1;
	post(ss, 'B', id, fd, 0, opaque);
	return id;
}

void socket_server_start(struct socket_server *ss, uintptr_t opaque, int id) {
	post(ss, 'R', id, -1, 0, opaque);
}

void socket_server_pause(struct socket_server *ss, uintptr_t opaque, int id) {
	post(ss, 'S', id, -1, 0, opaque);
}

/* Refuses further sends at once: the close itself runs later on the socket
 * thread, and a write issued after close() returned must not slip in. */
static void refuse_writes(struct socket_server *ss, int id) {
	if (id <= 0)
		return;
	struct socket *s = SLOT(ss, id);
	slock(s);
	if (sid_is(s, id))
		s->write_closed = true;
	sunlock(s);
}

void socket_server_consumed(struct socket_server *ss, int id, size_t size) {
	if (id <= 0)
		return;
	struct socket *s = SLOT(ss, id);
	if (!sid_is(s, id))
		return;
	/* Never below 0: the counts were reset when the socket changed owner,
	 * and the old owner may still be dispatching its share. */
	int n = atomic_load(&s->inflight);
	while (n > 0 && !atomic_compare_exchange_weak(&s->inflight, &n, n - 1))
		;
	size_t b = atomic_load(&s->inflight_bytes);
	while (b > 0 && !atomic_compare_exchange_weak(&s->inflight_bytes, &b, b > size ? b - size : 0))
		;
	/* seq_cst after the subtraction: see throttle_socket */
	if (atomic_load(&s->wake) && atomic_exchange(&s->wake, false))
		post(ss, 'Q', id, -1, 0, 0);
}

void socket_server_sink(struct socket_server *ss, int id, uint32_t sink) {
	if (id <= 0)
		return;
	struct socket *s = SLOT(ss, id);
	if (sid_is(s, id))
		atomic_store(&s->sink, sink);
}

void socket_server_close(struct socket_server *ss, uintptr_t opaque, int id) {
	refuse_writes(ss, id);
	post(ss, 'K', id, -1, 0, opaque);
}

void socket_server_shutdown(struct socket_server *ss, uintptr_t opaque, int id) {
	refuse_writes(ss, id);
	post(ss, 'K', id, -1, 1, opaque);
}

void socket_server_nodelay(struct socket_server *ss, int id) {
	if (id <= 0)
		return;
	struct socket *s = SLOT(ss, id);
	slock(s);
	int st = atomic_load_explicit(&s->state, memory_order_relaxed);
	if (sid_is(s, id) && s->fd >= 0 && s->protocol == PROTO_TCP && st != ST_INVALID)
		sockfd_nodelay(s->fd);
	sunlock(s);
}

/* Sets up a UDP socket on the calling thread: no event announces it, and it
 * can be used as soon as the id is returned. */
static int udp_adopt(struct socket_server *ss, uintptr_t opaque, int fd, int family,
                     const struct sockaddr *peer, socklen_t peerlen) {
	int id = ss_reserve_id(ss);
	if (id < 0) {
		close(fd);
		return -1;
	}
	struct socket *s = SLOT(ss, id);
	slock(s);
	s->fd = fd;
	s->opaque = opaque;
	s->protocol = family == AF_INET6 ? PROTO_UDP6 : PROTO_UDP4;
	s->reading = true;
	if (peer && peerlen <= sizeof(s->peer)) {
		memcpy(&s->peer, peer, peerlen);
		s->peerlen = peerlen;
	}
	sset_state(s, ST_CONNECTED);
	int err = ss_ep_update(ss, s);
	if (err) {
		close(fd);
		s->fd = -1;
		sset_state(s, ST_INVALID);
	}
	sunlock(s);
	return err ? -1 : id;
}

int socket_server_udp(struct socket_server *ss, uintptr_t opaque, const char *addr, int port) {
	int family = AF_INET;
	int fd;
	if ((addr && addr[0]) || port != 0)
		fd = sockaddr_bind(addr, port, SOCK_DGRAM, &family);
	else
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	return udp_adopt(ss, opaque, fd, family, NULL, 0);
}

int socket_server_udp_listen(struct socket_server *ss, uintptr_t opaque, const char *addr, int port) {
	return socket_server_udp(ss, opaque, addr, port);
}

int socket_server_udp_dial(struct socket_server *ss, uintptr_t opaque, const char *addr, int port) {
	struct addrinfo *list;
	if (addr == NULL || sockaddr_resolve(addr, port, SOCK_DGRAM, AF_UNSPEC, false, &list) != 0)
		return -1;
	int fd = socket(list->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int id = -1;
	if (fd >= 0)
		id = udp_adopt(ss, opaque, fd, list->ai_family, list->ai_addr, list->ai_addrlen);
	freeaddrinfo(list);
	return id;
}

int socket_server_udp_connect(struct socket_server *ss, int id, const char *addr, int port) {
	if (id <= 0 || addr == NULL)
		return -1;
	struct socket *s = SLOT(ss, id);
	if (!sid_is(s, id))
		return -1;
	slock(s);
	int family = s->protocol == PROTO_UDP6 ? AF_INET6 : AF_INET;
	bool ok = sid_is(s, id) && is_udp(s) && sget_state(s) == ST_CONNECTED;
	sunlock(s);
	if (!ok)
		return -1;
	struct addrinfo *list;
	if (sockaddr_resolve(addr, port, SOCK_DGRAM, family, false, &list) != 0)
		return -1;
	slock(s);
	ok = sid_is(s, id) && is_udp(s) && sget_state(s) == ST_CONNECTED &&
	     list->ai_addrlen <= sizeof(s->peer);
	if (ok) {
		memcpy(&s->peer, list->ai_addr, list->ai_addrlen);
		s->peerlen = list->ai_addrlen;
	}
	sunlock(s);
	freeaddrinfo(list);
	return ok ? 0 : -1;
}

int socket_server_udp_send(struct socket_server *ss, const char *address, size_t addrsz,
                           const struct socket_sendbuffer *buf) {
	union sockaddr_all to;
	socklen_t tolen = sockaddr_udp_decode(address, addrsz, &to);
	if (tolen == 0) {
		if (buf->type == SOCKET_BUFFER_MEMORY)
			skynet_free((void *)buf->buffer);
		else if (buf->type == SOCKET_BUFFER_OBJECT && ss->has_soi)
			ss->soi.free((void *)buf->buffer);
		return -1;
	}
	return send_buffer(ss, buf, false, &to, tolen);
}

struct socket_info *socket_info_create(struct socket_info *last) {
	struct socket_info *si = skynet_calloc(1, sizeof(*si));
	si->next = last;
	return si;
}

void socket_info_release(struct socket_info *si) {
	while (si) {
		struct socket_info *next = si->next;
		skynet_free(si);
		si = next;
	}
}

/* O(SOCKET_MAX): a diagnostic, not for hot paths. */
void socket_server_totals(struct socket_server *ss, uint64_t *rbytes, uint64_t *wbytes) {
	*rbytes = atomic_load_explicit(&ss->rbytes_total, memory_order_relaxed);
	*wbytes = atomic_load_explicit(&ss->wbytes_total, memory_order_relaxed);
}

struct socket_info *socket_server_info(struct socket_server *ss) {
	struct socket_info *list = NULL;
	for (int i = 0; i < SOCKET_MAX; i++) {
		struct socket *s = &ss->slot[i];
		int st = atomic_load_explicit(&s->state, memory_order_relaxed);
		if (st == ST_INVALID || st == ST_RESERVE)
			continue;
		slock(s);
		st = atomic_load_explicit(&s->state, memory_order_relaxed);
		if (st == ST_INVALID || st == ST_RESERVE) {
			sunlock(s);
			continue;
		}
		struct socket_info *si = socket_info_create(list);
		list = si;
		si->id = atomic_load_explicit(&s->id, memory_order_relaxed);
		si->opaque = s->opaque;
		si->read = atomic_load_explicit(&s->rbytes, memory_order_relaxed);
		si->write = atomic_load_explicit(&s->wbytes, memory_order_relaxed);
		si->rtime = atomic_load_explicit(&s->rtime, memory_order_relaxed);
		si->wtime = atomic_load_explicit(&s->wtime, memory_order_relaxed);
		si->wbuffer = (int64_t)s->wb_size;
		si->reading = s->reading && s->throttle == 0;
		si->writing = !queues_empty(s);
		union sockaddr_all u;
		socklen_t len = sizeof(u);
		switch (st) {
		case ST_PLISTEN:
		case ST_LISTEN:
			si->type = SOCKET_INFO_LISTEN;
			if (getsockname(s->fd, &u.s, &len) == 0)
				sockaddr_format(&u, si->name, sizeof(si->name), true);
			break;
		case ST_HALFCLOSE_READ:
		case ST_HALFCLOSE_WRITE:
			si->type = SOCKET_INFO_CLOSING;
			break;
		default:
			if (s->protocol == PROTO_FD) {
				si->type = SOCKET_INFO_BIND;
			} else if (is_udp(s)) {
				si->type = SOCKET_INFO_UDP;
				if (s->peerlen)
					sockaddr_format(&s->peer, si->name, sizeof(si->name), true);
			} else {
				si->type = SOCKET_INFO_TCP;
				if (getpeername(s->fd, &u.s, &len) == 0)
					sockaddr_format(&u, si->name, sizeof(si->name), true);
			}
			break;
		}
		sunlock(s);
	}
	return list;
}
