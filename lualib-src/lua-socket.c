/*
 * lua-socket.c -- `skynet.socketdriver`, the C layer under skynet.socket.
 *
 * Two groups of functions:
 *
 *  - socket requests bound to the calling service (the service context is
 *    an upvalue): connect, close, shutdown, listen, send, lsend, bind, start,
 *    pause, nodelay, sink (backpressure for gates), udp, udp_connect,
 *    udp_dial, udp_listen, udp_send (alias sendto), plus resolve and info;
 *
 *  - helpers with no service context: the receive buffer (buffer, push, pop,
 *    readall, readline, clear, size), drop, str2p, header, unpack,
 *    udp_address.
 *
 * The receive buffer is a userdata holding a list of the DATA buffers the
 * socket thread allocated, in arrival order, so received bytes are copied
 * once: into the Lua string a read returns.  For compatibility with code
 * written against upstream's signatures, the buffer functions accept and
 * ignore a table (upstream's node pool) right after the buffer argument.
 *
 * Every length that came from the network is checked against the bytes
 * actually held before anything is copied.
 */
#include "skynet.h"
#include "skynet_socket.h"
#include "socket_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define BUFFER_MT "skynet.socketbuffer"
#define SEP_MAX 64 /* longest separator readline remembers a scan position for */

/* ------------------------------------------------------- receive buffer */

struct chunk {
	struct chunk *next;
	char *data; /* a DATA message buffer, freed with skynet_free */
	size_t sz;
};

struct sbuffer {
	struct chunk *head;
	struct chunk *tail;
	size_t offset; /* bytes of head already consumed */
	size_t size;   /* unread bytes */
	/* readline memo: the first `scanned` unread bytes are known not to start
	 * `sep`, so a line arriving in many small pieces is scanned once. */
	size_t scanned;
	size_t seplen;
	char sep[SEP_MAX];
};

static struct sbuffer *check_buffer(lua_State *L, int idx) {
	return luaL_checkudata(L, idx, BUFFER_MT);
}

/* Index of the first argument after the buffer (skipping a pool table). */
static int after_buffer(lua_State *L) {
	return lua_type(L, 2) == LUA_TTABLE ? 3 : 2;
}

static void buffer_clear(struct sbuffer *b) {
	struct chunk *c = b->head;
	while (c) {
		struct chunk *next = c->next;
		skynet_free(c->data);
		skynet_free(c);
		c = next;
	}
	b->head = b->tail = NULL;
	b->offset = b->size = b->scanned = 0;
}

static int lbuffer_gc(lua_State *L) {
	buffer_clear(check_buffer(L, 1));
	return 0;
}

/* buffer() -> a new empty receive buffer */
static int lbuffer(lua_State *L) {
	struct sbuffer *b = lua_newuserdatauv(L, sizeof(*b), 0);
	memset(b, 0, sizeof(*b));
	luaL_setmetatable(L, BUFFER_MT);
	return 1;
}

/* push(buf, [pool,] msg, sz) -> buffered size.  Takes ownership of msg. */
static int lpush(lua_State *L) {
	struct sbuffer *b = check_buffer(L, 1);
	int a = after_buffer(L);
	void *msg = lua_touserdata(L, a);
	lua_Integer sz = luaL_checkinteger(L, a + 1);
	if (msg == NULL) {
		lua_pushinteger(L, (lua_Integer)b->size);
		return 1;
	}
	if (sz <= 0) {
		skynet_free(msg);
		lua_pushinteger(L, (lua_Integer)b->size);
		return 1;
	}
	struct chunk *c = skynet_malloc(sizeof(*c));
	c->next = NULL;
	c->data = msg;
	c->sz = (size_t)sz;
	if (b->tail)
		b->tail->next = c;
	else
		b->head = c;
	b->tail = c;
	b->size += (size_t)sz;
	lua_pushinteger(L, (lua_Integer)b->size);
	return 1;
}

/* Drops n (<= size) bytes from the front. */
static void buffer_skip(struct sbuffer *b, size_t n) {
	b->size -= n;
	b->scanned = b->scanned > n ? b->scanned - n : 0;
	while (n > 0) {
		struct chunk *c = b->head;
		size_t avail = c->sz - b->offset;
		if (n < avail) {
			b->offset += n;
			return;
		}
		n -= avail;
		b->head = c->next;
		if (b->head == NULL)
			b->tail = NULL;
		b->offset = 0;
		skynet_free(c->data);
		skynet_free(c);
	}
}

/* Pushes the first n (<= size) bytes as a string and consumes them. */
static void buffer_pop_string(lua_State *L, struct sbuffer *b, size_t n) {
	if (n == 0) {
		lua_pushliteral(L, "");
		return;
	}
	struct chunk *c = b->head;
	if (c->sz - b->offset >= n) {
		lua_pushlstring(L, c->data + b->offset, n);
	} else {
		luaL_Buffer lb;
		char *dst = luaL_buffinitsize(L, &lb, n);
		size_t copied = 0, off = b->offset;
		for (; copied < n; c = c->next, off = 0) {
			size_t take = c->sz - off;
			if (take > n - copied)
				take = n - copied;
			memcpy(dst + copied, c->data + off, take);
			copied += take;
		}
		luaL_pushresultsize(&lb, n);
	}
	buffer_skip(b, n);
}

/* pop(buf, [pool,] n) -> exactly n bytes, or nil if fewer are buffered */
static int lpop(lua_State *L) {
	struct sbuffer *b = check_buffer(L, 1);
	lua_Integer n = luaL_checkinteger(L, after_buffer(L));
	if (n < 0)
		return luaL_error(L, "socket buffer: invalid read size %d", (int)n);
	if ((size_t)n > b->size)
		return 0;
	buffer_pop_string(L, b, (size_t)n);
	return 1;
}

/* readall(buf) -> every buffered byte (maybe "") */
static int lreadall(lua_State *L) {
	struct sbuffer *b = check_buffer(L, 1);
	buffer_pop_string(L, b, b->size);
	return 1;
}

/* clear(buf): drop everything */
static int lclear(lua_State *L) {
	buffer_clear(check_buffer(L, 1));
	return 0;
}

/* size(buf) -> buffered bytes */
static int lsize(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)check_buffer(L, 1)->size);
	return 1;
}

/* Does sep (len bytes, len >= 1) occur at chunk c, offset off?  Bytes past
 * the end of the buffer never match. */
static bool match_at(const struct chunk *c, size_t off, const char *sep, size_t len) {
	for (size_t i = 0; i < len; i++) {
		while (c && off >= c->sz) {
			c = c->next;
			off = 0;
		}
		if (c == NULL || c->data[off] != sep[i])
			return false;
		off++;
	}
	return true;
}

/* Position of the first sep at or after the memo, or -1 (memo updated). */
static long long buffer_find(struct sbuffer *b, const char *sep, size_t len) {
	if (len != b->seplen || len > SEP_MAX || memcmp(sep, b->sep, len) != 0) {
		b->scanned = 0;
		b->seplen = len <= SEP_MAX ? len : 0;
		if (b->seplen)
			memcpy(b->sep, sep, len);
	}
	if (b->size < len)
		return -1;
	size_t last = b->size - len; /* last position where sep fits */
	size_t pos = 0;              /* position of the current chunk's first unread byte */
	size_t off = b->offset;
	for (const struct chunk *c = b->head; c; c = c->next, off = 0) {
		size_t n = c->sz - off;
		size_t from = b->scanned > pos ? b->scanned - pos : 0;
		while (from < n && pos + from <= last) {
			const char *hit = memchr(c->data + off + from, sep[0], n - from);
			if (hit == NULL)
				break;
			size_t i = (size_t)(hit - (c->data + off));
			if (pos + i > last)
				break;
			if (match_at(c, off + i, sep, len)) {
				b->scanned = 0;
				return (long long)(pos + i);
			}
			from = i + 1;
		}
		pos += n;
		if (pos > last)
			break;
	}
	b->scanned = last + 1;
	return -1;
}

/* readline(buf, [pool,] sep="\n", check) -> the line without sep and
 * consumed, or nil; with check true only reports whether a line is there. */
static int lreadline(lua_State *L) {
	struct sbuffer *b = check_buffer(L, 1);
	int a = after_buffer(L);
	size_t len;
	const char *sep = luaL_optlstring(L, a, "\n", &len);
	bool check = lua_toboolean(L, a + 1);
	if (len == 0)
		return luaL_error(L, "socket readline: empty separator");
	long long at = buffer_find(b, sep, len);
	if (check) {
		lua_pushboolean(L, at >= 0);
		return 1;
	}
	if (at < 0)
		return 0;
	buffer_pop_string(L, b, (size_t)at);
	buffer_skip(b, len);
	return 1;
}

/* drop(msg, sz): free a DATA buffer nobody will read */
static int ldrop(lua_State *L) {
	void *msg = lua_touserdata(L, 1);
	skynet_free(msg);
	return 0;
}

/* str2p(str) -> lightuserdata (malloc'd copy), size */
static int lstr2p(lua_State *L) {
	size_t sz;
	const char *str = luaL_checklstring(L, 1, &sz);
	void *p = skynet_malloc(sz ? sz : 1);
	memcpy(p, str, sz);
	lua_pushlightuserdata(L, p);
	lua_pushinteger(L, (lua_Integer)sz);
	return 2;
}

/* header(str) -> big-endian integer of a 1..4 byte string */
static int lheader(lua_State *L) {
	size_t len;
	const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &len);
	if (len < 1 || len > 4)
		return luaL_error(L, "Invalid read %s", (const char *)s);
	lua_Integer v = 0;
	for (size_t i = 0; i < len; i++)
		v = (v << 8) | s[i];
	lua_pushinteger(L, v);
	return 1;
}

/* unpack(msg, sz) -> type, id, ud, data [, udp address]
 * data: lightuserdata for DATA/UDP, the text (maybe "") otherwise. */
static int lunpack(lua_State *L) {
	struct skynet_socket_message *m = lua_touserdata(L, 1);
	lua_Integer sz = luaL_checkinteger(L, 2);
	if (m == NULL || sz < (lua_Integer)sizeof(*m))
		return luaL_error(L, "socket unpack: invalid message (size %d)", (int)sz);
	lua_pushinteger(L, m->type);
	lua_pushinteger(L, m->id);
	lua_pushinteger(L, m->ud);
	if (m->buffer == NULL) {
		lua_pushlstring(L, (const char *)(m + 1), (size_t)sz - sizeof(*m));
		return 4;
	}
	lua_pushlightuserdata(L, m->buffer);
	if (m->type == SKYNET_SOCKET_TYPE_UDP) {
		int asz;
		const char *addr = skynet_socket_udp_address(m, &asz);
		if (addr) {
			lua_pushlstring(L, addr, (size_t)asz);
			return 5;
		}
	}
	return 4;
}

/* udp_address(blob) -> ip, port */
static int ludp_address(lua_State *L) {
	size_t sz;
	const char *addr = luaL_checklstring(L, 1, &sz);
	char ip[64];
	int port;
	if (socket_udp_address_decode(addr, sz, ip, sizeof(ip), &port) != 0)
		return luaL_error(L, "Invalid udp address");
	lua_pushstring(L, ip);
	lua_pushinteger(L, port);
	return 2;
}

/* resolve(host) -> { ip, ... } (blocking getaddrinfo) */
static int lresolve(lua_State *L) {
	const char *host = luaL_checkstring(L, 1);
	struct addrinfo hints, *list;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int r = getaddrinfo(host, NULL, &hints, &list);
	if (r != 0)
		return luaL_error(L, "resolve %s: %s", host, gai_strerror(r));
	lua_newtable(L);
	int n = 0;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		char ip[INET6_ADDRSTRLEN];
		const void *a;
		if (ai->ai_family == AF_INET)
			a = &((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			a = &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, a, ip, sizeof(ip)) == NULL)
			continue;
		bool dup = false;
		for (int i = 1; i <= n && !dup; i++) {
			lua_rawgeti(L, -1, i);
			dup = strcmp(lua_tostring(L, -1), ip) == 0;
			lua_pop(L, 1);
		}
		if (!dup) {
			lua_pushstring(L, ip);
			lua_rawseti(L, -2, ++n);
		}
	}
	freeaddrinfo(list);
	return 1;
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

/* info() -> { {id=, address=, type=, read=, ...}, ... } */
static int linfo(lua_State *L) {
	struct socket_info *list = skynet_socket_info();
	lua_newtable(L);
	int n = 0;
	for (struct socket_info *si = list; si; si = si->next) {
		lua_newtable(L);
		set_int(L, "id", si->id);
		set_int(L, "address", (lua_Integer)si->opaque);
		static const char *types[] = {"UNKNOWN", "LISTEN", "TCP", "UDP", "BIND", "CLOSING"};
		lua_pushstring(L, si->type >= 0 && si->type <= 5 ? types[si->type] : "UNKNOWN");
		lua_setfield(L, -2, "type");
		if (si->type == SOCKET_INFO_LISTEN) {
			set_int(L, "accept", (lua_Integer)si->read);
			set_int(L, "rtime", (lua_Integer)si->rtime);
			if (si->name[0]) {
				lua_pushstring(L, si->name);
				lua_setfield(L, -2, "sock");
			}
		} else {
			set_int(L, "read", (lua_Integer)si->read);
			set_int(L, "write", (lua_Integer)si->write);
			set_int(L, "wbuffer", (lua_Integer)si->wbuffer);
			set_int(L, "rtime", (lua_Integer)si->rtime);
			set_int(L, "wtime", (lua_Integer)si->wtime);
			lua_pushboolean(L, si->reading);
			lua_setfield(L, -2, "reading");
			lua_pushboolean(L, si->writing);
			lua_setfield(L, -2, "writing");
			if (si->name[0]) {
				lua_pushstring(L, si->name);
				lua_setfield(L, -2, "peer");
			}
		}
		lua_rawseti(L, -2, ++n);
	}
	socket_info_release(list);
	return 1;
}

/* ------------------------------------------------ requests (with context) */

static struct skynet_context *ctx_of(lua_State *L) {
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* Counts the bytes of an array of strings (checked). */
static size_t table_size(lua_State *L, int idx) {
	size_t total = 0;
	lua_Integer n = luaL_len(L, idx);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, idx, i);
		size_t len;
		if (lua_tolstring(L, -1, &len) == NULL)
			luaL_error(L, "socket write: table item %d is a %s, not a string", (int)i, luaL_typename(L, -1));
		total += len;
		lua_pop(L, 1);
	}
	return total;
}

/* The payload at idx (and idx+1): string / table of strings / lightuserdata
 * + size (ownership passes) / full userdata (+ size, copied if needed). */
static void get_buffer(lua_State *L, int idx, struct socket_sendbuffer *buf) {
	switch (lua_type(L, idx)) {
	case LUA_TUSERDATA: {
		buf->type = SOCKET_BUFFER_RAWPOINTER;
		buf->buffer = lua_touserdata(L, idx);
		size_t raw = lua_rawlen(L, idx);
		if (lua_isinteger(L, idx + 1)) {
			lua_Integer sz = lua_tointeger(L, idx + 1);
			if (sz < 0 || (size_t)sz > raw)
				luaL_error(L, "socket write: size %d out of the userdata's %d bytes", (int)sz, (int)raw);
			buf->sz = (size_t)sz;
		} else {
			buf->sz = raw;
		}
		break;
	}
	case LUA_TLIGHTUSERDATA: {
		buf->buffer = lua_touserdata(L, idx);
		lua_Integer sz = lua_isinteger(L, idx + 1) ? lua_tointeger(L, idx + 1) : -1;
		if (sz < 0) {
			buf->type = SOCKET_BUFFER_OBJECT;
			buf->sz = 0;
		} else {
			buf->type = SOCKET_BUFFER_MEMORY;
			buf->sz = (size_t)sz;
		}
		break;
	}
	case LUA_TTABLE: {
		size_t total = table_size(L, idx);
		char *p = skynet_malloc(total ? total : 1);
		size_t off = 0;
		lua_Integer n = luaL_len(L, idx);
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, i);
			size_t len;
			const char *s = lua_tolstring(L, -1, &len);
			memcpy(p + off, s, len);
			off += len;
			lua_pop(L, 1);
		}
		buf->type = SOCKET_BUFFER_MEMORY;
		buf->buffer = p;
		buf->sz = total;
		break;
	}
	default:
		buf->type = SOCKET_BUFFER_RAWPOINTER;
		buf->buffer = luaL_checklstring(L, idx, &buf->sz);
		break;
	}
}

static int check_id(lua_State *L, int idx) {
	return (int)luaL_checkinteger(L, idx);
}

/* Port argument: integer in 0..65535. */
static int check_port(lua_State *L, int idx, bool optional) {
	if (optional && lua_isnoneornil(L, idx))
		return 0;
	lua_Integer port = luaL_checkinteger(L, idx);
	if (port < 0 || port > 65535)
		luaL_error(L, "invalid port %d", (int)port);
	return (int)port;
}

/* connect(host, port) -> id (or nil when no socket slot is free) */
static int lconnect(lua_State *L) {
	const char *host = luaL_checkstring(L, 1);
	int port = check_port(L, 2, false);
	int id = skynet_socket_connect(ctx_of(L), host, port);
	if (id < 0)
		return 0;
	lua_pushinteger(L, id);
	return 1;
}

static int lclose(lua_State *L) {
	skynet_socket_close(ctx_of(L), check_id(L, 1));
	return 0;
}

static int lshutdown(lua_State *L) {
	skynet_socket_shutdown(ctx_of(L), check_id(L, 1));
	return 0;
}

/* listen(host, port, backlog) -> id; raises "Listen error: ..." */
static int llisten(lua_State *L) {
	const char *host = luaL_optstring(L, 1, "0.0.0.0");
	int port = check_port(L, 2, false);
	int backlog = (int)luaL_optinteger(L, 3, 32);
	errno = 0;
	int id = skynet_socket_listen(ctx_of(L), host, port, backlog);
	if (id < 0)
		return luaL_error(L, "Listen error: %s:%d: %s", host, port, errno ? strerror(errno) : "failed");
	lua_pushinteger(L, id);
	return 1;
}

static int send_common(lua_State *L, bool low) {
	int id = check_id(L, 1);
	struct socket_sendbuffer buf;
	buf.id = id;
	get_buffer(L, 2, &buf);
	int err = low ? skynet_socket_sendbuffer_lowpriority(ctx_of(L), &buf)
	              : skynet_socket_sendbuffer(ctx_of(L), &buf);
	lua_pushboolean(L, err == 0);
	return 1;
}

static int lsend(lua_State *L) {
	return send_common(L, false);
}

static int lsendlow(lua_State *L) {
	return send_common(L, true);
}

static int lbind(lua_State *L) {
	int fd = (int)luaL_checkinteger(L, 1);
	int id = skynet_socket_bind(ctx_of(L), fd);
	if (id < 0)
		return luaL_error(L, "bind fd %d failed", fd);
	lua_pushinteger(L, id);
	return 1;
}

static int lstart(lua_State *L) {
	skynet_socket_start(ctx_of(L), check_id(L, 1));
	return 0;
}

static int lpause(lua_State *L) {
	skynet_socket_pause(ctx_of(L), check_id(L, 1));
	return 0;
}

/* sink(id, handle): frames of socket id go on to service `handle` (0: none);
 * the socket is read only while that service's backlog leaves room. */
static int lsink(lua_State *L) {
	int id = check_id(L, 1);
	lua_Integer h = luaL_checkinteger(L, 2);
	if (h < 0 || h > (lua_Integer)UINT32_MAX)
		return luaL_error(L, "socket sink: invalid service address %d", (int)h);
	skynet_socket_sink(ctx_of(L), id, (uint32_t)h);
	return 0;
}

static int lnodelay(lua_State *L) {
	skynet_socket_nodelay(ctx_of(L), check_id(L, 1));
	return 0;
}

/* udp(host?, port?) -> id; raises "udp init failed" */
static int ludp(lua_State *L) {
	const char *host = luaL_optstring(L, 1, NULL);
	int port = check_port(L, 2, true);
	int id = skynet_socket_udp(ctx_of(L), host, port);
	if (id < 0)
		return luaL_error(L, "udp init failed");
	lua_pushinteger(L, id);
	return 1;
}

static int ludp_connect(lua_State *L) {
	int id = check_id(L, 1);
	const char *host = luaL_checkstring(L, 2);
	int port = check_port(L, 3, false);
	if (skynet_socket_udp_connect(ctx_of(L), id, host, port) != 0)
		return luaL_error(L, "udp connect %s:%d failed", host, port);
	return 0;
}

static int ludp_dial(lua_State *L) {
	const char *host = luaL_checkstring(L, 1);
	int port = check_port(L, 2, false);
	int id = skynet_socket_udp_dial(ctx_of(L), host, port);
	if (id < 0)
		return luaL_error(L, "udp dial %s:%d failed", host, port);
	lua_pushinteger(L, id);
	return 1;
}

static int ludp_listen(lua_State *L) {
	const char *host = luaL_checkstring(L, 1);
	int port = check_port(L, 2, false);
	int id = skynet_socket_udp_listen(ctx_of(L), host, port);
	if (id < 0)
		return luaL_error(L, "udp listen %s:%d failed", host, port);
	lua_pushinteger(L, id);
	return 1;
}

/* udp_send(id, address, data [, sz]) -> boolean */
static int ludp_send(lua_State *L) {
	int id = check_id(L, 1);
	size_t asz;
	const char *address = luaL_checklstring(L, 2, &asz);
	struct socket_sendbuffer buf;
	buf.id = id;
	get_buffer(L, 3, &buf);
	if (socket_udp_address_size(address, asz) != (int)asz) {
		if (buf.type == SOCKET_BUFFER_MEMORY)
			skynet_free((void *)buf.buffer);
		lua_pushboolean(L, 0);
		return 1;
	}
	int err = skynet_socket_udp_sendbuffer(ctx_of(L), address, &buf);
	lua_pushboolean(L, err == 0);
	return 1;
}

LUAMOD_API int luaopen_skynet_socketdriver(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg plain[] = {
	    {"buffer", lbuffer},   {"push", lpush},       {"pop", lpop},
	    {"readall", lreadall}, {"readline", lreadline}, {"clear", lclear},
	    {"size", lsize},       {"drop", ldrop},       {"str2p", lstr2p},
	    {"header", lheader},   {"unpack", lunpack},   {"udp_address", ludp_address},
	    {"resolve", lresolve}, {"info", linfo},       {NULL, NULL},
	};
	luaL_Reg with_context[] = {
	    {"connect", lconnect},   {"close", lclose},
	    {"shutdown", lshutdown}, {"listen", llisten},
	    {"send", lsend},         {"lsend", lsendlow},
	    {"bind", lbind},         {"start", lstart},
	    {"pause", lpause},       {"nodelay", lnodelay},
	    {"sink", lsink},
	    {"udp", ludp},           {"udp_connect", ludp_connect},
	    {"udp_dial", ludp_dial}, {"udp_listen", ludp_listen},
	    {"udp_send", ludp_send}, {"sendto", ludp_send},
	    {NULL, NULL},
	};
	luaL_newlib(L, plain);
	lua_getfield(L, LUA_REGISTRYINDEX, "skynet_context");
	struct skynet_context *ctx = lua_touserdata(L, -1);
	if (ctx == NULL)
		return luaL_error(L, "Init skynet context first");
	luaL_setfuncs(L, with_context, 1);

	if (luaL_newmetatable(L, BUFFER_MT)) {
		lua_pushcfunction(L, lbuffer_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	return 1;
}
