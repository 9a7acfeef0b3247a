/*
 * socket_server.c -- the socket thread's side of the socket server: the
 * poll loop, the requests posted by services, reading, accepting,
 * finishing connects, flushing write queues, closing.  The functions
 * services call are in socket_request.c; the threading rules for both are
 * at the top of socket_internal.h.
 *
 * Platform: Linux epoll, level-triggered.  epoll is touched in
 * ss_ep_update(), socket_server_poll() and socket_server_create() only; a
 * kqueue port would replace those three.
 */
#include "socket_internal.h"
#include "skynet_clock.h"
#include "skynet_malloc.h"
#include "skynet_tunables.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CTRL_TAG UINT64_MAX /* epoll data of the request pipe */

static uint64_t mono_cs(void) { return skynet_hpc() / 10000000; }

static void wb_free(struct wbuf *wb) {
	if (wb->obj)
		wb->free_fn(wb->obj);
	skynet_free(wb);
}

void ss_wb_list_free(struct wb_list *list) {
	struct wbuf *wb = list->head;
	while (wb) {
		struct wbuf *next = wb->next;
		wb_free(wb);
		wb = next;
	}
	list->head = list->tail = NULL;
}

/* Brings the epoll interest of s in line with its state.  Lock held.  An fd
 * nobody wants events from is removed from the set, so a dead connection
 * cannot make epoll report HUP/ERR forever -- except a throttled one, which
 * stays registered with no events: epoll still reports its HUP/ERR, so a
 * peer that resets while we hold it back is noticed at once
 * (on_throttled_hangup) instead of after its backlog drained.  Returns 0 or
 * an errno. */
int ss_ep_update(struct socket_server *ss, struct socket *s) {
	uint32_t want = 0;
	bool q = !queues_empty(s);
	bool rd = s->reading && s->throttle == 0;
	bool keep = false;
	switch (atomic_load_explicit(&s->state, memory_order_relaxed)) {
	case ST_LISTEN:
		want = s->reading ? EPOLLIN : 0;
		break;
	case ST_CONNECTING:
		want = EPOLLOUT;
		break;
	case ST_CONNECTED:
	case ST_BIND:
		want = (rd ? EPOLLIN : 0) | (q ? EPOLLOUT : 0);
		keep = s->reading && s->throttle;
		break;
	case ST_HALFCLOSE_READ:
		want = q ? EPOLLOUT : 0;
		break;
	case ST_HALFCLOSE_WRITE:
		want = rd ? EPOLLIN : 0;
		keep = s->reading && s->throttle;
		break;
	default:
		break;
	}
	bool registered = want != 0 || keep;
	if (want == s->events && registered == s->in_epoll)
		return 0;
	if (!registered) {
		epoll_ctl(ss->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->in_epoll = false;
		s->events = 0;
		return 0;
	}
	struct epoll_event ev;
	ev.events = want;
	ev.data.u64 = (uint64_t)atomic_load_explicit(&s->id, memory_order_relaxed);
	if (epoll_ctl(ss->epfd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) != 0)
		return errno;
	s->in_epoll = true;
	s->events = want;
	return 0;
}

/* Claims a free slot for a new id (ids count up from 1, wrap at 2^31,
 * slot = id mod SOCKET_MAX, busy slots are skipped).  The winner then
 * initialises the slot under its lock.  -1 when every slot is busy. */
int ss_reserve_id(struct socket_server *ss) {
	for (int i = 0; i < SOCKET_MAX; i++) {
		int id = (int)((atomic_fetch_add_explicit(&ss->alloc_id, 1, memory_order_relaxed) + 1) &
		               0x7fffffffu);
		if (id == 0)
			continue;
		struct socket *s = SLOT(ss, id);
		int expect = ST_INVALID;
		if (atomic_load_explicit(&s->state, memory_order_relaxed) != ST_INVALID)
			continue;
		if (atomic_compare_exchange_strong_explicit(&s->state, &expect, ST_RESERVE, memory_order_acq_rel,
		                                            memory_order_relaxed)) {
			slock(s);
			atomic_store_explicit(&s->id, id, memory_order_release);
			s->fd = -1;
			s->protocol = PROTO_TCP;
			s->reading = false;
			s->closing = false;
			s->warn_sent = false;
			s->throttle = 0;
			s->in_epoll = false;
			s->events = 0;
			s->warn_pending = 0;
			s->warn_level = 0;
			s->opaque = 0;
			s->wb_size = 0;
			s->wb_count = 0;
			s->peerlen = 0;
			s->rsize = MIN_READ_BUFFER;
			s->room = 0;
			s->room_sink = 0;
			atomic_store(&s->inflight, 0);
			atomic_store(&s->inflight_bytes, 0);
			atomic_store(&s->sink, 0);
			atomic_store(&s->wake, false);
			stat_set(&s->rbytes, 0);
			stat_set(&s->wbytes, 0);
			stat_set(&s->rtime, 0);
			stat_set(&s->wtime, 0);
			sunlock(s);
			return id;
		}
	}
	return -1;
}

/* Closes s and frees its slot.  Lock held; the caller reports any event.
 * Adopted OS fds (BIND) are not closed: they belong to whoever passed them. */
static void force_close_locked(struct socket_server *ss, struct socket *s) {
	if (s->fd >= 0) {
		if (s->in_epoll)
			epoll_ctl(ss->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		if (s->protocol != PROTO_FD)
			close(s->fd);
	}
	s->fd = -1;
	s->events = 0;
	s->in_epoll = false;
	s->throttle = 0;
	s->polled = false; /* a list entry left behind no longer matches the id */
	s->reading = false;
	s->closing = false;
	s->write_closed = false;
	s->warn_sent = false;
	s->warn_pending = 0;
	s->warn_level = 0;
	s->wb_size = 0;
	s->wb_count = 0;
	ss_wb_list_free(&s->high);
	ss_wb_list_free(&s->low);
	sset_state(s, ST_INVALID);
}

static int emit(struct socket_server *ss, int type, int id, int ud, uintptr_t opaque, char *data,
                size_t size) {
	struct socket_event ev = {type, id, ud, opaque, data, size};
	return ss->cb(ss->cb_ud, &ev);
}

static void emit_text(struct socket_server *ss, int type, int id, int ud, uintptr_t opaque,
                      const char *text) {
	size_t n = strlen(text);
	if (n > SOCKET_EV_TEXT_MAX)
		n = SOCKET_EV_TEXT_MAX;
	memcpy(ss->text, text, n);
	ss->text[n] = '\0';
	emit(ss, type, id, ud, opaque, ss->text, n);
}

static void emit_error(struct socket_server *ss, int id, uintptr_t opaque, int err) {
	emit_text(ss, SOCKET_EV_ERROR, id, 0, opaque, strerror(err));
}

/* Writes as much of wb as the kernel takes.  Returns bytes written (maybe
 * 0), or -errno on a fatal error.  UDP: a datagram goes whole or not at all;
 * one the kernel refuses for good (or with no destination) counts as sent
 * so it is dropped rather than retried forever. */
ssize_t ss_write_some(struct socket_server *ss, struct socket *s, const char *ptr, size_t sz,
                      const union sockaddr_all *to, socklen_t tolen) {
	for (;;) {
		ssize_t n;
		if (is_udp(s)) {
			if (tolen == 0)
				return (ssize_t)sz;
			n = sendto(s->fd, ptr, sz, MSG_NOSIGNAL | MSG_DONTWAIT, &to->s, tolen);
		} else if (s->protocol == PROTO_FD) {
			n = write(s->fd, ptr, sz);
		} else {
			n = send(s->fd, ptr, sz, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (n >= 0) {
			if (n > 0) {
				stat_add(&s->wbytes, (uint64_t)n);
				stat_add(&ss->wbytes_total, (uint64_t)n);
				stat_set(&s->wtime, ss->now());
			}
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return 0;
		if (is_udp(s))
			return (ssize_t)sz;
		return -errno;
	}
}

/* Flushes the queues of s (lock held): the high queue first; then buffers of
 * the low queue, a partly written one moving to the high queue so it is
 * finished before anything else.  Returns 0 when both are empty, -1 when
 * the kernel is full, or an errno (> 0). */
static int flush_locked(struct socket_server *ss, struct socket *s) {
	for (;;) {
		struct wb_list *list = s->high.head ? &s->high : &s->low;
		struct wbuf *wb = list->head;
		if (wb == NULL)
			return 0;
		ssize_t n = ss_write_some(ss, s, wb->ptr, wb->sz, &wb->to, wb->tolen);
		if (n < 0)
			return (int)-n;
		s->wb_size -= (size_t)n;
		if ((size_t)n < wb->sz) {
			wb->ptr += n;
			wb->sz -= (size_t)n;
			if (list == &s->low && n > 0) {
				s->low.head = wb->next;
				if (s->low.head == NULL)
					s->low.tail = NULL;
				wb_append(&s->high, wb);
			}
			return -1;
		}
		list->head = wb->next;
		if (list->head == NULL)
			list->tail = NULL;
		s->wb_count--;
		wb_free(wb);
	}
}

/* A write failed: shut the write side down and drop what was queued.  If
 * reading is over too (peer EOF, or close requested) the socket is closed
 * silently, its CLOSE having been reported already.  Lock held.  Returns
 * true if an ERROR should be reported. */
static bool close_write_locked(struct socket_server *ss, struct socket *s) {
	int st = atomic_load_explicit(&s->state, memory_order_relaxed);
	if (s->closing || st == ST_HALFCLOSE_READ) {
		force_close_locked(ss, s);
		return false;
	}
	if (st == ST_HALFCLOSE_WRITE)
		return false;
	if (s->protocol == PROTO_TCP)
		shutdown(s->fd, SHUT_WR);
	ss_wb_list_free(&s->high);
	ss_wb_list_free(&s->low);
	s->wb_size = 0;
	s->wb_count = 0;
	s->warn_pending = 0;
	s->warn_level = 0;
	s->warn_sent = false;
	sset_state(s, ST_HALFCLOSE_WRITE);
	ss_ep_update(ss, s);
	return true;
}

/* Socket thread: s is writable. */
static void on_writable(struct socket_server *ss, struct socket *s, int id) {
	slock(s);
	int st = atomic_load_explicit(&s->state, memory_order_relaxed);
	if (!sid_is(s, id) || (st != ST_CONNECTED && st != ST_HALFCLOSE_READ && st != ST_BIND)) {
		sunlock(s);
		return;
	}
	uintptr_t opaque = s->opaque;
	int r = flush_locked(ss, s);
	int report_error = 0;
	bool drained_warning = false;
	if (r > 0) {
		if (close_write_locked(ss, s))
			report_error = r;
	} else if (r == 0) {
		if (s->warn_sent)
			drained_warning = true;
		s->warn_sent = false;
		s->warn_pending = 0;
		s->warn_level = 0;
		if (s->closing)
			force_close_locked(ss, s);
		else
			ss_ep_update(ss, s);
	}
	sunlock(s);
	if (drained_warning)
		emit(ss, SOCKET_EV_WARNING, id, 0, opaque, NULL, 0);
	if (report_error)
		emit_error(ss, id, opaque, report_error);
}

/* Peer EOF.  CONNECTED: stop reading, keep writing (half-closed), report
 * CLOSE.  HALFCLOSE_WRITE: both directions are done, close. */
static void on_eof(struct socket_server *ss, struct socket *s, int id) {
	slock(s);
	uintptr_t opaque = s->opaque;
	int st = atomic_load_explicit(&s->state, memory_order_relaxed);
	bool report = true;
	if (st == ST_HALFCLOSE_WRITE) {
		force_close_locked(ss, s);
	} else if (st == ST_CONNECTED || st == ST_BIND) {
		/* The slot stays until the owner closes it, even with nothing
		 * left to send: the id must not be reused under its feet. */
		sset_state(s, ST_HALFCLOSE_READ);
		ss_ep_update(ss, s);
	} else {
		report = false;
	}
	sunlock(s);
	if (report)
		emit(ss, SOCKET_EV_CLOSE, id, 0, opaque, NULL, 0);
}

/* Read error: report it and close (the connection is unusable). */
static void on_read_error(struct socket_server *ss, struct socket *s, int id, int err) {
	slock(s);
	uintptr_t opaque = s->opaque;
	force_close_locked(ss, s);
	sunlock(s);
	emit_error(ss, id, opaque, err);
}

/*
 * Backpressure
 * ------------
 * A connection is read only while what it already produced is being taken
 * care of, so one fast client cannot queue unbounded work in the node:
 *
 *  - owner stage: at most INFLIGHT_MAX of its DATA events wait in the
 *    owner's mailbox.  tcp_read counts an event before handing it over; the
 *    owner's worker takes it off once dispatched (socket_server_consumed,
 *    from the bridge's dispatch observer);
 *  - sink stage: a gate names the service its frames go to (the agent,
 *    socket_server_sink).  Such a socket is read only while the sink's
 *    backlog -- its mailbox plus the requests it took and has not finished,
 *    where a pipelining client's requests pile up as parked coroutines --
 *    plus the frames the bytes still at the owner can make stays below
 *    SINK_BACKLOG; and a read takes at most SINK_FRAME_MIN bytes per frame
 *    of room left, so tiny frames cannot overshoot the count.
 *
 * A socket that may not read is throttled: EPOLLIN goes (it stays in epoll,
 * so a reset peer is still noticed: on_throttled_hangup).  It is resumed by
 * a 'Q' request from the worker whose dispatch lowered `inflight` (when it
 * finds `wake` set), or, when only the sink's backlog holds it back, by
 * polling every SINK_POLL_NS: a sink does not say when it drained.
 */

/* Bytes socket s may read now; 0 = none.  Socket thread.  The sink's room
 * is measured once and then used up by the reads (tcp_read subtracts what
 * it read): until it is measured again, only this socket's own reads can
 * have filled the backlog of a sink it alone feeds, so the count holds;
 * sockets sharing a sink each bring at most their own room. */
static size_t read_allowance(struct socket_server *ss, struct socket *s) {
	if (atomic_load(&s->inflight) >= INFLIGHT_MAX)
		return 0;
	uint32_t sink = atomic_load_explicit(&s->sink, memory_order_relaxed);
	socket_backlog_fn backlog_of = atomic_load_explicit(&ss->backlog, memory_order_relaxed);
	if (sink == 0 || backlog_of == NULL)
		return SIZE_MAX;
	if (s->room > 0 && s->room_sink == sink)
		return s->room;
	s->room_sink = sink;
	s->room = 0;
	int backlog = backlog_of(sink);
	if (backlog < 0)
		return SIZE_MAX; /* the sink is gone: the gate drops the frames */
	size_t used = (size_t)backlog + atomic_load(&s->inflight_bytes) / SINK_FRAME_MIN;
	if (used >= SINK_BACKLOG)
		return 0;
	s->room = (SINK_BACKLOG - used) * SINK_FRAME_MIN;
	return s->room;
}

static void poll_later(struct socket_server *ss, struct socket *s, int id) {
	if (s->polled)
		return;
	if (ss->npolled == ss->polled_cap) {
		ss->polled_cap = ss->polled_cap ? ss->polled_cap * 2 : 64;
		ss->polled = skynet_realloc(ss->polled, (size_t)ss->polled_cap * sizeof(int));
	}
	ss->polled[ss->npolled++] = id;
	s->polled = true;
}

static void resume_throttled(struct socket_server *ss, struct socket *s, int id);

/* Stops reading s until read_allowance lets it again.  Socket thread. */
static void throttle_socket(struct socket_server *ss, struct socket *s, int id) {
	int inflight = atomic_load(&s->inflight);
	slock(s);
	s->throttle = inflight > 0 ? THROTTLE_INFLIGHT : THROTTLE_SINK;
	ss_ep_update(ss, s);
	sunlock(s);
	if (inflight == 0) {
		poll_later(ss, s, id); /* only the sink can change its mind */
		return;
	}
	/* Wake on the next dispatch.  A dispatch between the load above and
	 * this store did not see `wake`: if one happened, whoever clears
	 * `wake` first looks again (seq_cst on both sides). */
	atomic_store(&s->wake, true);
	if (atomic_load(&s->inflight) < inflight && atomic_exchange(&s->wake, false))
		resume_throttled(ss, s, id);
}

/* 'Q', or a poll: read again if allowed, else stay throttled. */
static void resume_throttled(struct socket_server *ss, struct socket *s, int id) {
	if (!sid_is(s, id) || s->throttle == 0)
		return;
	if (read_allowance(ss, s) == 0) {
		throttle_socket(ss, s, id);
		return;
	}
	slock(s);
	s->throttle = 0;
	ss_ep_update(ss, s); /* level-triggered: pending input is reported at once */
	sunlock(s);
}

/* Looks again at the sockets held back by their sinks, at most every
 * SINK_POLL_NS.  A socket may be added again while the list is walked. */
static void poll_throttled(struct socket_server *ss, uint64_t now) {
	if (ss->npolled == 0 || now - ss->polled_at < SINK_POLL_NS)
		return;
	ss->polled_at = now;
	int n = ss->npolled;
	for (int i = 0; i < n; i++) {
		int id = ss->polled[i];
		struct socket *s = SLOT(ss, id);
		if (!sid_is(s, id) || !s->polled)
			continue;
		s->polled = false;
		resume_throttled(ss, s, id);
	}
	memmove(ss->polled, ss->polled + n, (size_t)(ss->npolled - n) * sizeof(int));
	ss->npolled -= n;
}

/* A throttled socket got HUP/ERR: the peer reset the connection (or both
 * directions are shut).  Nobody can get an answer any more, so what it
 * sent and we did not read yet is dropped with the socket. */
static void on_throttled_hangup(struct socket_server *ss, struct socket *s, int id) {
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0)
		err = ECONNRESET;
	on_read_error(ss, s, id, err);
}

/* Reads into buffers sized to the traffic: a read that fills its buffer
 * doubles the next one (up to MAX_READ_BUFFER) and reads again at once; one
 * that fills less than half halves it (down to MIN_READ_BUFFER). */
static void tcp_read(struct socket_server *ss, struct socket *s, int id) {
	uintptr_t opaque = s->opaque;
	for (int round = 0; round < READ_ROUNDS; round++) {
		size_t allowed = read_allowance(ss, s);
		if (allowed == 0) {
			throttle_socket(ss, s, id);
			return;
		}
		int sz = s->rsize;
		if ((size_t)sz > allowed)
			sz = (int)allowed;
		char *buf = skynet_malloc((size_t)sz);
		ssize_t n = read(s->fd, buf, (size_t)sz);
		if (n < 0) {
			int err = errno;
			skynet_free(buf);
			if (err == EINTR)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			on_read_error(ss, s, id, err);
			return;
		}
		if (n == 0) {
			skynet_free(buf);
			on_eof(ss, s, id);
			return;
		}
		stat_add(&s->rbytes, (uint64_t)n);
		stat_add(&ss->rbytes_total, (uint64_t)n);
		stat_set(&s->rtime, ss->now());
		if (n == sz) {
			/* a buffer cut short by the allowance says nothing of the traffic */
			if (sz == s->rsize && sz < MAX_READ_BUFFER)
				s->rsize = sz * 2;
		} else if (s->rsize > MIN_READ_BUFFER && n * 2 < s->rsize) {
			s->rsize /= 2;
		}
		if (allowed != SIZE_MAX)
			s->room -= (size_t)n; /* n <= allowed == room */
		/* counted before the owner can see it (and take it off again) */
		atomic_fetch_add(&s->inflight, 1);
		atomic_fetch_add(&s->inflight_bytes, (size_t)n);
		if (emit(ss, SOCKET_EV_DATA, id, (int)n, opaque, buf, (size_t)n) != 0) {
			atomic_fetch_sub(&s->inflight, 1); /* the owner is gone */
			atomic_fetch_sub(&s->inflight_bytes, (size_t)n);
		}
		if (n < sz)
			return;
	}
}

static void udp_read(struct socket_server *ss, struct socket *s, int id) {
	uintptr_t opaque = s->opaque;
	int family = s->protocol == PROTO_UDP6 ? AF_INET6 : AF_INET;
	for (int round = 0; round < UDP_ROUNDS; round++) {
		union sockaddr_all from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(s->fd, ss->udpbuf, MAX_UDP_PACKAGE, MSG_DONTWAIT, &from.s, &fromlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* e.g. an ICMP error queued on the socket: consume it */
				int err;
				socklen_t len = sizeof(err);
				getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			}
			return;
		}
		if (from.s.sa_family != family)
			continue; /* other family: dropped silently, as upstream */
		char addr[SOCKET_UDP_ADDRESS_MAX];
		int asz = sockaddr_udp_encode(&from, addr);
		if (asz == 0)
			continue;
		char *buf = skynet_malloc((size_t)n + (size_t)asz);
		memcpy(buf, ss->udpbuf, (size_t)n);
		memcpy(buf + n, addr, (size_t)asz);
		stat_add(&s->rbytes, (uint64_t)n);
		stat_add(&ss->rbytes_total, (uint64_t)n);
		stat_set(&s->rtime, ss->now());
		emit(ss, SOCKET_EV_UDP, id, (int)n, opaque, buf, (size_t)n + (size_t)asz);
	}
}

static void accept_some(struct socket_server *ss, struct socket *ls, int lid) {
	uintptr_t opaque = ls->opaque;
	for (int round = 0; round < ACCEPT_ROUNDS; round++) {
		union sockaddr_all u;
		socklen_t len = sizeof(u);
		int fd = accept4(ls->fd, &u.s, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (err == EINTR || err == ECONNABORTED)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			if ((err == EMFILE || err == ENFILE) && ss->spare_fd >= 0) {
				/* Out of fds: accept-and-drop one connection with the spare
				 * fd, or the listen socket would stay readable forever. */
				close(ss->spare_fd);
				int victim = accept(ls->fd, NULL, NULL);
				if (victim >= 0)
					close(victim);
				ss->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			}
			emit_error(ss, lid, opaque, err);
			return;
		}
		int id = ss_reserve_id(ss);
		if (id < 0) {
			close(fd); /* no slot: closed silently, as upstream */
			continue;
		}
		sockfd_keepalive(fd);
		sockfd_nodelay(fd);
		struct socket *s = SLOT(ss, id);
		slock(s);
		s->fd = fd;
		s->opaque = opaque;
		s->protocol = PROTO_TCP;
		sset_state(s, ST_PACCEPT);
		sunlock(s);
		stat_add(&ls->rbytes, 1);
		stat_set(&ls->rtime, ss->now());
		char text[SOCKET_EV_TEXT_MAX];
		if (!sockaddr_format(&u, text, sizeof(text), true))
			text[0] = '\0';
		emit_text(ss, SOCKET_EV_ACCEPT, lid, id, opaque, text);
	}
}

static void finish_connect(struct socket_server *ss, struct socket *s, int id, uint32_t events) {
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0 && (events & EPOLLHUP) && !(events & EPOLLOUT))
		err = ECONNRESET;
	slock(s);
	uintptr_t opaque = s->opaque;
	if (err) {
		force_close_locked(ss, s);
		sunlock(s);
		emit_error(ss, id, opaque, err);
		return;
	}
	sset_state(s, ST_CONNECTED);
	ss_ep_update(ss, s);
	union sockaddr_all u;
	socklen_t ulen = sizeof(u);
	char text[SOCKET_EV_TEXT_MAX];
	if (getpeername(s->fd, &u.s, &ulen) != 0 || !sockaddr_format(&u, text, sizeof(text), false))
		text[0] = '\0';
	sunlock(s);
	emit_text(ss, SOCKET_EV_CONNECT, id, 0, opaque, text);
}

/* 'O': a connect failed before it reached the socket thread. */
static void req_connect_failed(struct socket_server *ss, struct request *req) {
	struct socket *s = SLOT(ss, req->id);
	slock(s);
	if (sid_is(s, req->id))
		force_close_locked(ss, s);
	sunlock(s);
	emit_text(ss, SOCKET_EV_ERROR, req->id, 0, req->opaque, req->text);
}

/* 'L': adopt a listening fd (not accepting until started). */
static void req_listen(struct socket_server *ss, struct request *req) {
	struct socket *s = SLOT(ss, req->id);
	union sockaddr_all u;
	socklen_t len = sizeof(u);
	char ip[SOCKET_EV_TEXT_MAX];
	int port = 0;
	if (getsockname(req->fd, &u.s, &len) == 0 && sockaddr_format(&u, ip, sizeof(ip), false))
		port = sockaddr_port(&u);
	else
		ip[0] = '\0';
	slock(s);
	s->fd = req->fd;
	s->opaque = req->opaque;
	s->protocol = PROTO_TCP;
	s->reading = false;
	sset_state(s, ST_PLISTEN);
	sunlock(s);
	emit_text(ss, SOCKET_EV_CONNECT, req->id, port, req->opaque, ip);
}

/* 'B': adopt an OS fd. */
static void req_bind(struct socket_server *ss, struct request *req) {
	struct socket *s = SLOT(ss, req->id);
	sockfd_nonblocking(req->fd);
	slock(s);
	s->fd = req->fd;
	s->opaque = req->opaque;
	s->protocol = PROTO_FD;
	s->reading = true;
	sset_state(s, ST_BIND);
	int err = ss_ep_update(ss, s);
	if (err)
		force_close_locked(ss, s);
	sunlock(s);
	if (err)
		emit_error(ss, req->id, req->opaque, err);
	else
		emit_text(ss, SOCKET_EV_CONNECT, req->id, 0, req->opaque, "binding");
}

/* 'R': start or resume reading, taking ownership.  The requester always
 * hears back (a start must never wait forever): CONNECT "start" or
 * "transfer", or ERROR "invalid socket" for an id that is not open; a
 * connecting socket answers with its CONNECT/ERROR when the connect ends. */
static void req_start(struct socket_server *ss, struct request *req) {
	struct socket *s = SLOT(ss, req->id);
	slock(s);
	int st = atomic_load_explicit(&s->state, memory_order_relaxed);
	if (!sid_is(s, req->id) || st == ST_INVALID || st == ST_RESERVE) {
		sunlock(s);
		emit_text(ss, SOCKET_EV_ERROR, req->id, 0, req->opaque, "invalid socket");
		return;
	}
	const char *text = NULL;
	switch (st) {
	case ST_PACCEPT:
		sset_state(s, ST_CONNECTED);
		text = "start";
		break;
	case ST_PLISTEN:
		sset_state(s, ST_LISTEN);
		text = "start";
		break;
	case ST_CONNECTED:
	case ST_HALFCLOSE_READ:
	case ST_HALFCLOSE_WRITE:
	case ST_LISTEN:
	case ST_BIND:
		text = "transfer";
		break;
	default: /* ST_CONNECTING */
		break;
	}
	if (s->opaque != req->opaque) {
		/* A new owner: DATA events still at the old one are its business,
		 * and the old sink means nothing to the new owner. */
		atomic_store(&s->inflight, 0);
		atomic_store(&s->inflight_bytes, 0);
		atomic_store(&s->sink, 0);
		s->throttle = 0; /* the next read looks again */
	}
	s->opaque = req->opaque;
	if (!s->closing)
		s->reading = true;
	int err = ss_ep_update(ss, s);
	if (err)
		force_close_locked(ss, s);
	sunlock(s);
	if (err)
		emit_error(ss, req->id, req->opaque, err);
	else if (text)
		emit_text(ss, SOCKET_EV_CONNECT, req->id, 0, req->opaque, text);
}

/* 'S': stop reading. */
static void req_pause(struct socket_server *ss, struct request *req) {
	struct socket *s = SLOT(ss, req->id);
	slock(s);
	if (sid_is(s, req->id)) {
		s->reading = false;
		ss_ep_update(ss, s);
	}
	sunlock(s);
}

/* 'K' CLOSE_OVERFLOW: a send found the unsent output over the cap (the
 * sender dropped the queues and refused further sends).  Closed at once;
 * the owner gets an ERROR naming the peer and the cap, which it logs. */
static void close_overflow(struct socket_server *ss, struct socket *s, int id) {
	char peer[SOCKET_EV_TEXT_MAX];
	union sockaddr_all u;
	socklen_t len = sizeof(u);
	if (getpeername(s->fd, &u.s, &len) != 0 || !sockaddr_format(&u, peer, sizeof(peer), true))
		snprintf(peer, sizeof(peer), "?");
	uintptr_t opaque = s->opaque;
	force_close_locked(ss, s);
	sunlock(s);
	char text[2 * SOCKET_EV_TEXT_MAX]; /* emit_text keeps the first SOCKET_EV_TEXT_MAX */
	snprintf(text, sizeof(text), "unsent output to %s over socket_max_unsent (%zu bytes)", peer,
	         atomic_load_explicit(&ss->max_unsent, memory_order_relaxed));
	emit_text(ss, SOCKET_EV_ERROR, id, 0, opaque, text);
}

/* 'K': close (CLOSE_GRACEFUL), shutdown (CLOSE_SHUTDOWN) or overflow.
 * CLOSE goes to the requester, at most once per socket. */
static void req_close(struct socket_server *ss, struct request *req) {
	struct socket *s = SLOT(ss, req->id);
	slock(s);
	int st = atomic_load_explicit(&s->state, memory_order_relaxed);
	if (!sid_is(s, req->id) || st == ST_INVALID || st == ST_RESERVE) {
		sunlock(s);
		return;
	}
	if (req->arg == CLOSE_OVERFLOW) {
		close_overflow(ss, s, req->id); /* unlocks */
		return;
	}
	bool reported = st == ST_HALFCLOSE_READ || s->closing;
	bool can_flush = !queues_empty(s) && (st == ST_CONNECTED || st == ST_HALFCLOSE_READ || st == ST_BIND);
	if (req->arg == CLOSE_SHUTDOWN || !can_flush) {
		force_close_locked(ss, s);
	} else {
		/* Graceful with output pending: stop reading, close once drained. */
		s->closing = true;
		s->reading = false;
		if (st != ST_HALFCLOSE_READ)
			sset_state(s, ST_HALFCLOSE_READ);
		ss_ep_update(ss, s);
	}
	sunlock(s);
	if (!reported)
		emit(ss, SOCKET_EV_CLOSE, req->id, 0, req->opaque, NULL, 0);
}

/* 'W': report an output warning a sender detected. */
static void req_warning(struct socket_server *ss, struct request *req) {
	struct socket *s = SLOT(ss, req->id);
	slock(s);
	int k = 0;
	uintptr_t opaque = s->opaque;
	if (sid_is(s, req->id) && s->warn_pending) {
		k = s->warn_pending;
		s->warn_pending = 0;
		s->warn_sent = true;
	}
	sunlock(s);
	if (k)
		emit(ss, SOCKET_EV_WARNING, req->id, k, opaque, NULL, 0);
}

/* Reads and runs every pending request.  Returns false on exit ('X'). */
static bool drain_requests(struct socket_server *ss) {
	for (;;) {
		ssize_t n = read(ss->ctrl_rfd, ss->ctrl_buf + ss->ctrl_len, sizeof(ss->ctrl_buf) - ss->ctrl_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return true;
		}
		if (n == 0)
			return true;
		ss->ctrl_len += (size_t)n;
		size_t off = 0;
		while (ss->ctrl_len - off >= sizeof(struct request)) {
			struct request req;
			memcpy(&req, ss->ctrl_buf + off, sizeof(req));
			off += sizeof(req);
			switch (req.type) {
			case 'X':
				ss->ctrl_len = 0;
				return false;
			case 'O':
				req_connect_failed(ss, &req);
				break;
			case 'L':
				req_listen(ss, &req);
				break;
			case 'B':
				req_bind(ss, &req);
				break;
			case 'R':
				req_start(ss, &req);
				break;
			case 'S':
				req_pause(ss, &req);
				break;
			case 'K':
				req_close(ss, &req);
				break;
			case 'W':
				req_warning(ss, &req);
				break;
			case 'Q':
				resume_throttled(ss, SLOT(ss, req.id), req.id);
				break;
			default:
				fprintf(stderr, "socket-server: unknown request type %d\n", req.type);
				break;
			}
		}
		memmove(ss->ctrl_buf, ss->ctrl_buf + off, ss->ctrl_len - off);
		ss->ctrl_len -= off;
	}
}

static void handle_event(struct socket_server *ss, const struct epoll_event *e) {
	int id = (int)e->data.u64;
	struct socket *s = SLOT(ss, id);
	if (!sid_is(s, id))
		return; /* stale: the socket was closed earlier in this batch */
	uint32_t ev = e->events;
	int st = sget_state(s);
	switch (st) {
	case ST_LISTEN:
		if (ev & EPOLLIN)
			accept_some(ss, s, id);
		break;
	case ST_CONNECTING:
		finish_connect(ss, s, id, ev);
		break;
	case ST_CONNECTED:
	case ST_BIND:
	case ST_HALFCLOSE_READ:
	case ST_HALFCLOSE_WRITE:
		if (is_udp(s)) {
			if (ev & (EPOLLIN | EPOLLERR))
				udp_read(ss, s, id);
		} else if (s->throttle && s->reading && st != ST_HALFCLOSE_READ) {
			if (ev & (EPOLLHUP | EPOLLERR)) {
				on_throttled_hangup(ss, s, id);
				break;
			}
		} else if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && s->reading && st != ST_HALFCLOSE_READ) {
			/* `reading` and the state of a live socket only change on
			 * this thread, so they need no lock here. */
			tcp_read(ss, s, id);
		}
		if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && sid_is(s, id))
			on_writable(ss, s, id); /* checks the queues under the lock */
		break;
	default:
		break;
	}
}

/* One look at epoll: without waiting, or until something happens (but no
 * longer than SINK_POLL_NS while sockets are held back by their sinks, which
 * are looked at again then).  When to spin and when to block is the
 * caller's policy (skynet_poller.c). */
static int wait_events(struct socket_server *ss, bool block) {
	int timeout = 0;
	if (block)
		timeout = ss->npolled ? (int)((SINK_POLL_NS + 999999) / 1000000) : -1;
	return epoll_wait(ss->epfd, ss->ev, MAX_EVENT, timeout);
}

int socket_server_poll(struct socket_server *ss, socket_event_cb cb, void *ud, bool block) {
	ss->cb = cb;
	ss->cb_ud = ud;
	int n = wait_events(ss, block);
	if (n < 0)
		return 0; /* EINTR */
	poll_throttled(ss, skynet_hpc());
	/* Requests first: they may close sockets whose events are in this batch. */
	for (int i = 0; i < n; i++) {
		if (ss->ev[i].data.u64 == CTRL_TAG && !drain_requests(ss))
			return -1;
	}
	for (int i = 0; i < n; i++) {
		if (ss->ev[i].data.u64 != CTRL_TAG)
			handle_event(ss, &ss->ev[i]);
	}
	return n;
}

struct socket_server *socket_server_create(uint64_t (*now_cs)(void)) {
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return NULL;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		close(epfd);
		return NULL;
	}
	sockfd_nonblocking(fds[0]);
	struct epoll_event ev;
	ev.events = EPOLLIN;
	ev.data.u64 = CTRL_TAG;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[0], &ev) != 0) {
		close(epfd);
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	/* calloc: the 64K slots start zeroed (INVALID, unlocked) and their
	 * pages are only touched when used. */
	struct socket_server *ss = skynet_calloc(1, sizeof(*ss));
	ss->epfd = epfd;
	ss->ctrl_rfd = fds[0];
	ss->ctrl_wfd = fds[1];
	ss->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ss->now = now_cs ? now_cs : mono_cs;
	atomic_init(&ss->max_unsent, SOCKET_MAX_UNSENT_DEFAULT);
	return ss;
}

void socket_server_limits(struct socket_server *ss, size_t max_unsent, socket_backlog_fn backlog) {
	atomic_store(&ss->max_unsent, max_unsent);
	atomic_store(&ss->backlog, backlog);
}

void socket_server_release(struct socket_server *ss) {
	if (ss == NULL)
		return;
	/* Ids are handed out in order, so only slots up to the last id were
	 * ever used: reading all 64K (13 MB, never touched by a small node)
	 * page-faulted its way through ~3,400 pages and delayed every exit by
	 * tens of milliseconds. */
	unsigned last = atomic_load_explicit(&ss->alloc_id, memory_order_relaxed);
	int nslots = last >= SOCKET_MAX - 1 ? SOCKET_MAX : (int)last + 1;
	for (int i = 0; i < nslots; i++) {
		struct socket *s = &ss->slot[i];
		int st = atomic_load_explicit(&s->state, memory_order_relaxed);
		if (st != ST_INVALID && st != ST_RESERVE) {
			slock(s);
			force_close_locked(ss, s);
			sunlock(s);
		}
	}
	close(ss->ctrl_rfd);
	close(ss->ctrl_wfd);
	close(ss->epfd);
	if (ss->spare_fd >= 0)
		close(ss->spare_fd);
	skynet_free(ss->polled);
	skynet_free(ss);
}

void socket_server_userobject(struct socket_server *ss, const struct socket_object_interface *soi) {
	ss->soi = *soi;
	ss->has_soi = true;
}
