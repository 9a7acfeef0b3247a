/*
 * harbor_frame.c -- encoder and incremental reader of the harbor
 * slave-to-slave frame (harbor_frame.h says the layout).
 *
 * The reader decodes frames that lie whole inside one read straight from
 * the read buffer (one malloc + copy of the payload); a frame split over
 * reads is collected in the reader's buffer, which then becomes the
 * payload itself, so a large message is copied once.
 */
#include "harbor_frame.h"
#include "skynet_malloc.h"

#include <string.h>

static uint32_t get_be32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void harbor_frame_encode(uint8_t *out, const void *payload, size_t sz, uint32_t source, int type, uint32_t dest,
                         uint32_t session) {
	put_be32(out, (uint32_t)(sz + HARBOR_FRAME_TRAILER));
	if (sz)
		memcpy(out + HARBOR_FRAME_HEADER, payload, sz);
	uint8_t *t = out + HARBOR_FRAME_HEADER + sz;
	put_be32(t, source);
	put_be32(t + 4, (uint32_t)type << 24 | (dest & 0xffffffu));
	put_be32(t + 8, session);
}

/* The trailer of a frame body of `len` bytes at `body`. */
static void read_trailer(struct harbor_frame *f, const uint8_t *body, size_t len) {
	const uint8_t *t = body + len - HARBOR_FRAME_TRAILER;
	f->sz = len - HARBOR_FRAME_TRAILER;
	f->source = get_be32(t);
	uint32_t td = get_be32(t + 4);
	f->type = (int)(td >> 24);
	f->dest = td & 0xffffffu;
	f->session = get_be32(t + 8);
}

/* Checks the 4-byte prefix; returns L or a HARBOR_READ_* error. */
static long check_length(const uint8_t *head) {
	uint32_t len = get_be32(head);
	if (len > HARBOR_FRAME_LENGTH_MAX)
		return HARBOR_READ_TOO_LONG;
	if (len < HARBOR_FRAME_TRAILER)
		return HARBOR_READ_TOO_SHORT;
	return (long)len;
}

uint32_t harbor_reader_badlength(const struct harbor_reader *r) { return get_be32(r->head); }

void harbor_reader_release(struct harbor_reader *r) {
	skynet_free(r->buf);
	memset(r, 0, sizeof(*r));
}

int harbor_reader_push(struct harbor_reader *r, const uint8_t *data, size_t n, harbor_frame_cb cb, void *ud) {
	while (n > 0) {
		if (r->len == 0) {
			/* Whole frames straight from the read, while the prefix is not
			 * split: the common case, no reassembly. */
			if (r->nhead == 0 && n >= HARBOR_FRAME_HEADER) {
				long len = check_length(data);
				if (len < 0) {
					memcpy(r->head, data, HARBOR_FRAME_HEADER);
					return (int)len;
				}
				if (n - HARBOR_FRAME_HEADER >= (size_t)len) {
					struct harbor_frame f;
					const uint8_t *body = data + HARBOR_FRAME_HEADER;
					read_trailer(&f, body, (size_t)len);
					f.payload = NULL;
					if (f.sz) {
						f.payload = skynet_malloc(f.sz);
						memcpy(f.payload, body, f.sz);
					}
					data += HARBOR_FRAME_HEADER + (size_t)len;
					n -= HARBOR_FRAME_HEADER + (size_t)len;
					cb(ud, &f);
					continue;
				}
			}
			size_t take = HARBOR_FRAME_HEADER - r->nhead;
			if (take > n)
				take = n;
			memcpy(r->head + r->nhead, data, take);
			r->nhead += take;
			data += take;
			n -= take;
			if (r->nhead < HARBOR_FRAME_HEADER)
				return 0;
			long len = check_length(r->head);
			if (len < 0)
				return (int)len;
			r->len = (size_t)len;
			r->have = 0;
			continue;
		}
		size_t want = r->len - r->have;
		size_t take = want < n ? want : n;
		if (r->have + take > r->cap) {
			/* Grow by what arrived (at least doubling), never past L. */
			size_t cap = r->cap * 2;
			if (cap < r->have + take)
				cap = r->have + take;
			if (cap < 4096)
				cap = 4096;
			if (cap > r->len)
				cap = r->len;
			r->buf = skynet_realloc(r->buf, cap);
			r->cap = cap;
		}
		memcpy(r->buf + r->have, data, take);
		r->have += take;
		data += take;
		n -= take;
		if (r->have < r->len)
			return 0;
		struct harbor_frame f;
		read_trailer(&f, r->buf, r->len);
		if (f.sz) {
			f.payload = r->buf; /* the payload is the buffer's head */
		} else {
			f.payload = NULL;
			skynet_free(r->buf);
		}
		r->buf = NULL;
		r->cap = r->have = r->len = 0;
		r->nhead = 0;
		cb(ud, &f);
	}
	return 0;
}
