/*
 * lua-cluster.c -- `skynet.cluster.core`: the byte layer of the cluster
 * protocol (upstream's, byte for byte), used by lualib/skynet/cluster.lua
 * and the cluster services.
 *
 * Wire recap: a stream of frames, each a 2-byte BIG-endian body length and
 * the body; every u32 inside a body is LITTLE-endian.  Requests carry a tag
 * byte (whole / multi-part start / part / last part / trace), responses a
 * session and a type byte.  Payloads of 0x8000 bytes and more (requests) or
 * more than 0x8000 bytes (responses) travel as a start frame and parts of
 * exactly 0x8000 bytes, the last one 1..0x8000.
 *
 * Functions (upstream-compatible names first):
 *
 *   packrequest(addr, session, msg, sz | str)  -> frame, nextsession [, parts]
 *   packpush(addr, session, msg, sz | str)     -> frame, nextsession [, parts]
 *   packtrace(tag)                             -> frame
 *   unpackrequest(body | ptr, sz)              -> tag, fields... (see below)
 *   packresponse(session, ok, msg, sz | str)   -> frame [, parts]
 *   unpackresponse(body | ptr, sz)             -> session, type, data
 *   checkresponse(head)                        raises if the first bytes of a
 *                                              response frame (length field
 *                                              included) can never be valid
 *   append(parts, str) / concat(parts)         multi-part reassembly helpers
 *   unfinished(delta [, cap]) -> ok, total     the node-wide count of bytes
 *                                              held in unfinished multi-part
 *                                              requests (see below)
 *   isname(s), nodename()
 *
 * plus the pieces the services use on their hot paths:
 *
 *   packfast(addr, msg, sz [, keep])  -> ptr, size   an "internal request":
 *        a whole request frame with session 0, built by the caller and
 *        sent to the clustersender, which only patches in the session.
 *        For payloads >= 0x8000 the length field is 0 (the sender splits).
 *   splitrequest(ptr, size, session, push) -> startframe, parts
 *   wbuf()    a write batch: :request(ptr, size, session, push), :append(s),
 *             :size(), :take() -> ptr, size (malloc'd, ownership passes)
 *   framer()  a receive buffer: :push(ptr, size | str) (takes ownership of
 *             a DATA buffer), :pop() -> next frame body or nil, :size(),
 *             :peek(n) -> the first n buffered bytes, :clear()
 *
 * Frames built for the wire are Lua strings (safe against errors: nothing
 * leaks if Lua unwinds); the two lightuserdata producers (packfast, take)
 * allocate only after every check has passed.
 *
 * Trust: everything decoded here comes from the network.  Every length is
 * checked against the bytes present before it is used, and every problem
 * raises a Lua error naming what was wrong ("cluster: ...").  The only
 * inputs trusted are internal requests, which come from our own services;
 * even those are checked for a consistent header.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* gethostname */
#endif
#include <lauxlib.h>
#include <lua.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "skynet_malloc.h"

#define PART_SIZE 0x8000  /* bytes per part of a multi-part message */
#define NAME_MAX_LEN 255  /* a string address is 1..255 bytes */
#define TRACE_MAX 0x8000  /* longest trace tag we send */
#define ERROR_MAX 0x8000  /* error texts are truncated to this */
#define SESSION_MAX 0x7fffffff

/* request tags: the first byte of a request body */
#define TAG_WHOLE 0x00
#define TAG_WHOLE_NAME 0x80
#define TAG_START 0x01
#define TAG_START_PUSH 0x41
#define TAG_START_NAME 0x81
#define TAG_START_NAME_PUSH 0xC1
#define TAG_PART 0x02
#define TAG_LAST 0x03
#define TAG_TRACE 0x04

/* response types: the byte after a response's session */
#define RESP_ERROR 0
#define RESP_OK 1
#define RESP_BEGIN 2
#define RESP_PART 3
#define RESP_LAST 4

#define FRAMER_MT "skynet.cluster.framer"
#define WBUF_MT "skynet.cluster.wbuf"

/* ------------------------------------------------------------ bytes */

static inline void put_be16(uint8_t *p, size_t v) {
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_le32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_le32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline size_t get_be16(const uint8_t *p) { return (size_t)p[0] << 8 | p[1]; }

/* -------------------------------------------------------- arguments */

/* A request address: a handle (u32) or a name of 1..255 bytes. */
struct address {
	uint32_t handle;
	const char *name; /* NULL for a handle */
	size_t namelen;
};

/* A payload argument: (lightuserdata, size) which we must free, or a
 * string which Lua owns. */
struct payload {
	const uint8_t *ptr;
	size_t sz;
	void *owned; /* free this when done (NULL for a string) */
};

static void get_payload(lua_State *L, int idx, struct payload *p) {
	p->owned = NULL;
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		p->ptr = (const uint8_t *)lua_tolstring(L, idx, &p->sz);
		break;
	case LUA_TLIGHTUSERDATA: {
		lua_Integer sz = luaL_checkinteger(L, idx + 1);
		void *ptr = lua_touserdata(L, idx);
		if (sz < 0 || (ptr == NULL && sz > 0))
			luaL_error(L, "cluster: invalid payload size %d", (int)sz);
		p->ptr = ptr;
		p->sz = (size_t)sz;
		p->owned = ptr;
		break;
	}
	case LUA_TNONE:
	case LUA_TNIL:
		p->ptr = (const uint8_t *)"";
		p->sz = 0;
		break;
	default:
		luaL_error(L, "cluster: payload must be a string or (lightuserdata, size), got %s",
		           luaL_typename(L, idx));
	}
}

static void free_payload(struct payload *p) {
	if (p->owned) {
		skynet_free(p->owned);
		p->owned = NULL;
	}
}

/* Checks the address at idx; on a bad one frees the payload and raises. */
static void get_address(lua_State *L, int idx, struct address *a, struct payload *p) {
	a->name = NULL;
	a->namelen = 0;
	a->handle = 0;
	if (lua_type(L, idx) == LUA_TSTRING) {
		a->name = lua_tolstring(L, idx, &a->namelen);
		if (a->namelen == 0 || a->namelen > NAME_MAX_LEN) {
			size_t n = a->namelen;
			if (p)
				free_payload(p);
			luaL_error(L, "cluster: name length is invalid, must be between 1 and %d, got %d",
			           NAME_MAX_LEN, (int)n);
		}
		return;
	}
	int isnum;
	lua_Integer h = lua_tointegerx(L, idx, &isnum);
	if (!isnum || h < 0 || h > 0xffffffff) {
		if (p)
			free_payload(p);
		luaL_error(L, "cluster: address must be a handle (u32) or a name string, got %s",
		           luaL_typename(L, idx));
	}
	a->handle = (uint32_t)h;
}

static uint32_t check_session(lua_State *L, int idx) {
	lua_Integer s = luaL_checkinteger(L, idx);
	luaL_argcheck(L, s >= 0 && s <= 0xffffffff, idx, "session out of range");
	return (uint32_t)s;
}

static lua_Integer next_session(uint32_t s) { return s >= SESSION_MAX ? 1 : (lua_Integer)s + 1; }

/* Size of the address-and-session part of a whole request (after the tag). */
static size_t addr_header_size(const struct address *a) { return a->name ? 1 + a->namelen + 4 : 8; }

/* Writes tag, address and session; returns bytes written. */
static size_t write_addr_header(uint8_t *p, uint8_t tag, const struct address *a, uint32_t session) {
	p[0] = tag;
	if (a->name) {
		p[1] = (uint8_t)a->namelen;
		memcpy(p + 2, a->name, a->namelen);
		put_le32(p + 2 + a->namelen, session);
		return 2 + a->namelen + 4;
	}
	put_le32(p + 1, a->handle);
	put_le32(p + 5, session);
	return 9;
}

/* ------------------------------------------------------ frame output */

/* Pushes one whole request frame as a string. */
static void push_whole_request(lua_State *L, const struct address *a, uint32_t session, const uint8_t *payload,
                               size_t sz) {
	size_t body = 1 + addr_header_size(a) + sz; /* < 0x8000 + 261 */
	luaL_Buffer b;
	uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, body + 2);
	put_be16(p, body);
	size_t off = 2 + write_addr_header(p + 2, a->name ? TAG_WHOLE_NAME : TAG_WHOLE, a, session);
	memcpy(p + off, payload, sz);
	luaL_pushresultsize(&b, body + 2);
}

/* Pushes a table of part frames (tag 0x02 ... 0x03, or response types
 * 3 ... 4) carrying `sz` (> 0) payload bytes. */
static void push_parts(lua_State *L, bool response, uint32_t session, const uint8_t *payload, size_t sz) {
	size_t n = (sz + PART_SIZE - 1) / PART_SIZE;
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		size_t off = i * PART_SIZE;
		size_t len = sz - off < PART_SIZE ? sz - off : PART_SIZE;
		bool last = i == n - 1;
		luaL_Buffer b;
		uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, len + 7);
		put_be16(p, len + 5);
		if (response) {
			put_le32(p + 2, session);
			p[6] = last ? RESP_LAST : RESP_PART;
		} else {
			p[2] = last ? TAG_LAST : TAG_PART;
			put_le32(p + 3, session);
		}
		memcpy(p + 7, payload + off, len);
		luaL_pushresultsize(&b, len + 7);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* Pushes the start frame of a multi-part request, then its parts table. */
static void push_multipart_request(lua_State *L, const struct address *a, uint32_t session, bool push,
                                   const uint8_t *payload, size_t sz) {
	uint8_t tag = a->name ? (push ? TAG_START_NAME_PUSH : TAG_START_NAME) : (push ? TAG_START_PUSH : TAG_START);
	size_t body = 1 + addr_header_size(a) + 4;
	uint8_t head[2 + 1 + 1 + NAME_MAX_LEN + 4 + 4];
	put_be16(head, body);
	size_t off = 2 + write_addr_header(head + 2, tag, a, session);
	put_le32(head + off, (uint32_t)sz);
	lua_pushlstring(L, (const char *)head, off + 4);
	push_parts(L, false, session, payload, sz);
}

/* packrequest / packpush body.  Frees a lightuserdata payload. */
static int pack_request(lua_State *L, bool push) {
	struct payload p;
	get_payload(L, 3, &p);
	struct address a;
	get_address(L, 1, &a, &p);
	int isnum;
	lua_Integer s = lua_tointegerx(L, 2, &isnum);
	if (!isnum || s < 0 || s > 0xffffffff || (!push && s == 0)) {
		free_payload(&p);
		return luaL_error(L, "cluster: invalid session %s", lua_tostring(L, 2) ? lua_tostring(L, 2) : "?");
	}
	uint32_t session = (uint32_t)s;
	if (p.sz > 0xffffffff) {
		free_payload(&p);
		return luaL_error(L, "cluster: payload too large (%d MiB)", (int)(p.sz >> 20));
	}
	/* Known limit: if building the frame runs out of memory, Lua unwinds
	 * past us and a lightuserdata payload leaks (copying it into a string
	 * first would cost a copy of every payload to guard against OOM). */
	if (p.sz < PART_SIZE) {
		push_whole_request(L, &a, push ? 0 : session, p.ptr, p.sz);
		lua_pushinteger(L, push ? (lua_Integer)session : next_session(session));
		free_payload(&p);
		return 2;
	}
	push_multipart_request(L, &a, session, push, p.ptr, p.sz);
	free_payload(&p);
	/* stack: start frame, parts */
	lua_pushinteger(L, next_session(session));
	lua_insert(L, -2);
	return 3;
}

/* packrequest(addr, session, msg, sz | str) -> frame, nextsession [, parts] */
static int lpackrequest(lua_State *L) { return pack_request(L, false); }

/* packpush(addr, session, msg, sz | str) -> frame, nextsession [, parts]
 * A whole push carries session 0 and leaves the counter as it was; a
 * multi-part push uses `session` and consumes it. */
static int lpackpush(lua_State *L) { return pack_request(L, true); }

/* packtrace(tag) -> frame */
static int lpacktrace(lua_State *L) {
	size_t len;
	const char *tag = luaL_checklstring(L, 1, &len);
	if (len > TRACE_MAX)
		return luaL_error(L, "cluster: trace tag too long (%d bytes, at most %d)", (int)len, TRACE_MAX);
	luaL_Buffer b;
	uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, len + 3);
	put_be16(p, len + 1);
	p[2] = TAG_TRACE;
	memcpy(p + 3, tag, len);
	luaL_pushresultsize(&b, len + 3);
	return 1;
}

/* packresponse(session, ok, msg, sz | str) -> frame [, parts]
 * ok false: an error text (raw, truncated to 0x8000 bytes), never split.
 * ok true: the payload whole if <= 0x8000 bytes, else a begin frame (type 2,
 * total size) and a table of part frames.  Unlike packrequest, a
 * lightuserdata payload is NOT freed (it is usually a reply message the
 * framework frees after the callback). */
static int lpackresponse(lua_State *L) {
	struct payload p;
	get_payload(L, 3, &p);
	p.owned = NULL; /* never freed: responses are built from messages the framework frees */
	int isnum;
	lua_Integer s = lua_tointegerx(L, 1, &isnum);
	if (!isnum || s < 0 || s > 0xffffffff) {
		free_payload(&p);
		return luaL_error(L, "cluster: invalid session");
	}
	uint32_t session = (uint32_t)s;
	bool ok = lua_toboolean(L, 2);
	size_t sz = p.sz;
	if (!ok && sz > ERROR_MAX)
		sz = ERROR_MAX;
	if (ok && sz > 0xffffffff) {
		free_payload(&p);
		return luaL_error(L, "cluster: response too large (%d MiB)", (int)(sz >> 20));
	}
	if (!ok || sz <= PART_SIZE) {
		luaL_Buffer b;
		uint8_t *f = (uint8_t *)luaL_buffinitsize(L, &b, sz + 7);
		put_be16(f, sz + 5);
		put_le32(f + 2, session);
		f[6] = ok ? RESP_OK : RESP_ERROR;
		memcpy(f + 7, p.ptr, sz);
		luaL_pushresultsize(&b, sz + 7);
		free_payload(&p);
		return 1;
	}
	uint8_t head[11];
	put_be16(head, 9);
	put_le32(head + 2, session);
	head[6] = RESP_BEGIN;
	put_le32(head + 7, (uint32_t)sz);
	lua_pushlstring(L, (const char *)head, sizeof(head));
	push_parts(L, true, session, p.ptr, sz);
	free_payload(&p);
	return 2;
}

/* --------------------------------------------------------- decoding */

/* Frame body argument: a string, or (lightuserdata, size) not freed. */
static const uint8_t *get_body(lua_State *L, int idx, size_t *sz) {
	if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) {
		lua_Integer n = luaL_checkinteger(L, idx + 1);
		const uint8_t *p = lua_touserdata(L, idx);
		if (n < 0 || (p == NULL && n > 0))
			luaL_error(L, "cluster: invalid frame size");
		*sz = (size_t)n;
		return p ? p : (const uint8_t *)"";
	}
	return (const uint8_t *)luaL_checklstring(L, idx, sz);
}

/* Pushes the address at p (tag's kind) and returns bytes consumed, or 0
 * when the body is too short.  `left` counts bytes available at p. */
static size_t decode_address(lua_State *L, bool named, const uint8_t *p, size_t left) {
	if (named) {
		if (left < 1)
			return 0;
		size_t n = p[0];
		if (n == 0)
			luaL_error(L, "cluster: malformed request: empty name");
		if (left < 1 + n)
			return 0;
		lua_pushlstring(L, (const char *)p + 1, n);
		return 1 + n;
	}
	if (left < 4)
		return 0;
	lua_pushinteger(L, get_le32(p));
	return 4;
}

/* "0x1f" (lua_pushfstring has no width flags, so no %02x in luaL_error) */
static const char *tag_text(uint8_t tag, char hex[8]) {
	snprintf(hex, 8, "0x%02x", tag);
	return hex;
}

/* unpackrequest(body | ptr, sz) decodes one request frame body (without the
 * 2-byte length).  Returns, by tag:
 *   0x00 / 0x80 whole:       tag, addr, session, payload (string)
 *                            (session 0 = push)
 *   0x01 0x41 0x81 0xC1:     tag, addr, session, total size
 *   0x02 / 0x03 part:        tag, session, part bytes (string)
 *   0x04 trace:              tag, trace tag (string)
 * addr is an integer or a name string.  Raises on anything malformed. */
static int lunpackrequest(lua_State *L) {
	char hex[8];
	size_t sz;
	const uint8_t *p = get_body(L, 1, &sz);
	if (sz == 0)
		return luaL_error(L, "cluster: malformed request: empty frame");
	uint8_t tag = p[0];
	lua_settop(L, 0);
	lua_pushinteger(L, tag);
	switch (tag) {
	case TAG_WHOLE:
	case TAG_WHOLE_NAME: {
		size_t n = decode_address(L, tag == TAG_WHOLE_NAME, p + 1, sz - 1);
		if (n == 0 || sz < 1 + n + 4)
			return luaL_error(L, "cluster: malformed request: %d-byte body too short for tag %s", (int)sz,
			                  tag_text(tag, hex));
		size_t off = 1 + n;
		lua_pushinteger(L, get_le32(p + off));
		off += 4;
		lua_pushlstring(L, (const char *)p + off, sz - off);
		return 4;
	}
	case TAG_START:
	case TAG_START_PUSH:
	case TAG_START_NAME:
	case TAG_START_NAME_PUSH: {
		size_t n = decode_address(L, (tag & 0x80) != 0, p + 1, sz - 1);
		if (n == 0 || sz != 1 + n + 8)
			return luaL_error(L, "cluster: malformed request: start frame of %d bytes for tag %s", (int)sz,
			                  tag_text(tag, hex));
		lua_pushinteger(L, get_le32(p + 1 + n));
		lua_pushinteger(L, get_le32(p + 1 + n + 4));
		return 4;
	}
	case TAG_PART:
	case TAG_LAST:
		if (sz < 5)
			return luaL_error(L, "cluster: malformed request: part frame of %d bytes", (int)sz);
		lua_pushinteger(L, get_le32(p + 1));
		lua_pushlstring(L, (const char *)p + 5, sz - 5);
		return 3;
	case TAG_TRACE:
		lua_pushlstring(L, (const char *)p + 1, sz - 1);
		return 2;
	default:
		return luaL_error(L, "cluster: malformed request: invalid tag %s", tag_text(tag, hex));
	}
}

/* What is wrong with a response frame whose body is `len` bytes and whose
 * type byte is `type` (when len >= 5), or NULL if nothing is.  The one
 * place the response rules live: unpackresponse and checkresponse both
 * use it. */
static const char *response_problem(size_t len, uint8_t type, char why[64]) {
	if (len < 5)
		snprintf(why, 64, "%d-byte body", (int)len);
	else if (type > RESP_LAST)
		snprintf(why, 64, "invalid type %d", type);
	else if (type == RESP_BEGIN && len != 9)
		snprintf(why, 64, "begin frame of %d bytes", (int)len);
	else
		return NULL;
	return why;
}

/* unpackresponse(body | ptr, sz) -> session, type, data
 * data: error text / payload / part bytes as a string; for type 2 the
 * declared total size (integer).  Raises on a malformed body (shorter than
 * 5 bytes, unknown type, type 2 not exactly 9 bytes). */
static int lunpackresponse(lua_State *L) {
	char why[64];
	size_t sz;
	const uint8_t *p = get_body(L, 1, &sz);
	uint8_t type = sz >= 5 ? p[4] : 0;
	if (response_problem(sz, type, why))
		return luaL_error(L, "cluster: malformed response: %s", why);
	lua_settop(L, 0);
	lua_pushinteger(L, get_le32(p));
	lua_pushinteger(L, type);
	if (type == RESP_BEGIN)
		lua_pushinteger(L, get_le32(p + 5));
	else
		lua_pushlstring(L, (const char *)p + 5, sz - 5);
	return 3;
}

/* checkresponse(head): head is the start of a response frame that has not
 * fully arrived, its 2-byte length field included.  Raises the error
 * unpackresponse would raise once the frame is complete, as soon as the
 * bytes present prove it (the length field alone, or with the type byte
 * at offset 6).  Lets a caller give up on garbage at once instead of
 * waiting for up to 64 KiB that may never come. */
static int lcheckresponse(lua_State *L) {
	char why[64];
	size_t n;
	const uint8_t *p = (const uint8_t *)luaL_checklstring(L, 1, &n);
	if (n < 2)
		return 0;
	size_t len = get_be16(p);
	if (len < 5 || n >= 7) {
		if (response_problem(len, len >= 5 ? p[6] : 0, why))
			return luaL_error(L, "cluster: malformed response: %s", why);
	}
	return 0;
}

/* append(parts, str): parts is an array of strings with the running byte
 * count in parts.n; returns the new count. */
static int lappend(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	size_t len;
	luaL_checklstring(L, 2, &len);
	lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
	lua_pushvalue(L, 2);
	lua_rawseti(L, 1, n + 1);
	lua_getfield(L, 1, "n");
	lua_Integer total = lua_tointeger(L, -1) + (lua_Integer)len;
	lua_pushinteger(L, total);
	lua_setfield(L, 1, "n");
	lua_pushinteger(L, total);
	return 1;
}

/* concat(parts) -> ptr, size: the parts joined into one malloc'd buffer
 * (ownership passes to the caller, e.g. to a skynet send). */
static int lconcat(lua_State *L) {
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
	size_t total = 0;
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
			return luaL_error(L, "cluster: concat: part %d is not a string", (int)i);
		total += lua_rawlen(L, -1);
		lua_pop(L, 1);
	}
	uint8_t *buf = skynet_malloc(total ? total : 1);
	if (buf == NULL)
		return luaL_error(L, "cluster: concat: out of memory (%d bytes)", (int)total);
	size_t off = 0;
	for (lua_Integer i = 1; i <= n; i++) {
		size_t len;
		lua_rawgeti(L, 1, i);
		const char *s = lua_tolstring(L, -1, &len);
		memcpy(buf + off, s, len);
		off += len;
		lua_pop(L, 1);
	}
	lua_pushlightuserdata(L, buf);
	lua_pushinteger(L, (lua_Integer)total);
	return 2;
}

/* The bytes every clusteragent of this process holds in multi-part
 * requests that are not finished yet.  One counter per process (this
 * module's static, shared by all services), so the node-wide cap
 * (cluster_max_unfinished_node) holds however many connections a peer
 * opens.  Written by agents only through unfinished(); atomic because
 * agents run on different worker threads. */
static _Atomic long long unfinished_bytes;

/* unfinished(delta [, cap]) -> ok, total
 * delta > 0: add it unless the total would pass cap (then ok is false and
 * nothing changes); delta <= 0: give bytes back.  total: the count after. */
static int lunfinished(lua_State *L) {
	lua_Integer delta = luaL_checkinteger(L, 1);
	if (delta <= 0) {
		long long now = atomic_fetch_add(&unfinished_bytes, delta) + delta;
		lua_pushboolean(L, 1);
		lua_pushinteger(L, now);
		return 2;
	}
	lua_Integer cap = luaL_checkinteger(L, 2);
	long long cur = atomic_load(&unfinished_bytes);
	do {
		if (cur + delta > cap) {
			lua_pushboolean(L, 0);
			lua_pushinteger(L, cur);
			return 2;
		}
	} while (!atomic_compare_exchange_weak(&unfinished_bytes, &cur, cur + delta));
	lua_pushboolean(L, 1);
	lua_pushinteger(L, cur + delta);
	return 2;
}

/* isname(s) -> true if s is a cluster name ("@name") */
static int lisname(lua_State *L) {
	size_t len;
	const char *s = lua_tolstring(L, 1, &len);
	lua_pushboolean(L, s != NULL && len > 1 && s[0] == '@');
	return 1;
}

/* nodename() -> host name (bytes <= 0x20 as '_') followed by the pid */
static int lnodename(lua_State *L) {
	char host[256];
	if (gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "skynet");
	host[sizeof(host) - 1] = '\0';
	for (char *c = host; *c; c++)
		if ((unsigned char)*c <= 0x20)
			*c = '_';
	lua_pushfstring(L, "%s%d", host, (int)getpid());
	return 1;
}

/* ------------------------------------------------- internal requests */

/* What an internal request (built by packfast) holds. */
struct internal {
	struct address addr;
	size_t session_off; /* where the session field is */
	size_t payload_off;
	size_t payload_sz;
};

static void check_internal(lua_State *L, const uint8_t *p, size_t sz, struct internal *in) {
	if (p == NULL || sz < 3)
		goto bad;
	in->addr.name = NULL;
	in->addr.namelen = 0;
	in->addr.handle = 0;
	if (p[2] == TAG_WHOLE) {
		if (sz < 11)
			goto bad;
		in->addr.handle = get_le32(p + 3);
		in->session_off = 7;
		in->payload_off = 11;
	} else if (p[2] == TAG_WHOLE_NAME) {
		if (sz < 4 || p[3] == 0 || sz < 8 + (size_t)p[3])
			goto bad;
		in->addr.name = (const char *)p + 4;
		in->addr.namelen = p[3];
		in->session_off = 4 + p[3];
		in->payload_off = 8 + p[3];
	} else {
		goto bad;
	}
	in->payload_sz = sz - in->payload_off;
	size_t expect = in->payload_sz < PART_SIZE ? sz - 2 : 0;
	if (get_be16(p) != expect)
		goto bad;
	return;
bad:
	luaL_error(L, "cluster: malformed internal request (%d bytes)", (int)sz);
}

/* packfast(addr, msg, sz | str [, keep]) -> ptr, size
 * Builds an internal request: the whole-request frame for addr with session
 * 0 and the payload, in one malloc'd buffer.  The length field is the real
 * one when the payload is < 0x8000 bytes, else 0 (the sender splits such a
 * request into parts).  Frees a lightuserdata msg unless keep is true. */
static int lpackfast(lua_State *L) {
	struct payload p;
	get_payload(L, 2, &p);
	bool keep = lua_toboolean(L, p.owned ? 4 : 3);
	if (keep)
		p.owned = NULL;
	struct address a;
	get_address(L, 1, &a, &p);
	size_t head = 2 + 1 + addr_header_size(&a);
	size_t total = head + p.sz;
	if (p.sz > 0xffffffff || total < p.sz) {
		free_payload(&p);
		return luaL_error(L, "cluster: payload too large");
	}
	uint8_t *buf = skynet_malloc(total);
	if (buf == NULL) {
		free_payload(&p);
		return luaL_error(L, "cluster: out of memory (%d bytes)", (int)total);
	}
	put_be16(buf, p.sz < PART_SIZE ? total - 2 : 0);
	write_addr_header(buf + 2, a.name ? TAG_WHOLE_NAME : TAG_WHOLE, &a, 0);
	memcpy(buf + head, p.ptr, p.sz);
	free_payload(&p);
	lua_pushlightuserdata(L, buf);
	lua_pushinteger(L, (lua_Integer)total);
	return 2;
}

/* splitrequest(ptr, size, session, push) -> startframe, parts
 * The multi-part form of an internal request (payload >= 0x8000).  Does
 * not free ptr. */
static int lsplitrequest(lua_State *L) {
	const uint8_t *p = lua_touserdata(L, 1);
	lua_Integer sz = luaL_checkinteger(L, 2);
	uint32_t session = check_session(L, 3);
	bool push = lua_toboolean(L, 4);
	struct internal in;
	check_internal(L, p, sz < 0 ? 0 : (size_t)sz, &in);
	if (in.payload_sz < PART_SIZE)
		return luaL_error(L, "cluster: splitrequest on a small request");
	if (in.payload_sz > 0xffffffff)
		return luaL_error(L, "cluster: payload too large");
	push_multipart_request(L, &in.addr, session, push, p + in.payload_off, in.payload_sz);
	return 2;
}

/* ------------------------------------------------------ write batch */

struct wbuf {
	uint8_t *buf; /* malloc'd; detached by take() */
	size_t cap;
	size_t len;
};

static uint8_t *wbuf_reserve(lua_State *L, struct wbuf *w, size_t n) {
	if (w->cap - w->len < n) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap - w->len < n)
			cap *= 2;
		uint8_t *nb = skynet_realloc(w->buf, cap);
		if (nb == NULL)
			luaL_error(L, "cluster: out of memory (write batch of %d bytes)", (int)cap);
		w->buf = nb;
		w->cap = cap;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

static struct wbuf *check_wbuf(lua_State *L) { return luaL_checkudata(L, 1, WBUF_MT); }

static int lwbuf(lua_State *L) {
	struct wbuf *w = lua_newuserdatauv(L, sizeof(*w), 0);
	w->buf = NULL;
	w->cap = w->len = 0;
	luaL_setmetatable(L, WBUF_MT);
	return 1;
}

static int lwbuf_gc(lua_State *L) {
	struct wbuf *w = check_wbuf(L);
	skynet_free(w->buf);
	w->buf = NULL;
	w->cap = w->len = 0;
	return 0;
}

/* wb:request(ptr, size, session, push) -> true if appended (payload
 * < 0x8000, session patched in: 0 for a push), false if the request must
 * be split (see splitrequest).  Never frees ptr. */
static int lwbuf_request(lua_State *L) {
	struct wbuf *w = check_wbuf(L);
	const uint8_t *p = lua_touserdata(L, 2);
	lua_Integer sz = luaL_checkinteger(L, 3);
	uint32_t session = check_session(L, 4);
	bool push = lua_toboolean(L, 5);
	struct internal in;
	check_internal(L, p, sz < 0 ? 0 : (size_t)sz, &in);
	if (in.payload_sz >= PART_SIZE) {
		lua_pushboolean(L, 0);
		return 1;
	}
	uint8_t *d = wbuf_reserve(L, w, (size_t)sz);
	memcpy(d, p, (size_t)sz);
	put_le32(d + in.session_off, push ? 0 : session);
	lua_pushboolean(L, 1);
	return 1;
}

/* wb:append(str) */
static int lwbuf_append(lua_State *L) {
	struct wbuf *w = check_wbuf(L);
	size_t len;
	const char *s = luaL_checklstring(L, 2, &len);
	memcpy(wbuf_reserve(L, w, len), s, len);
	return 0;
}

static int lwbuf_size(lua_State *L) {
	lua_pushinteger(L, (lua_Integer)check_wbuf(L)->len);
	return 1;
}

/* wb:take() -> ptr, size (ownership passes), or nothing when empty */
static int lwbuf_take(lua_State *L) {
	struct wbuf *w = check_wbuf(L);
	if (w->len == 0)
		return 0;
	lua_pushlightuserdata(L, w->buf);
	lua_pushinteger(L, (lua_Integer)w->len);
	w->buf = NULL;
	w->cap = w->len = 0;
	return 2;
}

/* wb:clear() drops everything batched */
static int lwbuf_clear(lua_State *L) { return lwbuf_gc(L); }

/* --------------------------------------------------- receive framer */

/* Bytes received and not yet framed live in buf[head, tail).  A frame is at
 * most 2 + 65535 bytes, and the owner pops every complete frame after each
 * push, so the buffer never holds much more than one DATA chunk plus one
 * partial frame. */
struct framer {
	uint8_t *buf;
	size_t cap;
	size_t head;
	size_t tail;
};

static struct framer *check_framer(lua_State *L) { return luaL_checkudata(L, 1, FRAMER_MT); }

static int lframer(lua_State *L) {
	struct framer *f = lua_newuserdatauv(L, sizeof(*f), 0);
	memset(f, 0, sizeof(*f));
	luaL_setmetatable(L, FRAMER_MT);
	return 1;
}

static int lframer_clear(lua_State *L) {
	struct framer *f = check_framer(L);
	skynet_free(f->buf);
	memset(f, 0, sizeof(*f));
	return 0;
}

/* fr:push(ptr, size | str) -> buffered bytes.  A lightuserdata is a socket
 * DATA buffer: it is freed here, after being copied. */
static int lframer_push(lua_State *L) {
	struct framer *f = check_framer(L);
	struct payload p;
	get_payload(L, 2, &p);
	size_t used = f->tail - f->head;
	if (f->cap - f->tail < p.sz) {
		if (f->head > 0) {
			memmove(f->buf, f->buf + f->head, used);
			f->head = 0;
			f->tail = used;
		}
		if (f->cap - f->tail < p.sz) {
			size_t cap = f->cap ? f->cap : 8192;
			while (cap - used < p.sz)
				cap *= 2;
			uint8_t *nb = skynet_realloc(f->buf, cap);
			if (nb == NULL) {
				free_payload(&p);
				return luaL_error(L, "cluster: out of memory (receive buffer of %d bytes)", (int)cap);
			}
			f->buf = nb;
			f->cap = cap;
		}
	}
	if (p.sz)
		memcpy(f->buf + f->tail, p.ptr, p.sz);
	f->tail += p.sz;
	free_payload(&p);
	lua_pushinteger(L, (lua_Integer)(f->tail - f->head));
	return 1;
}

/* fr:pop() -> the next complete frame's body (string, maybe ""), or nil */
static int lframer_pop(lua_State *L) {
	struct framer *f = check_framer(L);
	size_t used = f->tail - f->head;
	if (used < 2)
		return 0;
	size_t len = get_be16(f->buf + f->head);
	if (used < 2 + len)
		return 0;
	lua_pushlstring(L, (const char *)f->buf + f->head + 2, len);
	f->head += 2 + len;
	if (f->head == f->tail)
		f->head = f->tail = 0;
	return 1;
}

static int lframer_size(lua_State *L) {
	struct framer *f = check_framer(L);
	lua_pushinteger(L, (lua_Integer)(f->tail - f->head));
	return 1;
}

/* fr:peek(n) -> up to n buffered bytes (the start of the next frame, length
 * field included) as a string, without consuming them */
static int lframer_peek(lua_State *L) {
	struct framer *f = check_framer(L);
	lua_Integer n = luaL_checkinteger(L, 2);
	size_t used = f->tail - f->head;
	size_t k = n < 0 ? 0 : (size_t)n < used ? (size_t)n : used;
	lua_pushlstring(L, k ? (const char *)f->buf + f->head : "", k);
	return 1;
}

/* ------------------------------------------------------------- open */

int luaopen_skynet_cluster_core(lua_State *L) {
	luaL_checkversion(L);
	static const luaL_Reg framer_m[] = {
	    {"push", lframer_push}, {"pop", lframer_pop},   {"size", lframer_size},
	    {"peek", lframer_peek}, {"clear", lframer_clear}, {NULL, NULL},
	};
	static const luaL_Reg wbuf_m[] = {
	    {"request", lwbuf_request}, {"append", lwbuf_append}, {"size", lwbuf_size},
	    {"take", lwbuf_take},       {"clear", lwbuf_clear},   {NULL, NULL},
	};
	if (luaL_newmetatable(L, FRAMER_MT)) {
		luaL_newlib(L, framer_m);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, lframer_clear);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, WBUF_MT)) {
		luaL_newlib(L, wbuf_m);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, lwbuf_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	static const luaL_Reg l[] = {
	    {"packrequest", lpackrequest},
	    {"packpush", lpackpush},
	    {"packtrace", lpacktrace},
	    {"unpackrequest", lunpackrequest},
	    {"packresponse", lpackresponse},
	    {"unpackresponse", lunpackresponse},
	    {"checkresponse", lcheckresponse},
	    {"unfinished", lunfinished},
	    {"append", lappend},
	    {"concat", lconcat},
	    {"isname", lisname},
	    {"nodename", lnodename},
	    {"packfast", lpackfast},
	    {"splitrequest", lsplitrequest},
	    {"wbuf", lwbuf},
	    {"framer", lframer},
	    {NULL, NULL},
	};
	luaL_newlib(L, l);
	lua_pushinteger(L, PART_SIZE);
	lua_setfield(L, -2, "PART_SIZE");
	return 1;
}
