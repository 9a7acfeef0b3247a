/*
 * harbor_frame.h -- the slave-to-slave message frame of harbor mode
 * (upstream's, byte for byte), encoder and incremental reader.  No skynet
 * dependency besides the allocator, so the fuzz target links it alone.
 *
 *   offset  size   field
 *   0       4      L = payload size + 12        (big-endian; top byte 0)
 *   4       L-12   payload
 *   L-8     4      source handle                (big-endian)
 *   L-4     4      type << 24 | dest & 0xffffff (big-endian)
 *   L       4      session                      (big-endian)
 */
#ifndef HARBOR_FRAME_H
#define HARBOR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define HARBOR_FRAME_HEADER 4                 /* the length prefix */
#define HARBOR_FRAME_TRAILER 12               /* source, type|dest, session */
#define HARBOR_FRAME_OVERHEAD 16              /* header + trailer */
#define HARBOR_FRAME_LENGTH_MAX 0xffffffu     /* L must have a zero top byte */
#define HARBOR_PAYLOAD_MAX (HARBOR_FRAME_LENGTH_MAX - HARBOR_FRAME_TRAILER)

/* Errors of harbor_reader_push: the stream cannot be framed any further. */
#define HARBOR_READ_TOO_LONG (-1)  /* length prefix with a non-zero top byte */
#define HARBOR_READ_TOO_SHORT (-2) /* length prefix below the 12-byte trailer */

struct harbor_frame {
	void *payload; /* malloc'd (skynet_malloc), owned by the callback; NULL when sz is 0 */
	size_t sz;
	uint32_t source;
	uint32_t dest; /* low 24 bits only: the receiver adds its harbor id */
	int type;
	uint32_t session;
};

/* Called once per complete frame, in stream order. */
typedef void (*harbor_frame_cb)(void *ud, struct harbor_frame *frame);

/* Reassembly state of one connection; zero-initialise it.  A frame split
 * over reads is collected in `buf`, which grows with the bytes that really
 * arrived (never straight to the announced length), so a peer announcing
 * 16 MiB and sending nothing costs nothing. */
struct harbor_reader {
	uint8_t head[HARBOR_FRAME_HEADER];
	size_t nhead; /* bytes of the length prefix read so far */
	size_t len;   /* L of the frame being collected (0: reading the prefix) */
	uint8_t *buf; /* the L bytes after the prefix, `have` of them so far */
	size_t have;
	size_t cap;
};

/* Feeds n bytes; calls cb for each frame completed.  Returns 0, or a
 * HARBOR_READ_* error once the stream is broken (frames before the bad
 * prefix were delivered; the reader must not be fed again). */
int harbor_reader_push(struct harbor_reader *r, const uint8_t *data, size_t n, harbor_frame_cb cb, void *ud);

/* The L announced by the prefix that failed (for the log line). */
uint32_t harbor_reader_badlength(const struct harbor_reader *r);

/* Frees a partial frame; the reader is empty again afterwards. */
void harbor_reader_release(struct harbor_reader *r);

/* Writes the frame for a payload of sz bytes (sz <= HARBOR_PAYLOAD_MAX)
 * into out, which has room for sz + HARBOR_FRAME_OVERHEAD bytes. */
void harbor_frame_encode(uint8_t *out, const void *payload, size_t sz, uint32_t source, int type, uint32_t dest,
                         uint32_t session);

#endif
