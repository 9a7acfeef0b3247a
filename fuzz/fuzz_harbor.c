// fuzz-sources: service-src/harbor_frame.c -Iservice-src
/*
 * fuzz_harbor.c -- libFuzzer target for the harbor slave-to-slave frame
 * reader (service-src/harbor_frame.c), the code that parses what another
 * harbor node sends.
 *
 * Input layout: byte 0 chooses how the rest is cut into socket reads; the
 * rest is the byte stream from the peer.  Each chunk is fed from an
 * exact-size heap copy (as a socket DATA buffer is), so ASan sees any read
 * past it.  Checks:
 *   - every frame delivered re-encodes (harbor_frame_encode) to exactly the
 *     bytes it was parsed from, and the frames tile the input in order;
 *   - an error is reported only for a length prefix that really is bad
 *     (top byte non-zero, or below the 12-byte trailer), and nothing is
 *     read after it;
 *   - without an error, the bytes not delivered are a proper prefix of a
 *     frame (shorter than its announced size).
 * The same stream fed in one piece must give the same frames.
 */
#include "harbor_frame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct collect {
	const uint8_t *stream; /* the whole input stream */
	size_t len;
	size_t pos; /* where the next frame must start */
	size_t nframes;
};

static void on_frame(void *ud, struct harbor_frame *f) {
	struct collect *c = ud;
	size_t total = f->sz + HARBOR_FRAME_OVERHEAD;
	if (c->pos + total > c->len) {
		fprintf(stderr, "frame past the end of the input\n");
		abort();
	}
	if ((f->sz == 0) != (f->payload == NULL)) {
		fprintf(stderr, "payload pointer does not match size %zu\n", f->sz);
		abort();
	}
	uint8_t *again = malloc(total);
	harbor_frame_encode(again, f->payload, f->sz, f->source, f->type, f->dest, f->session);
	if (memcmp(again, c->stream + c->pos, total) != 0) {
		fprintf(stderr, "frame %zu does not re-encode to its bytes\n", c->nframes);
		abort();
	}
	free(again);
	free(f->payload);
	c->pos += total;
	c->nframes++;
}

static uint32_t be32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Feeds stream in chunks chosen by `cut`; returns the reader's result. */
static int feed(const uint8_t *stream, size_t len, uint8_t cut, struct collect *c) {
	struct harbor_reader r;
	memset(&r, 0, sizeof(r));
	memset(c, 0, sizeof(*c));
	c->stream = stream;
	c->len = len;
	size_t off = 0;
	unsigned seed = cut;
	int err = 0;
	while (off < len && err == 0) {
		size_t n;
		if (cut == 0) {
			n = len - off;
		} else {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (cut < 8 ? cut : (unsigned)cut * 3);
		}
		if (n > len - off)
			n = len - off;
		uint8_t *chunk = malloc(n);
		memcpy(chunk, stream + off, n);
		err = harbor_reader_push(&r, chunk, n, on_frame, c);
		free(chunk);
		off += n;
	}
	if (err) {
		/* the bad prefix starts where the next frame would */
		if (c->pos + 4 > len) {
			fprintf(stderr, "error without a whole prefix\n");
			abort();
		}
		uint32_t l = be32(stream + c->pos);
		int want = l > HARBOR_FRAME_LENGTH_MAX ? HARBOR_READ_TOO_LONG
		           : l < HARBOR_FRAME_TRAILER  ? HARBOR_READ_TOO_SHORT
		                                       : 0;
		if (want != err || harbor_reader_badlength(&r) != l) {
			fprintf(stderr, "error %d for length 0x%08x\n", err, l);
			abort();
		}
	} else if (c->pos < len) {
		size_t rest = len - c->pos;
		if (rest >= 4) {
			uint32_t l = be32(stream + c->pos);
			if (l > HARBOR_FRAME_LENGTH_MAX || l < HARBOR_FRAME_TRAILER || rest >= (size_t)l + 4) {
				fprintf(stderr, "undelivered bytes are not a partial frame\n");
				abort();
			}
		}
	}
	harbor_reader_release(&r);
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 1)
		return 0;
	uint8_t cut = data[0];
	struct collect a, b;
	int ea = feed(data + 1, size - 1, cut, &a);
	int eb = feed(data + 1, size - 1, 0, &b);
	if (ea != eb || a.nframes != b.nframes || a.pos != b.pos) {
		fprintf(stderr, "chunking changed the result\n");
		abort();
	}
	return 0;
}
