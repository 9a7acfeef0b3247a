/*
 * ws_frame.h -- WebSocket frames (RFC 6455 §5) as pure functions: parsing
 * and checking a frame header, building one, masking, and the UTF-8 check
 * text messages need.  No Lua, no allocation: fuzz/fuzz_websocket.c links
 * this file alone.  Used by lualib-src/lua-webcore.c for http.websocket.
 */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
	WS_OP_CONTINUATION = 0,
	WS_OP_TEXT = 1,
	WS_OP_BINARY = 2,
	WS_OP_CLOSE = 8,
	WS_OP_PING = 9,
	WS_OP_PONG = 10,
};

/* Close status codes (RFC 6455 §7.4.1) we send. */
enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_PROTOCOL = 1002,     /* a frame breaking the protocol */
	WS_CLOSE_BAD_DATA = 1007,     /* a text message that is not UTF-8 */
	WS_CLOSE_TOO_BIG = 1009,      /* over the size limit */
};

/* Longest frame header: 2 + 8 (64-bit length) + 4 (masking key). */
#define WS_HEADER_MAX 14
/* Control frames carry at most this many payload bytes (§5.5). */
#define WS_CONTROL_MAX 125

struct ws_frame {
	int fin;
	int opcode;
	int masked;
	uint8_t key[4];
	uint64_t len;   /* payload length */
	size_t hlen;    /* header length (2..14) */
};

/* What a reader requires of the mask bit. */
enum {
	WS_MASK_ANY = 0,
	WS_MASK_REQUIRED = 1,  /* a server reading a client (§5.1) */
};

/* Parses the frame header at p[0..n).  Returns 1 when the header is
 * complete and acceptable (f filled; the payload may not have arrived
 * yet), 0 when more bytes are needed, or a negative close code
 * (-WS_CLOSE_PROTOCOL, -WS_CLOSE_TOO_BIG) with *why naming the problem:
 * reserved bits, an unknown opcode, a fragmented or long control frame, a
 * non-minimal or 2^63+ length, the mask rule broken, a payload over
 * `max_payload`. */
int ws_frame_parse(const uint8_t *p, size_t n, int mask_rule, uint64_t max_payload,
                   struct ws_frame *f, const char **why);

/* Writes the header of a frame with FIN = fin into out (WS_HEADER_MAX
 * bytes), with the masking key when key is not NULL.  Returns its length. */
size_t ws_frame_header(uint8_t *out, int fin, int opcode, uint64_t len, const uint8_t *key);

/* dst[i] = src[i] ^ key[(offset + i) % 4]; dst may equal src. */
void ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], size_t offset);

/* 1 if p[0..n) is well-formed UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF), else 0. */
int ws_utf8_valid(const uint8_t *p, size_t n);

#endif
