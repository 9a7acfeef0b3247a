/*
 * netpack_frame.h -- incremental decoder for length-prefixed frames, shared
 * by skynet.netpack (lualib-src/lua-netpack.c, 2-byte header) and the C gate
 * (service-src/service_gate.c, 2- or 4-byte header), and fuzzed on its own
 * (fuzz/fuzz_netpack.c).  Header-only (static functions) because the two
 * users are built into different shared objects by pattern rules.
 *
 * Wire format: a big-endian length of
 * `hsize` bytes (2 or 4) counting only the body, then the body.  TCP reads
 * cut the stream anywhere, so a connection keeps a `struct netpack_frame`
 * with the frame being read: header bytes so far, then the body so far.
 *
 * Guarantees:
 *  - every declared length is checked against the caller's maximum before
 *    anything is allocated; a larger one stops decoding with
 *    NETPACK_FRAME_TOOLARGE (the connection is to be dropped);
 *  - the body buffer grows with the bytes that actually arrived (doubling,
 *    from 4 KiB), so a peer that declares a big frame and sends nothing
 *    costs at most 4 KiB, not the declared size;
 *  - complete frames are handed out in stream order as fresh malloc'd
 *    buffers (at least 1 byte allocated, so never NULL even for an empty
 *    frame), whose ownership passes to the callback.
 */
#ifndef NETPACK_FRAME_H
#define NETPACK_FRAME_H

#include "skynet_malloc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NETPACK_FRAME_TOOLARGE (-1)
#define NETPACK_FRAME_MINCAP 4096u

/* Per-connection decoder state; all zero = between frames. */
struct netpack_frame {
	char *body;     /* body bytes so far (cap bytes allocated), NULL before the header is complete */
	uint32_t need;  /* declared body length, valid once hgot == hsize */
	uint32_t got;   /* body bytes received */
	uint32_t cap;   /* bytes allocated at body */
	uint8_t hgot;   /* header bytes received */
	uint8_t hdr[4]; /* the header bytes */
};

/* Receives one complete frame; `body` (size bytes) is now the callee's. */
typedef void (*netpack_frame_fn)(void *ud, char *body, uint32_t size);

static inline void netpack_frame_clear(struct netpack_frame *f) {
	skynet_free(f->body);
	memset(f, 0, sizeof(*f));
}

/* True when part of a frame (header or body) has been received. */
static inline bool netpack_frame_partial(const struct netpack_frame *f) {
	return f->hgot > 0;
}

/* Ensures room for `want` body bytes (want <= need).  Grows by doubling
 * from NETPACK_FRAME_MINCAP, never past need. */
static inline void netpack_frame_reserve_(struct netpack_frame *f, uint32_t want) {
	if (want <= f->cap && f->body)
		return;
	uint32_t cap = f->cap ? f->cap : NETPACK_FRAME_MINCAP;
	while (cap < want)
		cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
	if (cap > f->need)
		cap = f->need;
	if (cap == 0)
		cap = 1;
	f->body = skynet_realloc(f->body, cap);
	f->cap = cap;
}

/* Feeds `n` bytes read from the connection.  Calls `emit` for every frame
 * completed, in order.  Returns the number of frames emitted, or
 * NETPACK_FRAME_TOOLARGE as soon as a header declares more than `max`
 * bytes: the declared length goes to *declared (if not NULL), the rest of
 * the input is ignored and the state is cleared.  hsize must be 2 or 4. */
static inline int netpack_frame_feed(struct netpack_frame *f, unsigned hsize, uint32_t max,
                                     const uint8_t *data, size_t n, netpack_frame_fn emit, void *ud,
                                     uint32_t *declared) {
	int frames = 0;
	while (n > 0) {
		if (f->hgot < hsize) {
			/* header: byte by byte, it may be cut anywhere */
			f->hdr[f->hgot++] = *data++;
			n--;
			if (f->hgot < hsize)
				continue;
			uint32_t len = 0;
			for (unsigned i = 0; i < hsize; i++)
				len = (len << 8) | f->hdr[i];
			if (len > max) {
				if (declared)
					*declared = len;
				netpack_frame_clear(f);
				return NETPACK_FRAME_TOOLARGE;
			}
			f->need = len;
			f->got = 0;
			/* the whole body is here: allocate it exactly, else start small */
			netpack_frame_reserve_(f, n >= len ? len : (uint32_t)n);
		} else {
			uint32_t take = f->need - f->got;
			if (take > n)
				take = (uint32_t)n;
			netpack_frame_reserve_(f, f->got + take);
			memcpy(f->body + f->got, data, take);
			f->got += take;
			data += take;
			n -= take;
		}
		if (f->hgot == hsize && f->got == f->need) {
			char *body = f->body;
			uint32_t size = f->need;
			memset(f, 0, sizeof(*f));
			frames++;
			emit(ud, body, size);
		}
	}
	return frames;
}

#endif
