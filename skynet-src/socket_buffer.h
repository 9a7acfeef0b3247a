/*
 * socket_buffer.h -- what a service hands to the socket layer to send.
 *
 * Shared by the socket server (socket_server.h) and the public C API
 * (skynet_socket.h), so that a C service and the Lua binding describe a
 * buffer the same way.
 */
#ifndef SOCKET_BUFFER_H
#define SOCKET_BUFFER_H

#include <stddef.h>

/* MEMORY: malloc'd with skynet_malloc; the socket layer frees it (also when
 *         the send fails).
 * OBJECT: a user object understood by the interface registered with
 *         socket_server_userobject(); `sz` is ignored.  Without an interface
 *         the send fails and the object is left to the caller.
 * RAWPOINTER: the caller keeps the memory; the socket layer copies whatever
 *         it cannot write at once. */
#define SOCKET_BUFFER_MEMORY 0
#define SOCKET_BUFFER_OBJECT 1
#define SOCKET_BUFFER_RAWPOINTER 2

struct socket_sendbuffer {
	int id;
	int type;
	const void *buffer;
	size_t sz;
};

#endif
