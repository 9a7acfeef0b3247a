/*
 * skynet_socket.c -- runs the socket server for the node and forwards its
 * events to the owning services as PTYPE_SOCKET messages.
 *
 * The socket server is created before any thread starts and freed after
 * they are all joined, so the pointer needs no synchronisation.
 */
#include "skynet_socket.h"
#include "skynet.h"
#include "skynet_env.h"
#include "skynet_mq.h"
#include "skynet_server.h"
#include "socket_server.h"

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct socket_server *SOCKET_SERVER;

/* Worker threads: a service has dispatched a socket message.  DATA counts
 * against its socket's backpressure until then (socket_server_consumed). */
static void observe_dispatch(uint32_t source, const void *head, size_t sz) {
	_Static_assert(offsetof(struct skynet_socket_message, ud) + sizeof(int) <= SKYNET_OBSERVE_HEAD,
	               "the observer sees type, id and ud");
	struct skynet_socket_message m;
	if (source != 0 || sz < sizeof(m))
		return; /* not from the socket thread */
	memcpy(&m, head, offsetof(struct skynet_socket_message, ud) + sizeof(int));
	if (m.type == SKYNET_SOCKET_TYPE_DATA && m.ud > 0)
		socket_server_consumed(SOCKET_SERVER, m.id, (size_t)m.ud);
}

/* socket_max_unsent: bytes, an integer >= 0 (0 = no cap). */
static size_t config_max_unsent(void) {
	const char *str = skynet_getenv("socket_max_unsent");
	if (str == NULL)
		return SOCKET_MAX_UNSENT_DEFAULT;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(str, &end, 10);
	if (end == str || *end != '\0' || str[0] == '-' || errno == ERANGE) {
		fprintf(stderr, "Invalid config value socket_max_unsent = %s (bytes, an integer >= 0 expected)\n",
		        str);
		exit(1);
	}
	return (size_t)v;
}

/* Runs before the logger exists, so a failure (out of fds, a bad config
 * value) goes to stderr and ends the start-up: every socket call relies
 * on the server. */
void skynet_socket_init(void) {
	size_t max_unsent = config_max_unsent();
	SOCKET_SERVER = socket_server_create(skynet_now);
	if (SOCKET_SERVER == NULL) {
		fprintf(stderr, "skynet: can't create the socket server: %s\n", strerror(errno));
		exit(1);
	}
	socket_server_limits(SOCKET_SERVER, max_unsent, skynet_context_backlog);
	skynet_context_observe(PTYPE_SOCKET, observe_dispatch);
}

void skynet_socket_exit(void) {
	if (SOCKET_SERVER)
		socket_server_exit(SOCKET_SERVER);
}

void skynet_socket_free(void) {
	socket_server_release(SOCKET_SERVER);
	SOCKET_SERVER = NULL;
}

/* The poller: one event -> one message to the socket's owner. */
static int forward_event(void *ud, const struct socket_event *ev) {
	(void)ud;
	bool owns_data = ev->type == SOCKET_EV_DATA || ev->type == SOCKET_EV_UDP;
	size_t textsz = 0;
	if (!owns_data && ev->data) {
		textsz = strlen(ev->data);
		if (textsz > SOCKET_EV_TEXT_MAX)
			textsz = SOCKET_EV_TEXT_MAX;
	}
	size_t sz = sizeof(struct skynet_socket_message) + textsz;
	struct skynet_socket_message *sm = skynet_malloc(sz + 1);
	sm->type = ev->type;
	sm->id = ev->id;
	sm->ud = ev->ud;
	if (owns_data) {
		sm->buffer = ev->data;
	} else {
		sm->buffer = NULL;
		memcpy(sm + 1, ev->data ? ev->data : "", textsz);
		((char *)(sm + 1))[textsz] = '\0';
	}
	struct skynet_message msg;
	msg.source = 0;
	msg.session = 0;
	msg.data = sm;
	msg.sz = sz | ((size_t)PTYPE_SOCKET << MESSAGE_TYPE_SHIFT);
	if (skynet_context_push((uint32_t)ev->opaque, &msg)) {
		/* the owner is gone: nobody will free these */
		if (owns_data)
			skynet_free(ev->data);
		skynet_free(sm);
		return -1;
	}
	return 0;
}

int skynet_socket_poll(bool block) {
	return socket_server_poll(SOCKET_SERVER, forward_event, NULL, block);
}

static uintptr_t owner(struct skynet_context *ctx) {
	return ctx ? skynet_context_handle(ctx) : 0;
}

int skynet_socket_sendbuffer(struct skynet_context *ctx, struct socket_sendbuffer *buffer) {
	(void)ctx;
	return socket_server_send(SOCKET_SERVER, buffer);
}

int skynet_socket_sendbuffer_lowpriority(struct skynet_context *ctx, struct socket_sendbuffer *buffer) {
	(void)ctx;
	return socket_server_send_lowpriority(SOCKET_SERVER, buffer);
}

int skynet_socket_listen(struct skynet_context *ctx, const char *host, int port, int backlog) {
	return socket_server_listen(SOCKET_SERVER, owner(ctx), host, port, backlog);
}

int skynet_socket_connect(struct skynet_context *ctx, const char *host, int port) {
	return socket_server_connect(SOCKET_SERVER, owner(ctx), host, port);
}

int skynet_socket_bind(struct skynet_context *ctx, int fd) {
	return socket_server_bind(SOCKET_SERVER, owner(ctx), fd);
}

void skynet_socket_close(struct skynet_context *ctx, int id) {
	socket_server_close(SOCKET_SERVER, owner(ctx), id);
}

void skynet_socket_shutdown(struct skynet_context *ctx, int id) {
	socket_server_shutdown(SOCKET_SERVER, owner(ctx), id);
}

void skynet_socket_start(struct skynet_context *ctx, int id) {
	socket_server_start(SOCKET_SERVER, owner(ctx), id);
}

void skynet_socket_pause(struct skynet_context *ctx, int id) {
	socket_server_pause(SOCKET_SERVER, owner(ctx), id);
}

void skynet_socket_sink(struct skynet_context *ctx, int id, uint32_t sink) {
	(void)ctx;
	socket_server_sink(SOCKET_SERVER, id, sink);
}

void skynet_socket_nodelay(struct skynet_context *ctx, int id) {
	(void)ctx;
	socket_server_nodelay(SOCKET_SERVER, id);
}

int skynet_socket_udp(struct skynet_context *ctx, const char *addr, int port) {
	return socket_server_udp(SOCKET_SERVER, owner(ctx), addr, port);
}

int skynet_socket_udp_connect(struct skynet_context *ctx, int id, const char *addr, int port) {
	(void)ctx;
	return socket_server_udp_connect(SOCKET_SERVER, id, addr, port);
}

int skynet_socket_udp_dial(struct skynet_context *ctx, const char *addr, int port) {
	return socket_server_udp_dial(SOCKET_SERVER, owner(ctx), addr, port);
}

int skynet_socket_udp_listen(struct skynet_context *ctx, const char *addr, int port) {
	return socket_server_udp_listen(SOCKET_SERVER, owner(ctx), addr, port);
}

int skynet_socket_udp_sendbuffer(struct skynet_context *ctx, const char *address,
                                 struct socket_sendbuffer *buffer) {
	size_t asz = (size_t)socket_udp_address_size(address, SOCKET_UDP_ADDRESS_MAX);
	int r = socket_server_udp_send(SOCKET_SERVER, address, asz, buffer);
	if (r == -2) {
		skynet_error(ctx, "socket: udp send to an address of the other family dropped (id = %d)",
		             buffer->id);
		return -1;
	}
	return r;
}

const char *skynet_socket_udp_address(struct skynet_socket_message *msg, int *addrsz) {
	if (msg->type != SKYNET_SOCKET_TYPE_UDP || msg->buffer == NULL || msg->ud < 0)
		return NULL;
	const char *address = msg->buffer + msg->ud;
	/* the socket server always appends a whole address */
	int sz = socket_udp_address_size(address, SOCKET_UDP_ADDRESS_MAX);
	if (sz == 0)
		return NULL;
	if (addrsz)
		*addrsz = sz;
	return address;
}

void skynet_socket_totals(uint64_t *rbytes, uint64_t *wbytes) {
	socket_server_totals(SOCKET_SERVER, rbytes, wbytes);
}

struct socket_info *skynet_socket_info(void) {
	return socket_server_info(SOCKET_SERVER);
}
