/*
 * socket_addr.c -- see socket_addr.h.
 */
#include "socket_addr.h"
#include "socket_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void sockfd_nonblocking(int fd) {
	int flags = fcntl(fd, F_GETFL, 0);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void sockfd_keepalive(int fd) {
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

void sockfd_nodelay(int fd) {
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* "ip" or "ip:port" of an address, IPv6 without brackets; false if the
 * family is unknown. */
bool sockaddr_format(const union sockaddr_all *u, char *out, size_t len, bool with_port) {
	char ip[INET6_ADDRSTRLEN];
	int port;
	if (u->s.sa_family == AF_INET) {
		inet_ntop(AF_INET, &u->v4.sin_addr, ip, sizeof(ip));
		port = ntohs(u->v4.sin_port);
	} else if (u->s.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &u->v6.sin6_addr, ip, sizeof(ip));
		port = ntohs(u->v6.sin6_port);
	} else {
		return false;
	}
	if (with_port)
		snprintf(out, len, "%s:%d", ip, port);
	else
		snprintf(out, len, "%s", ip);
	return true;
}

int sockaddr_port(const union sockaddr_all *u) {
	return ntohs(u->s.sa_family == AF_INET ? u->v4.sin_port : u->v6.sin6_port);
}

/* Resolves host:port (getaddrinfo, any family unless `family` says so). */
int sockaddr_resolve(const char *host, int port, int socktype, int family, bool passive,
                     struct addrinfo **res) {
	if (port < 0 || port > 65535)
		return EAI_SERVICE;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = socktype;
	hints.ai_protocol = socktype == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if (host == NULL || host[0] == '\0')
		host = "0.0.0.0";
	return getaddrinfo(host, portstr, &hints, res);
}

/* Tries every address getaddrinfo gives, in order; errno on failure is
 * that of the last attempt (EADDRNOTAVAIL when the name did not resolve). */
int sockaddr_bind(const char *host, int port, int socktype, int *family) {
	struct addrinfo *list;
	if (sockaddr_resolve(host, port, socktype, AF_UNSPEC, true, &list) != 0) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	int fd = -1, err = EADDRNOTAVAIL;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			*family = ai->ai_family;
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(list);
	if (fd < 0)
		errno = err;
	return fd;
}

int sockaddr_udp_encode(const union sockaddr_all *u, char *out) {
	if (u->s.sa_family == AF_INET) {
		out[0] = 1;
		memcpy(out + 1, &u->v4.sin_port, 2);
		memcpy(out + 3, &u->v4.sin_addr, 4);
		return 7;
	}
	if (u->s.sa_family == AF_INET6) {
		out[0] = 2;
		memcpy(out + 1, &u->v6.sin6_port, 2);
		memcpy(out + 3, &u->v6.sin6_addr, 16);
		return 19;
	}
	return 0;
}

socklen_t sockaddr_udp_decode(const char *address, size_t sz, union sockaddr_all *u) {
	memset(u, 0, sizeof(*u));
	if (sz == 7 && address[0] == 1) {
		u->v4.sin_family = AF_INET;
		memcpy(&u->v4.sin_port, address + 1, 2);
		memcpy(&u->v4.sin_addr, address + 3, 4);
		return sizeof(u->v4);
	}
	if (sz == 19 && address[0] == 2) {
		u->v6.sin6_family = AF_INET6;
		memcpy(&u->v6.sin6_port, address + 1, 2);
		memcpy(&u->v6.sin6_addr, address + 3, 16);
		return sizeof(u->v6);
	}
	return 0;
}

int socket_udp_address_size(const char *address, size_t avail) {
	if (address == NULL || avail < 1)
		return 0;
	int need = address[0] == 1 ? 7 : address[0] == 2 ? 19 : 0;
	return (size_t)need <= avail ? need : 0;
}

int socket_udp_address_decode(const char *address, size_t sz, char *ip, size_t iplen, int *port) {
	union sockaddr_all u;
	if (sockaddr_udp_decode(address, sz, &u) == 0)
		return -1;
	if (!sockaddr_format(&u, ip, iplen, false))
		return -1;
	*port = ntohs(u.s.sa_family == AF_INET ? u.v4.sin_port : u.v6.sin6_port);
	return 0;
}
