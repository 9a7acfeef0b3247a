/*
 * lua-client.c -- `client.socket` (luaclib/client.so) for plain Lua
 * clients run by the stand-alone interpreter (`lua examples/client.lua`),
 * outside any skynet node.
 *
 *   connect(host, port) -> fd          blocking connect (IPv4 or IPv6,
 *                                      getaddrinfo), then non-blocking;
 *                                      raises "connect host:port: reason"
 *   recv(fd) -> string | "" | nil      bytes available now; "" when the
 *                                      peer closed; nil when nothing is
 *                                      there yet; raises on socket errors
 *   send(fd, str)                      writes all of str (waits as needed)
 *   shutdown(fd [, "r"|"w"|"rw"])      half or full shutdown (default "rw")
 *   close(fd)
 *   usleep(us)
 *   readstdin() -> line | nil | false  a line typed on stdin, without its
 *                                      newline; nil when no whole line is
 *                                      there yet; false once stdin is at
 *                                      end of file and nothing is left
 *
 * Built without the skynet core and without liblua: the interpreter that
 * loads it exports the Lua API.
 */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define RECV_CHUNK 65536
#define STDIN_MAX (64 * 1024) /* a longer line is cut there */

static int check_fd(lua_State *L, int idx) {
	lua_Integer fd = luaL_checkinteger(L, idx);
	if (fd < 0 || fd > 0x7fffffff)
		luaL_error(L, "client.socket: invalid fd %d", (int)fd);
	return (int)fd;
}

/* connect(host, port) -> fd */
static int lconnect(lua_State *L) {
	const char *host = luaL_checkstring(L, 1);
	lua_Integer port = luaL_checkinteger(L, 2);
	if (port <= 0 || port > 65535)
		return luaL_error(L, "connect %s:%d: invalid port", host, (int)port);
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", (int)port);
	struct addrinfo hints, *list;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	int r = getaddrinfo(host, portstr, &hints, &list);
	if (r != 0)
		return luaL_error(L, "connect %s:%d: %s", host, (int)port, gai_strerror(r));
	int fd = -1, err = 0;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(list);
	if (fd < 0)
		return luaL_error(L, "connect %s:%d: %s", host, (int)port, strerror(err));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
	lua_pushinteger(L, fd);
	return 1;
}

/* recv(fd) -> data | "" (closed) | nil (nothing yet) */
static int lrecv(lua_State *L) {
	int fd = check_fd(L, 1);
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, RECV_CHUNK);
	ssize_t n;
	do {
		n = recv(fd, p, RECV_CHUNK, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return luaL_error(L, "client.socket recv: %s", strerror(errno));
	}
	luaL_pushresultsize(&b, (size_t)n);
	return 1;
}

/* send(fd, str): all of it, waiting for room when the kernel buffer is full */
static int lsend(lua_State *L) {
	int fd = check_fd(L, 1);
	size_t len;
	const char *s = luaL_checklstring(L, 2, &len);
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = {fd, POLLOUT, 0};
				poll(&pfd, 1, 1000);
				continue;
			}
			return luaL_error(L, "client.socket send: %s", strerror(errno));
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int lshutdown(lua_State *L) {
	int fd = check_fd(L, 1);
	const char *how = luaL_optstring(L, 2, "rw");
	int mode = SHUT_RDWR;
	if (strcmp(how, "r") == 0)
		mode = SHUT_RD;
	else if (strcmp(how, "w") == 0)
		mode = SHUT_WR;
	else if (strcmp(how, "rw") != 0)
		return luaL_error(L, "client.socket shutdown: mode must be \"r\", \"w\" or \"rw\", got \"%s\"", how);
	shutdown(fd, mode);
	return 0;
}

static int lclose(lua_State *L) {
	close(check_fd(L, 1));
	return 0;
}

static int lusleep(lua_State *L) {
	lua_Integer us = luaL_checkinteger(L, 1);
	if (us > 0) {
		struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
		}
	}
	return 0;
}

/* ------------------------------------------------------------- stdin */

/* Bytes read from fd 0 that do not form a whole line yet.  The module is
 * used by one interpreter thread, so a static buffer is enough. */
static char stdin_buf[STDIN_MAX];
static size_t stdin_len;
static bool stdin_eof;

/* Pushes the first line of the buffer (without "\n" or "\r\n") and
 * removes it; false if there is no whole line (at EOF: the rest counts). */
static bool pop_line(lua_State *L) {
	char *nl = memchr(stdin_buf, '\n', stdin_len);
	size_t take, len;
	if (nl) {
		len = (size_t)(nl - stdin_buf);
		take = len + 1;
	} else if (stdin_len == STDIN_MAX || (stdin_eof && stdin_len > 0)) {
		len = take = stdin_len;
	} else {
		return false;
	}
	if (len > 0 && stdin_buf[len - 1] == '\r')
		len--;
	lua_pushlstring(L, stdin_buf, len);
	memmove(stdin_buf, stdin_buf + take, stdin_len - take);
	stdin_len -= take;
	return true;
}

/* readstdin() -> line | nil | false; never blocks */
static int lreadstdin(lua_State *L) {
	if (pop_line(L))
		return 1;
	while (!stdin_eof && stdin_len < STDIN_MAX) {
		struct pollfd pfd = {0, POLLIN, 0};
		int r = poll(&pfd, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ssize_t n = read(0, stdin_buf + stdin_len, STDIN_MAX - stdin_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			stdin_eof = true; /* unreadable stdin counts as closed */
		} else if (n == 0) {
			stdin_eof = true;
		} else {
			stdin_len += (size_t)n;
			if (memchr(stdin_buf + stdin_len - (size_t)n, '\n', (size_t)n))
				break;
		}
	}
	if (pop_line(L))
		return 1;
	if (stdin_eof) {
		lua_pushboolean(L, 0);
		return 1;
	}
	return 0;
}

LUAMOD_API int luaopen_client_socket(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
	    {"connect", lconnect},   {"recv", lrecv},   {"send", lsend},
	    {"shutdown", lshutdown}, {"close", lclose}, {"usleep", lusleep},
	    {"readstdin", lreadstdin}, {NULL, NULL},
	};
	luaL_newlib(L, l);
	return 1;
}
