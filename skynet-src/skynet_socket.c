/* skynet_socket.c -- placeholder until the socket server lands (issue #3). */
#include "skynet_socket.h"

void skynet_socket_init(void) {}
void skynet_socket_exit(void) {}
void skynet_socket_free(void) {}
int skynet_socket_poll(void) { return 0; }
