/*
 * socket_internal.h -- the socket server's private data structures, shared
 * by socket_server.c (the socket thread) and socket_request.c (the
 * functions services call).  Nothing outside those two files includes it.
 *
 * Threads and ownership
 * ---------------------
 * "The socket thread" below is whichever thread runs socket_server_poll():
 * it waits in epoll_wait, reads the request pipe, reads sockets, accepts,
 * finishes connects, flushes write queues and reports every event through
 * the callback.  Only it closes fds and frees slots.  In a node that is the
 * socket thread proper or an idle worker standing in for it; the poller
 * (skynet_poller.c) lets one of them in at a time under a mutex, which also
 * orders everything one did before the next one starts.
 *
 * Worker threads (services) call the request functions.  Requests that
 * produce an event or close something are posted to the socket thread
 * through a pipe as fixed-size records, each written with one write()
 * smaller than PIPE_BUF, so records from several writers never interleave.
 * The others run on the calling thread under the socket's lock: sends,
 * TCP_NODELAY, setting a UDP peer, setting up an outgoing connect or a UDP
 * socket.
 *
 * Each slot has a spinlock.  It protects everything a sender looks at: the
 * fd, the state transitions of a live socket, the two write queues and their
 * byte count, the warning bookkeeping and the epoll interest mask.  That is
 * what keeps direct writes race-free: a worker writes to the fd itself only
 * while holding the lock, after checking under that lock that the slot still
 * carries its id, that the socket is connected and not closing, and that both
 * queues are empty -- and the socket thread takes the same lock before it
 * writes from the queues, changes the state or closes the fd.  So bytes of a
 * direct write can never overtake queued bytes, two writers never interleave
 * inside one buffer, and an fd is never written after it was closed (and
 * perhaps reused by the OS).  A lock is held only around a non-blocking
 * syscall or two.
 *
 * Reads need no lock: only the socket thread reads sockets and changes the
 * fields the read path uses; a worker that sets a socket up publishes its
 * fields with a release store of `state`, which the socket thread loads
 * with acquire before using them.
 *
 * Slot states (socket.state):
 *   INVALID -> RESERVE (a thread won the CAS for a new id) -> PLISTEN
 *   (listening, not accepting), LISTEN, CONNECTING, CONNECTED, PACCEPT
 *   (accepted, not read until started) or BIND (adopted OS fd) ->
 *   HALFCLOSE_READ (peer sent EOF, or close() with output pending: no more
 *   reading) / HALFCLOSE_WRITE (a write failed: no more writing) -> INVALID.
 */
#ifndef SOCKET_INTERNAL_H
#define SOCKET_INTERNAL_H

#include "skynet_tunables.h"
#include "socket_addr.h"
#include "socket_server.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>

#define MAX_EVENT 64
#define MIN_READ_BUFFER 64
/* Reads stay below skynet.socket's 128 KiB flow-control limit, so one big
 * read does not pause a socket whose reader keeps up. */
#define MAX_READ_BUFFER (64 * 1024)
#define MAX_UDP_PACKAGE 65535
#define WARNING_SIZE (1024 * 1024)

/* Backpressure (the mechanism: "Backpressure" in socket_server.c; the
 * numbers INFLIGHT_MAX, SINK_BACKLOG and SINK_POLL_NS are in
 * skynet_tunables.h).
 * SINK_FRAME_MIN: the fewest wire bytes a frame takes (a 2-byte header and
 *   an empty body), so a read of n bytes makes at most n / SINK_FRAME_MIN
 *   frames: a sinked socket reads at most SINK_FRAME_MIN bytes per frame
 *   its sink can still take, and no frame count can overshoot.
 * WBUF_COST: what the unsent cap charges per queued write besides its
 *   bytes (the struct wbuf and malloc's header), so a flood of tiny writes
 *   is bounded by memory, not by payload. */
#define SINK_FRAME_MIN 2
#define WBUF_COST (sizeof(struct wbuf) + 16)

/* Why a socket is not read although its owner wants input (throttle bits). */
#define THROTTLE_INFLIGHT 1 /* INFLIGHT_MAX DATA messages wait at the owner */
#define THROTTLE_SINK 2     /* the sink's backlog is full */
#define SLOT(ss, id) (&(ss)->slot[(unsigned)(id) % SOCKET_MAX])

enum {
	ST_INVALID = 0,
	ST_RESERVE,
	ST_PLISTEN,
	ST_LISTEN,
	ST_CONNECTING,
	ST_CONNECTED,
	ST_HALFCLOSE_READ,
	ST_HALFCLOSE_WRITE,
	ST_PACCEPT,
	ST_BIND,
};

/* PROTO_FD: an adopted OS fd (bind): read()/write(), never closed by us. */
enum { PROTO_TCP = 0, PROTO_UDP4, PROTO_UDP6, PROTO_FD };

/* One queued output buffer.  `ptr`/`sz` is the unsent part; `obj` is what
 * to release with `free_fn` once sent (NULL when the bytes were copied in
 * after the struct).  UDP buffers carry their destination. */
struct wbuf {
	struct wbuf *next;
	const char *ptr;
	size_t sz;
	void *obj;
	void (*free_fn)(void *);
	socklen_t tolen;
	union sockaddr_all to;
};

struct wb_list {
	struct wbuf *head;
	struct wbuf *tail;
};

struct socket {
	_Atomic int state;
	_Atomic int id;
	atomic_int lock;
	/* Under `lock`.  Written by the socket thread, or by the thread that set
	 * the socket up before publishing `state`. */
	int fd;
	int protocol;
	bool reading;     /* the owner wants input (cleared by pause) */
	bool closing;     /* close() requested: flush, then close */
	bool write_closed; /* a service asked to close: sends fail from now on */
	bool warn_sent;   /* a WARNING with ud > 0 was reported */
	uint8_t throttle; /* THROTTLE_* bits; changed by the socket thread under the lock */
	bool in_epoll;    /* fd registered in epoll (maybe with no events: see ss_ep_update) */
	uint32_t events;  /* interest registered in epoll; 0 = not registered */
	int warn_pending; /* KiB of a warning a sender detected, not yet reported */
	size_t warn_level;
	uintptr_t opaque;
	struct wb_list high;
	struct wb_list low;
	size_t wb_size;
	size_t wb_count; /* queued wbufs (the unsent cap charges WBUF_COST each) */
	socklen_t peerlen; /* UDP default peer (0 = none) */
	union sockaddr_all peer;
	/* Socket thread only. */
	int rsize;
	bool polled; /* in the server's list of sockets held back by their sink */
	/* Bytes that may still be read for sink `room_sink` before its backlog
	 * is asked again (read_allowance): asking takes two locks, so it is
	 * done once per room's worth of reads, not per read. */
	size_t room;
	uint32_t room_sink;
	/* Backpressure, shared with workers without the lock: DATA messages
	 * (and their bytes) handed to the owner and not yet dispatched -- the
	 * socket thread adds, the owner's worker subtracts after dispatching;
	 * `sink` (0: none) is set by a gate; `wake` asks the worker whose
	 * subtraction lowers `inflight` to post a resume ('Q'). */
	_Atomic int inflight;
	_Atomic size_t inflight_bytes;
	_Atomic uint32_t sink;
	atomic_bool wake;
	/* Statistics: relaxed atomics, read by socket_server_info(). */
	_Atomic uint64_t rbytes, wbytes, rtime, wtime;
};

/* A request posted to the socket thread.  Fixed size, one write() each.
 * Types: 'L' listen, 'B' bind, 'O' connect failed, 'R' start, 'S' pause,
 * 'K' close (arg: CLOSE_*), 'W' report a warning, 'Q' look again at a
 * throttled socket, 'X' exit. */
enum { CLOSE_GRACEFUL = 0, CLOSE_SHUTDOWN = 1, CLOSE_OVERFLOW = 2 };
struct request {
	char type;
	int id;
	int fd;
	int arg;
	uintptr_t opaque;
	char text[SOCKET_EV_TEXT_MAX + 1];
};

struct socket_server {
	int epfd;
	int ctrl_rfd; /* non-blocking read end, socket thread */
	int ctrl_wfd; /* blocking write end, any thread */
	int spare_fd; /* /dev/null, given up to shed a connection on EMFILE */
	atomic_uint alloc_id;
	uint64_t (*now)(void);
	/* Bytes read and written by every socket so far: relaxed atomics,
	 * added beside each socket's own counters, read by anyone. */
	_Atomic uint64_t rbytes_total, wbytes_total;
	struct socket_object_interface soi; /* set once, before use */
	bool has_soi;
	/* socket_server_limits; atomics so they may change at any time. */
	_Atomic size_t max_unsent;         /* 0: no cap */
	_Atomic(socket_backlog_fn) backlog; /* NULL: sinks are ignored */
	/* Socket thread only. */
	socket_event_cb cb;
	void *cb_ud;
	size_t ctrl_len;
	char ctrl_buf[sizeof(struct request) * 32];
	struct epoll_event ev[MAX_EVENT];
	char text[SOCKET_EV_TEXT_MAX + 1];
	char udpbuf[MAX_UDP_PACKAGE];
	/* Ids of sockets held back by their sink (polled every SINK_POLL_NS). */
	int *polled;
	int npolled, polled_cap;
	uint64_t polled_at;
	struct socket slot[SOCKET_MAX];
};

static inline void slock(struct socket *s) {
	for (int spins = 0;; spins++) {
		if (!atomic_exchange_explicit(&s->lock, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&s->lock, memory_order_relaxed)) {
			if (++spins > 64)
				sched_yield();
		}
	}
}

static inline void sunlock(struct socket *s) {
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

static inline int sget_state(struct socket *s) {
	return atomic_load_explicit(&s->state, memory_order_acquire);
}

static inline void sset_state(struct socket *s, int st) {
	atomic_store_explicit(&s->state, st, memory_order_release);
}

static inline bool sid_is(struct socket *s, int id) {
	return atomic_load_explicit(&s->id, memory_order_acquire) == id;
}

static inline bool is_udp(const struct socket *s) {
	return s->protocol == PROTO_UDP4 || s->protocol == PROTO_UDP6;
}

static inline void stat_add(_Atomic uint64_t *counter, uint64_t n) {
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static inline void stat_set(_Atomic uint64_t *field, uint64_t v) {
	atomic_store_explicit(field, v, memory_order_relaxed);
}

static inline bool queues_empty(const struct socket *s) {
	return s->high.head == NULL && s->low.head == NULL;
}

static inline void wb_append(struct wb_list *list, struct wbuf *wb) {
	wb->next = NULL;
	if (list->tail)
		list->tail->next = wb;
	else
		list->head = wb;
	list->tail = wb;
}

/* socket_server.c */
int ss_ep_update(struct socket_server *ss, struct socket *s);
void ss_wb_list_free(struct wb_list *list);
int ss_reserve_id(struct socket_server *ss);
ssize_t ss_write_some(struct socket_server *ss, struct socket *s, const char *ptr, size_t sz,
                      const union sockaddr_all *to, socklen_t tolen);
/* socket_request.c */
void ss_post_request(struct socket_server *ss, struct request *req);

#endif
