/*
 * socket_info.h -- a snapshot of one socket, for `socket.netstat()` and the
 * debug console.  skynet_socket_info() returns a singly linked list built by
 * the socket server; release it with socket_info_release().
 */
#ifndef SOCKET_INFO_H
#define SOCKET_INFO_H

#include <stdint.h>

#define SOCKET_INFO_UNKNOWN 0
#define SOCKET_INFO_LISTEN 1
#define SOCKET_INFO_TCP 2
#define SOCKET_INFO_UDP 3
#define SOCKET_INFO_BIND 4
#define SOCKET_INFO_CLOSING 5

struct socket_info {
	int id;
	int type;           /* SOCKET_INFO_* */
	uint64_t opaque;    /* owner service handle */
	uint64_t read;      /* bytes read (LISTEN: connections accepted) */
	uint64_t write;     /* bytes written */
	uint64_t rtime;     /* time of the last read, centiseconds (skynet_now clock) */
	uint64_t wtime;     /* time of the last write */
	int64_t wbuffer;    /* bytes queued for sending */
	uint8_t reading;    /* the owner wants data (not paused) */
	uint8_t writing;    /* output is queued */
	char name[128];     /* "ip:port": peer for TCP/UDP, local address for LISTEN */
	struct socket_info *next;
};

/* Allocates a zeroed entry linked in front of `last` (which may be NULL). */
struct socket_info *socket_info_create(struct socket_info *last);
/* Frees the whole list. */
void socket_info_release(struct socket_info *si);

#endif
