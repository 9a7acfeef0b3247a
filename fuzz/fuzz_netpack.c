// fuzz-sources: lualib-src/lua-netpack.c
/*
 * fuzz_netpack.c -- libFuzzer target for the frame decoder shared by
 * skynet.netpack and the C gate (lualib-src/netpack_frame.h), and for
 * netpack.filter/pop/tostring on top of it (lualib-src/lua-netpack.c).
 *
 * The input is a script of socket events for 4 connections:
 *   byte 0      settings: header size for the direct decoder (2 or 4) and
 *               the maximum frame length for both decoders
 *   then ops    1 control byte c: op = c & 3, fd = 1 + (c >> 2 & 3),
 *               repeat = 1 + (c >> 4)
 *               op 0, 1: DATA: 1 length byte n, then n bytes, fed `repeat`
 *                        times (so frames larger than the input happen)
 *               op 2:    CLOSE     op 3: ERROR
 * Every event is applied to (a) netpack_frame_feed with the chosen header
 * size, (b) netpack.filter with 2-byte headers through a real lua_State,
 * and to a plain reference decoder for each; the frames each produces must
 * equal the reference's, byte for byte and in order.  Once a connection
 * declares a length over the maximum, both drop its data until its CLOSE
 * or ERROR; netpack.filter also takes back the frames completed by the
 * same DATA event (the connection is being dropped).  ASan checks every
 * buffer access; the frames handed out are freed by the harness, so a
 * leak or double free shows up too.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpack_frame.h"
#include "skynet_socket.h"

int luaopen_skynet_netpack(lua_State *L);

#define NFD 5 /* fds 1..4 */
#define MAXQ 65536

/* Reference decoder: the whole unconsumed stream, parsed from the front. */
struct ref {
	uint8_t *buf;
	size_t len, cap;
	int broken;
};

/* Expected frames of one decoder, per fd, in order. */
struct expect {
	struct {
		uint8_t *data;
		uint32_t size;
	} q[MAXQ];
	size_t head, tail;
};

static struct expect *EXP[2][NFD]; /* [0] direct decoder, [1] netpack.filter */

static void die(const char *what, int fd) {
	fprintf(stderr, "fuzz_netpack: %s (fd %d)\n", what, fd);
	abort();
}

static void exp_push(struct expect *e, const uint8_t *p, uint32_t n) {
	if (e->tail - e->head >= MAXQ)
		die("too many pending frames", -1);
	uint8_t *d = malloc(n ? n : 1);
	memcpy(d, p, n);
	e->q[e->tail % MAXQ].data = d;
	e->q[e->tail % MAXQ].size = n;
	e->tail++;
}

static void exp_check(struct expect *e, const char *body, uint32_t size, int fd) {
	if (e->head == e->tail)
		die("decoder produced a frame the reference did not", fd);
	uint8_t *d = e->q[e->head % MAXQ].data;
	uint32_t n = e->q[e->head % MAXQ].size;
	if (n != size || memcmp(d, body, n) != 0)
		die("frame differs from the reference", fd);
	free(d);
	e->head++;
}

static void exp_clear(struct expect *e) {
	while (e->head != e->tail) {
		free(e->q[e->head % MAXQ].data);
		e->head++;
	}
	e->head = e->tail = 0;
}

static void exp_drop_since(struct expect *e, size_t mark) {
	while (e->tail > mark && e->tail > e->head) {
		e->tail--;
		free(e->q[e->tail % MAXQ].data);
	}
}

static void ref_reset(struct ref *r) {
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Appends bytes and queues every complete frame; returns -1 when a header
 * declares more than max (the stream is then broken). */
static int ref_feed(struct ref *r, unsigned hsize, uint32_t max, const uint8_t *p, size_t n,
                    struct expect *e) {
	if (r->broken)
		return 0;
	if (r->buf == NULL || r->len + n > r->cap) {
		r->cap = (r->len + n) * 2 + 16;
		r->buf = realloc(r->buf, r->cap);
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	size_t off = 0;
	int ret = 0;
	while (r->len - off >= hsize) {
		uint32_t len = 0;
		for (unsigned i = 0; i < hsize; i++)
			len = len << 8 | r->buf[off + i];
		if (len > max) {
			r->broken = 1;
			ret = -1;
			break;
		}
		if (r->len - off < hsize + (size_t)len)
			break;
		exp_push(e, r->buf + off + hsize, len);
		off += hsize + len;
	}
	memmove(r->buf, r->buf + off, r->len - off);
	r->len -= off;
	return ret;
}

/* ------------------------------------------------------ direct decoder */

struct direct {
	struct netpack_frame f;
	int broken;
};

struct emit_ctx {
	int fd;
};

static void direct_emit(void *ud, char *body, uint32_t size) {
	struct emit_ctx *c = ud;
	exp_check(EXP[0][c->fd], body, size, c->fd);
	free(body);
}

/* ------------------------------------------------------ netpack.filter */

static lua_State *L;
static int queue_ref = LUA_NOREF;

/* Calls filter(queue, msg, sz, max) with a freshly built socket message;
 * returns the number of results (queue first). */
static int call_filter(int type, int fd, int ud, char *buffer, uint32_t max) {
	size_t sz = sizeof(struct skynet_socket_message) + (buffer ? 0 : 5);
	struct skynet_socket_message *m = malloc(sz + 1);
	m->type = type;
	m->id = fd;
	m->ud = ud;
	m->buffer = buffer;
	if (!buffer)
		memcpy(m + 1, "text", 5);
	lua_settop(L, 0);
	lua_getglobal(L, "filter");
	lua_rawgeti(L, LUA_REGISTRYINDEX, queue_ref);
	lua_pushlightuserdata(L, m);
	lua_pushinteger(L, (lua_Integer)sz);
	lua_pushinteger(L, max);
	if (lua_pcall(L, 4, LUA_MULTRET, 0) != LUA_OK)
		die(lua_tostring(L, -1), fd);
	free(m);
	/* keep the queue the first call created */
	if (queue_ref == LUA_NOREF) {
		lua_pushvalue(L, 1);
		queue_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	return lua_gettop(L);
}

static void take_frame(int fd, void *ptr, lua_Integer size) {
	lua_getglobal(L, "tostring_");
	lua_pushlightuserdata(L, ptr);
	lua_pushinteger(L, size);
	lua_call(L, 2, 1); /* frees ptr */
	size_t n;
	const char *s = lua_tolstring(L, -1, &n);
	exp_check(EXP[1][fd], s, (uint32_t)n, fd);
	lua_pop(L, 1);
}

static void filter_data(int fd, const uint8_t *p, size_t n, uint32_t max, struct ref *r) {
	size_t mark = EXP[1][fd]->tail;
	int err = ref_feed(r, 2, max, p, n, EXP[1][fd]);
	if (err < 0)
		exp_drop_since(EXP[1][fd], mark);
	char *buf = malloc(n ? n : 1);
	memcpy(buf, p, n);
	int top = call_filter(1, fd, (int)n, buf, max);
	const char *type = top >= 2 ? lua_tostring(L, 2) : NULL;
	if (type == NULL) {
		if (err < 0 && !r->broken)
			die("filter missed an oversized frame", fd);
	} else if (strcmp(type, "data") == 0) {
		if ((int)lua_tointeger(L, 3) != fd)
			die("data for the wrong fd", fd);
		take_frame(fd, lua_touserdata(L, 4), lua_tointeger(L, 5));
	} else if (strcmp(type, "more") == 0) {
		for (;;) {
			lua_settop(L, 0);
			lua_getglobal(L, "pop");
			lua_rawgeti(L, LUA_REGISTRYINDEX, queue_ref);
			lua_call(L, 1, 3);
			if (lua_isnil(L, 1))
				break;
			if ((int)lua_tointeger(L, 1) != fd)
				die("queued frame for the wrong fd", fd);
			take_frame(fd, lua_touserdata(L, 2), lua_tointeger(L, 3));
		}
	} else if (strcmp(type, "error") == 0) {
		if (err >= 0)
			die("filter reported an error the reference did not see", fd);
	} else {
		die("unexpected filter result", fd);
	}
	if (err < 0 && (type == NULL || strcmp(type, "error") != 0))
		die("filter did not report the oversized frame", fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 1)
		return 0;
	if (L == NULL) {
		L = luaL_newstate();
		luaL_openlibs(L);
		luaL_requiref(L, "skynet.netpack", luaopen_skynet_netpack, 0);
		lua_getfield(L, -1, "filter");
		lua_setglobal(L, "filter");
		lua_getfield(L, -1, "pop");
		lua_setglobal(L, "pop");
		lua_getfield(L, -1, "tostring");
		lua_setglobal(L, "tostring_");
		lua_pop(L, 1);
		for (int k = 0; k < 2; k++)
			for (int i = 0; i < NFD; i++)
				EXP[k][i] = calloc(1, sizeof(struct expect));
	}
	static const uint32_t maxes[8] = {0, 1, 3, 100, 1000, 4096, 65535, 0xFFFFFF};
	uint8_t set = data[0];
	unsigned hsize = (set & 1) ? 4 : 2;
	uint32_t dmax = maxes[(set >> 1) & 7];
	if (hsize == 2 && dmax > 65535)
		dmax = 65535;
	uint32_t lmax = maxes[(set >> 4) & 7];
	if (lmax > 65535)
		lmax = 65535;

	struct direct dir[NFD];
	struct ref rdir[NFD], rlua[NFD];
	memset(dir, 0, sizeof(dir));
	memset(rdir, 0, sizeof(rdir));
	memset(rlua, 0, sizeof(rlua));

	size_t i = 1;
	while (i < size) {
		uint8_t c = data[i++];
		int op = c & 3, fd = 1 + ((c >> 2) & 3), rep = 1 + (c >> 4);
		if (op >= 2) {
			/* CLOSE / ERROR: partial frames are forgotten */
			int partial = rlua[fd].len > 0 && !rlua[fd].broken;
			netpack_frame_clear(&dir[fd].f);
			dir[fd].broken = 0;
			ref_reset(&rdir[fd]);
			ref_reset(&rlua[fd]);
			int top = call_filter(op == 2 ? 3 : 5, fd, 0, NULL, lmax);
			const char *type = top >= 2 ? lua_tostring(L, 2) : "";
			if (strcmp(type, op == 2 ? "close" : "error") != 0 || lua_tointeger(L, 3) != fd)
				die("close/error not reported as such", fd);
			if (op == 2 && (top >= 4) != partial)
				die("close: the unfinished-frame report disagrees with the reference", fd);
			if (EXP[0][fd]->head != EXP[0][fd]->tail || EXP[1][fd]->head != EXP[1][fd]->tail)
				die("a frame the reference completed was not delivered", fd);
			continue;
		}
		if (i >= size)
			break;
		size_t n = data[i++];
		if (n > size - i)
			n = size - i;
		const uint8_t *p = data + i;
		i += n;
		for (int k = 0; k < rep; k++) {
			/* (a) the shared decoder, header size from the settings */
			if (!dir[fd].broken) {
				int err = ref_feed(&rdir[fd], hsize, dmax, p, n, EXP[0][fd]);
				struct emit_ctx ec = {fd};
				int r = netpack_frame_feed(&dir[fd].f, hsize, dmax, p, n, direct_emit, &ec, NULL);
				if ((r == NETPACK_FRAME_TOOLARGE) != (err < 0))
					die("direct decoder and reference disagree on the limit", fd);
				if (r == NETPACK_FRAME_TOOLARGE)
					dir[fd].broken = 1;
				if (EXP[0][fd]->head != EXP[0][fd]->tail)
					die("direct decoder missed a frame", fd);
			}
			/* (b) netpack.filter, 2-byte headers */
			filter_data(fd, p, n, lmax, &rlua[fd]);
			if (EXP[1][fd]->head != EXP[1][fd]->tail)
				die("netpack.filter missed a frame", fd);
		}
	}
	/* end of the script: every connection closes */
	for (int fd = 1; fd < NFD; fd++) {
		netpack_frame_clear(&dir[fd].f);
		ref_reset(&rdir[fd]);
		ref_reset(&rlua[fd]);
		call_filter(3, fd, 0, NULL, lmax);
		exp_clear(EXP[0][fd]);
		exp_clear(EXP[1][fd]);
	}
	return 0;
}
