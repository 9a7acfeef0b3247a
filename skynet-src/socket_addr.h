/*
 * socket_addr.h -- addresses and fd options for the socket server:
 * getaddrinfo resolution, "ip:port" formatting (IPv6 without brackets), the
 * UDP address blob (1 = IPv4 or 2 = IPv6, the port and the address, both
 * in network order: 7 or 19 bytes), and the socket options every
 * connection gets.  Internal to the socket server.
 */
#ifndef SOCKET_ADDR_H
#define SOCKET_ADDR_H

#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

union sockaddr_all {
	struct sockaddr s;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/* getaddrinfo for host:port (host NULL or "" = 0.0.0.0); family AF_UNSPEC
 * for any.  Returns 0 or an EAI_* code (EAI_SERVICE for a bad port). */
int sockaddr_resolve(const char *host, int port, int socktype, int family, bool passive,
                     struct addrinfo **res);
/* socket() + SO_REUSEADDR + bind() on the first address of host:port that
 * works; returns a non-blocking fd and its family, or -1 with errno set. */
int sockaddr_bind(const char *host, int port, int socktype, int *family);
/* "ip" or "ip:port"; false if the family is unknown. */
bool sockaddr_format(const union sockaddr_all *u, char *out, size_t len, bool with_port);
/* Port of an AF_INET/AF_INET6 address (host order). */
int sockaddr_port(const union sockaddr_all *u);
/* UDP address blob <-> sockaddr.  encode returns the blob size (7 or 19) or
 * 0; decode returns the sockaddr length or 0 for a malformed blob. */
int sockaddr_udp_encode(const union sockaddr_all *u, char *out);
socklen_t sockaddr_udp_decode(const char *address, size_t sz, union sockaddr_all *u);

void sockfd_nonblocking(int fd);
void sockfd_keepalive(int fd);
void sockfd_nodelay(int fd);

#endif
