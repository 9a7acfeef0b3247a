/*
 * web_codec.h -- SHA-1 and base64, the two codecs of the WebSocket
 * handshake (Sec-WebSocket-Accept = base64(sha1(key .. GUID)), the key
 * itself base64 of 16 random bytes).  Pure functions, no allocation.
 */
#ifndef WEB_CODEC_H
#define WEB_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define WEB_SHA1_SIZE 20

struct web_sha1 {
	uint32_t h[5];
	uint64_t bytes;
	uint8_t block[64];
	size_t fill;
};

void web_sha1_init(struct web_sha1 *s);
void web_sha1_update(struct web_sha1 *s, const void *data, size_t n);
void web_sha1_final(struct web_sha1 *s, uint8_t out[WEB_SHA1_SIZE]);

/* Bytes base64 of n input bytes takes (with padding). */
#define WEB_BASE64_LEN(n) (((n) + 2) / 3 * 4)

/* Standard alphabet with '=' padding; returns the output length. */
size_t web_base64_encode(char *out, const uint8_t *in, size_t n);
/* Decodes canonical padded base64 (length a multiple of 4, no spaces)
 * into out (room for n / 4 * 3 bytes).  Returns the decoded length, or -1
 * for anything else. */
long web_base64_decode(uint8_t *out, const char *in, size_t n);

#endif
