// fuzz-sources: lualib-src/ws_frame.c lualib-src/web_codec.c
/*
 * fuzz_websocket.c -- libFuzzer target for the WebSocket frame code of
 * skynet.webcore (lualib-src/ws_frame.c) and the handshake codecs
 * (lualib-src/web_codec.c).
 *
 * Input: byte 0 = settings (bit 0: mask required; bits 1-4: the payload
 * limit, 2^k), the rest = a stream of frames.  Frames are parsed one after
 * the other until one is incomplete or refused.  For every accepted header:
 * the header length and payload length are within bounds, building the
 * same header again and parsing it gives the same frame, unmasking with
 * ws_mask at any split point equals a byte-by-byte reference, and the UTF-8
 * check agrees with a reference decoder.  The whole input also goes through
 * base64 decode/encode (a decoded string re-encodes to itself).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web_codec.h"
#include "ws_frame.h"

/* plain reference: a well-formed UTF-8 sequence per RFC 3629 table */
static int ref_utf8(const uint8_t *p, size_t n) {
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t len;
		uint8_t lo = 0x80, hi = 0xbf;
		if (c <= 0x7f) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (size_t j = 2; j < len; j++)
			if (p[i + j] < 0x80 || p[i + j] > 0xbf)
				return 0;
		i += len;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 1)
		return 0;
	int rule = (data[0] & 1) ? WS_MASK_REQUIRED : WS_MASK_ANY;
	uint64_t max = (uint64_t)1 << ((data[0] >> 1) & 15);
	const uint8_t *p = data + 1;
	size_t n = size - 1, pos = 0;
	while (pos < n) {
		struct ws_frame f;
		const char *why = NULL;
		int r = ws_frame_parse(p + pos, n - pos, rule, max, &f, &why);
		if (r < 0) {
			if (why == NULL || (-r != WS_CLOSE_PROTOCOL && -r != WS_CLOSE_TOO_BIG))
				abort();
			break;
		}
		if (r == 0)
			break;
		if (f.hlen < 2 || f.hlen > WS_HEADER_MAX || f.hlen > n - pos || f.len > max)
			abort();
		if (rule == WS_MASK_REQUIRED && !f.masked)
			abort();
		uint8_t h[WS_HEADER_MAX];
		size_t hl = ws_frame_header(h, f.fin, f.opcode, f.len, f.masked ? f.key : NULL);
		struct ws_frame g;
		if (hl != f.hlen || ws_frame_parse(h, hl, rule, max, &g, &why) != 1 || g.len != f.len ||
		    g.opcode != f.opcode || g.fin != f.fin || g.masked != f.masked || memcmp(g.key, f.key, 4) != 0)
			abort();
		if (f.len > n - pos - f.hlen)
			break; /* payload incomplete */
		size_t len = (size_t)f.len;
		const uint8_t *src = p + pos + f.hlen;
		uint8_t *a = malloc(len + 1), *b = malloc(len + 1);
		size_t split = len ? src[0] % (len + 1) : 0;
		ws_mask(a, src, split, f.key, 0);
		ws_mask(a + split, src + split, len - split, f.key, split);
		for (size_t i = 0; i < len; i++)
			b[i] = src[i] ^ f.key[i & 3];
		if (memcmp(a, b, len) != 0)
			abort();
		if (ws_utf8_valid(a, len) != ref_utf8(a, len))
			abort();
		free(a);
		free(b);
		pos += f.hlen + len;
	}

	uint8_t *dec = malloc(size / 4 * 3 + 3);
	long d = web_base64_decode(dec, (const char *)data, size);
	if (d >= 0) {
		char *enc = malloc(WEB_BASE64_LEN((size_t)d) + 1);
		size_t e = web_base64_encode(enc, dec, (size_t)d);
		if (e != size || memcmp(enc, data, size) != 0) {
			/* non-canonical padding bits decode but re-encode differently:
			 * only the length must match */
			if (e != size)
				abort();
		}
		free(enc);
	}
	free(dec);
	return 0;
}
