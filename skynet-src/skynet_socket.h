/*
 * skynet_socket.h -- the bridge between the socket server and services.
 * (Networking lands with issue #3; until then the socket thread has nothing
 * to poll and returns at once.)
 */
#ifndef SKYNET_SOCKET_H
#define SKYNET_SOCKET_H

void skynet_socket_init(void);
void skynet_socket_exit(void);
void skynet_socket_free(void);
/* Handles socket events; returns 0 when the socket server has closed. */
int skynet_socket_poll(void);

#endif
