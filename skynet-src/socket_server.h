/*
 * socket_server.h -- the node's network engine.
 *
 * The node's poller (the socket thread, or an idle worker standing in for
 * it: skynet_poller.c) calls socket_server_poll() in a loop, one thread at
 * a time; every event it produces (data read, a connection accepted or
 * completed, a close, an error, a datagram, an output warning) is handed to
 * a callback together with the opaque value of the socket's owner.  Any
 * other thread may call the request functions below: they either act at
 * once under the socket's lock (send, nodelay, udp_connect) or post a small
 * request to the poller through a pipe.
 *
 * Sockets are named by ids, not OS fds: positive ints handed out from a
 * counter, living in slot `id % SOCKET_MAX`.  A slot's current id is checked
 * by every operation, so a stale id (of a socket since closed) never reaches
 * the socket that reuses the slot.
 *
 * The module depends only on libc and skynet_malloc.h, so the unit test can
 * drive it without a node.
 */
#ifndef SOCKET_SERVER_H
#define SOCKET_SERVER_H

#include "socket_buffer.h"
#include "socket_info.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOCKET_MAX 65536

/* Event types: the values of SKYNET_SOCKET_TYPE_* (skynet_socket.h). */
#define SOCKET_EV_DATA 1    /* ud = bytes; data = malloc'd buffer, now the handler's */
#define SOCKET_EV_CONNECT 2 /* ud = port (listen) or 0; text */
#define SOCKET_EV_CLOSE 3
#define SOCKET_EV_ACCEPT 4  /* id = listen socket, ud = new socket id; text "ip:port" */
#define SOCKET_EV_ERROR 5   /* text = reason */
#define SOCKET_EV_UDP 6     /* ud = bytes; data = payload + sender address, the handler's */
#define SOCKET_EV_WARNING 7 /* ud = KiB queued for sending, 0 once drained */

/* Longest text of a CONNECT/ACCEPT/ERROR event, NUL excluded. */
#define SOCKET_EV_TEXT_MAX 128

/* A UDP address blob: 1 protocol byte (1 IPv4, 2 IPv6), 2-byte port and the
 * address, all in network order (7 or 19 bytes). */
#define SOCKET_UDP_ADDRESS_MAX 19

struct socket_event {
	int type;
	int id;
	int ud;
	uintptr_t opaque; /* owner of the socket */
	/* DATA/UDP: malloc'd buffer whose ownership passes to the handler.
	 * CONNECT/ACCEPT/ERROR: NUL-terminated text, valid during the call only.
	 * CLOSE/WARNING: NULL. */
	char *data;
	size_t size; /* DATA: ud; UDP: ud + address bytes; text: strlen */
};

/* Called on the socket thread for every event, in order.  Returns 0, or -1
 * when the owner is gone (the callback has released DATA/UDP data then). */
typedef int (*socket_event_cb)(void *ud, const struct socket_event *ev);

/* Default cap on the unsent output of one connection (config key
 * socket_max_unsent): far above what a healthy peer leaves queued (the
 * warnings start at 1 MiB), low enough that a few stalled peers cannot
 * take the machine's memory. */
#define SOCKET_MAX_UNSENT_DEFAULT ((size_t)64 * 1024 * 1024)

/* For SOCKET_BUFFER_OBJECT sends. */
struct socket_object_interface {
	const void *(*buffer)(const void *obj);
	size_t (*size)(const void *obj);
	void (*free)(void *obj);
};

struct socket_server;

/* `now_cs` gives timestamps for statistics (centiseconds); NULL uses an
 * internal monotonic clock.  Returns NULL if epoll or the pipe can't be made. */
struct socket_server *socket_server_create(uint64_t (*now_cs)(void));
/* Closes every socket and frees everything; the socket thread must be gone. */
void socket_server_release(struct socket_server *ss);
/* Looks for I/O once -- waiting for some if `block` -- and reports the
 * events through cb.  Returns how many epoll events were handled (0 on a
 * signal), or -1 once socket_server_exit() has been processed.  Calls must
 * not overlap: one thread at a time (see socket_internal.h). */
int socket_server_poll(struct socket_server *ss, socket_event_cb cb, void *ud, bool block);
/* Asks the socket thread to leave its loop (returns at once). */
void socket_server_exit(struct socket_server *ss);
void socket_server_userobject(struct socket_server *ss, const struct socket_object_interface *soi);
/* Backpressure settings, before use.  max_unsent: a connection whose unsent
 * output (bytes plus a small charge per queued write) would pass it is
 * closed, its owner getting an ERROR that names the peer; 0 = no cap
 * (default SOCKET_MAX_UNSENT_DEFAULT).  backlog(handle): the backlog of a
 * sink (see socket_server_sink), -1 if it is gone; NULL ignores sinks.
 * May be called again at any time. */
typedef int (*socket_backlog_fn)(uint32_t handle);
void socket_server_limits(struct socket_server *ss, size_t max_unsent, socket_backlog_fn backlog);

/* All the following are safe from any thread.  Functions returning an id
 * return -1 on failure (no free slot, bad arguments, or a synchronous
 * bind/listen failure).  Requests on ids that are stale or not in a suitable
 * state are ignored. */

/* bind + listen now (-1 with errno set on failure); a CONNECT event (local
 * ip, ud = port) follows; accepting starts with socket_server_start().
 * host NULL or "" means 0.0.0.0. */
int socket_server_listen(struct socket_server *ss, uintptr_t opaque, const char *host, int port,
                         int backlog);
/* Resolves and starts a non-blocking connect in the caller; the outcome is a
 * CONNECT (peer ip) or ERROR event. */
int socket_server_connect(struct socket_server *ss, uintptr_t opaque, const char *host, int port);
/* Adopts an OS fd (e.g. 0 for stdin); CONNECT "binding" follows. */
int socket_server_bind(struct socket_server *ss, uintptr_t opaque, int fd);
/* Start or resume reading (accepting for listen sockets) and make `opaque`
 * the owner.  CONNECT "start" (or "transfer" for a connected socket) follows. */
void socket_server_start(struct socket_server *ss, uintptr_t opaque, int id);
void socket_server_pause(struct socket_server *ss, uintptr_t opaque, int id);
/* Graceful close: queued output is still sent. */
void socket_server_close(struct socket_server *ss, uintptr_t opaque, int id);
/* Immediate close: queued output is dropped. */
void socket_server_shutdown(struct socket_server *ss, uintptr_t opaque, int id);
void socket_server_nodelay(struct socket_server *ss, int id);
/* The owner has dispatched a DATA event of `size` bytes of socket id (any
 * thread).  A socket is read only while few of its DATA events wait at
 * the owner, so every DATA event must be reported here once handled. */
void socket_server_consumed(struct socket_server *ss, int id, size_t size);
/* What is read from socket id ends up, cut into frames of at least 2
 * bytes, at service `sink` (0: none, the default): the socket is read only
 * while the sink's backlog leaves room (a gate sets this for its agents). */
void socket_server_sink(struct socket_server *ss, int id, uint32_t sink);

/* 0 on success, -1 if the socket is invalid (a MEMORY buffer is freed either way). */
int socket_server_send(struct socket_server *ss, const struct socket_sendbuffer *buf);
int socket_server_send_lowpriority(struct socket_server *ss, const struct socket_sendbuffer *buf);

/* UDP.  `addr` may be NULL (unbound, IPv4). */
int socket_server_udp(struct socket_server *ss, uintptr_t opaque, const char *addr, int port);
/* Sets the default peer used by socket_server_send on a UDP socket.  0 / -1. */
int socket_server_udp_connect(struct socket_server *ss, int id, const char *addr, int port);
/* A UDP socket with its default peer set (dial) or bound to addr:port (listen). */
int socket_server_udp_dial(struct socket_server *ss, uintptr_t opaque, const char *addr, int port);
int socket_server_udp_listen(struct socket_server *ss, uintptr_t opaque, const char *addr, int port);
/* Sends one datagram to an address blob.  0; -1 for an invalid socket or a
 * malformed blob; -2 for an address of the other family (IPv4 vs IPv6).
 * A MEMORY buffer is freed in every case. */
int socket_server_udp_send(struct socket_server *ss, const char *address, size_t addrsz,
                           const struct socket_sendbuffer *buf);
/* Size of the address blob at the end of a UDP event's buffer (7 or 19), or 0. */
int socket_udp_address_size(const char *address, size_t avail);
/* Decodes an address blob into a printable ip and a port; 0 or -1. */
int socket_udp_address_decode(const char *address, size_t sz, char *ip, size_t iplen, int *port);

/* Snapshot of every live socket (caller releases with socket_info_release). */
struct socket_info *socket_server_info(struct socket_server *ss);
/* Bytes read and written by all sockets since the server was created. */
void socket_server_totals(struct socket_server *ss, uint64_t *rbytes, uint64_t *wbytes);

#endif
