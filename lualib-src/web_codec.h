/*
 * web_codec.h -- base64 for the WebSocket handshake
 * (Sec-WebSocket-Accept = base64(sha1(key .. GUID)), the key itself base64
 * of 16 random bytes; the SHA-1 is libcrypto's).  Pure functions, no
 * allocation.
 */
#ifndef WEB_CODEC_H
#define WEB_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define WEB_SHA1_SIZE 20

/* Bytes base64 of n input bytes takes (with padding). */
#define WEB_BASE64_LEN(n) (((n) + 2) / 3 * 4)

/* Standard alphabet with '=' padding; returns the output length. */
size_t web_base64_encode(char *out, const uint8_t *in, size_t n);
/* Decodes canonical padded base64 (length a multiple of 4, no spaces)
 * into out (room for n / 4 * 3 bytes).  Returns the decoded length, or -1
 * for anything else. */
long web_base64_decode(uint8_t *out, const char *in, size_t n);

#endif
