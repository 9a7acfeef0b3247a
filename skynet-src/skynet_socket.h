/*
 * skynet_socket.h -- sockets for services: the C API a service uses, and
 * the glue that runs the socket server on the node's socket thread and
 * turns its events into PTYPE_SOCKET messages.
 *
 * Every socket belongs to one service (the one that opened, listened or
 * started it); its events arrive in that service's mailbox with source 0
 * and session 0, as a struct skynet_socket_message.
 */
#ifndef SKYNET_SOCKET_H
#define SKYNET_SOCKET_H

#include "socket_buffer.h"
#include "socket_info.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct skynet_context;

#define SKYNET_SOCKET_TYPE_DATA 1
#define SKYNET_SOCKET_TYPE_CONNECT 2
#define SKYNET_SOCKET_TYPE_CLOSE 3
#define SKYNET_SOCKET_TYPE_ACCEPT 4
#define SKYNET_SOCKET_TYPE_ERROR 5
#define SKYNET_SOCKET_TYPE_UDP 6
#define SKYNET_SOCKET_TYPE_WARNING 7

/* The PTYPE_SOCKET payload.  DATA/UDP: `buffer` is malloc'd and belongs to
 * the receiver, ud = its byte count (UDP: the sender's address follows the
 * data, see skynet_socket_udp_address).  Otherwise `buffer` is NULL and a
 * text of (message size - sizeof struct) bytes, at most 128, follows the
 * struct (NUL-terminated for convenience, the NUL not counted). */
struct skynet_socket_message {
	int type;
	int id;
	int ud;
	char *buffer;
};

/* Node lifecycle (skynet_start.c). */
void skynet_socket_init(void);
void skynet_socket_exit(void);
void skynet_socket_free(void);
/* Handles the socket events there are (waiting for some if `block`):
 * returns how many, or -1 once the socket server has closed.  One thread at
 * a time: skynet_poller.c decides which. */
int skynet_socket_poll(bool block);

/* Send functions return 0, or -1 if the socket is invalid (a MEMORY buffer
 * is freed either way).  Listen/connect/bind/udp return the new id or -1. */
int skynet_socket_sendbuffer(struct skynet_context *ctx, struct socket_sendbuffer *buffer);
int skynet_socket_sendbuffer_lowpriority(struct skynet_context *ctx, struct socket_sendbuffer *buffer);
int skynet_socket_listen(struct skynet_context *ctx, const char *host, int port, int backlog);
int skynet_socket_connect(struct skynet_context *ctx, const char *host, int port);
int skynet_socket_bind(struct skynet_context *ctx, int fd);
void skynet_socket_close(struct skynet_context *ctx, int id);
void skynet_socket_shutdown(struct skynet_context *ctx, int id);
void skynet_socket_start(struct skynet_context *ctx, int id);
void skynet_socket_pause(struct skynet_context *ctx, int id);
void skynet_socket_nodelay(struct skynet_context *ctx, int id);
/* Backpressure for gates: what is read from socket id ends up, as frames,
 * at service `sink` (0: none).  The socket is then read only while the
 * sink's backlog (its mailbox plus the requests it took and has not
 * finished) leaves room; see "Backpressure" in socket_server.c. */
void skynet_socket_sink(struct skynet_context *ctx, int id, uint32_t sink);

int skynet_socket_udp(struct skynet_context *ctx, const char *addr, int port);
int skynet_socket_udp_connect(struct skynet_context *ctx, int id, const char *addr, int port);
int skynet_socket_udp_dial(struct skynet_context *ctx, const char *addr, int port);
int skynet_socket_udp_listen(struct skynet_context *ctx, const char *addr, int port);
/* `address` is a blob from a UDP message (7 or 19 bytes, socket_addr.h). */
int skynet_socket_udp_sendbuffer(struct skynet_context *ctx, const char *address,
                                 struct socket_sendbuffer *buffer);
/* The sender's address blob of a UDP message, and its size; NULL if the
 * message is not a well-formed UDP message. */
const char *skynet_socket_udp_address(struct skynet_socket_message *msg, int *addrsz);

/* Snapshot of all sockets; free with socket_info_release(). */
struct socket_info *skynet_socket_info(void);
/* Bytes read and written by all sockets of the node so far. */
void skynet_socket_totals(uint64_t *rbytes, uint64_t *wbytes);

/* Legacy helpers: sz >= 0 sends malloc'd memory, sz < 0 a user object. */
static inline void skynet_socket_sendbuffer_init_(struct socket_sendbuffer *buf, int id,
                                                  const void *buffer, int sz) {
	buf->id = id;
	buf->buffer = buffer;
	if (sz < 0) {
		buf->type = SOCKET_BUFFER_OBJECT;
		buf->sz = 0;
	} else {
		buf->type = SOCKET_BUFFER_MEMORY;
		buf->sz = (size_t)sz;
	}
}

static inline int skynet_socket_send(struct skynet_context *ctx, int id, void *buffer, int sz) {
	struct socket_sendbuffer tmp;
	skynet_socket_sendbuffer_init_(&tmp, id, buffer, sz);
	return skynet_socket_sendbuffer(ctx, &tmp);
}

static inline int skynet_socket_send_lowpriority(struct skynet_context *ctx, int id, void *buffer, int sz) {
	struct socket_sendbuffer tmp;
	skynet_socket_sendbuffer_init_(&tmp, id, buffer, sz);
	return skynet_socket_sendbuffer_lowpriority(ctx, &tmp);
}

static inline int skynet_socket_udp_send(struct skynet_context *ctx, int id, const char *address,
                                         const void *buffer, int sz) {
	struct socket_sendbuffer tmp;
	skynet_socket_sendbuffer_init_(&tmp, id, buffer, sz);
	return skynet_socket_udp_sendbuffer(ctx, address, &tmp);
}

#endif
