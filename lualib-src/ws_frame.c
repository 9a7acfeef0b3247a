/*
 * ws_frame.c -- WebSocket frame headers, masking, UTF-8 (see ws_frame.h).
 */
#include "ws_frame.h"

#include <string.h>

static int fail(const char **why, const char *text, int code) {
	*why = text;
	return -code;
}

int ws_frame_parse(const uint8_t *p, size_t n, int mask_rule, uint64_t max_payload,
                   struct ws_frame *f, const char **why) {
	if (n < 2)
		return 0;
	uint8_t b0 = p[0], b1 = p[1];
	if (b0 & 0x70)
		return fail(why, "reserved bits set", WS_CLOSE_PROTOCOL);
	int op = b0 & 0x0f;
	switch (op) {
	case WS_OP_CONTINUATION:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		break;
	default:
		return fail(why, "unknown opcode", WS_CLOSE_PROTOCOL);
	}
	int fin = (b0 & 0x80) != 0;
	int masked = (b1 & 0x80) != 0;
	uint64_t len = b1 & 0x7f;
	size_t h = 2;
	if (op >= WS_OP_CLOSE) {
		if (!fin)
			return fail(why, "fragmented control frame", WS_CLOSE_PROTOCOL);
		if (len > WS_CONTROL_MAX)
			return fail(why, "control frame over 125 bytes", WS_CLOSE_PROTOCOL);
	}
	if (len == 126) {
		if (n < 4)
			return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		if (len < 126)
			return fail(why, "length not in its shortest form", WS_CLOSE_PROTOCOL);
		h = 4;
	} else if (len == 127) {
		if (n < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		if (len >> 63)
			return fail(why, "length with the top bit set", WS_CLOSE_PROTOCOL);
		if (len <= 0xffff)
			return fail(why, "length not in its shortest form", WS_CLOSE_PROTOCOL);
		h = 10;
	}
	if (mask_rule == WS_MASK_REQUIRED && !masked)
		return fail(why, "unmasked client frame", WS_CLOSE_PROTOCOL);
	if (len > max_payload)
		return fail(why, "payload_len is too large", WS_CLOSE_TOO_BIG);
	if (masked) {
		if (n < h + 4)
			return 0;
		memcpy(f->key, p + h, 4);
		h += 4;
	} else {
		memset(f->key, 0, 4);
	}
	f->fin = fin;
	f->opcode = op;
	f->masked = masked;
	f->len = len;
	f->hlen = h;
	return 1;
}

size_t ws_frame_header(uint8_t *out, int fin, int opcode, uint64_t len, const uint8_t *key) {
	size_t h = 2;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	uint8_t maskbit = key ? 0x80 : 0;
	if (len < 126) {
		out[1] = (uint8_t)(maskbit | len);
	} else if (len <= 0xffff) {
		out[1] = maskbit | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = maskbit | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		h = 10;
	}
	if (key) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	return h;
}

void ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], size_t offset) {
	size_t i = 0;
	/* align the key to i = 0, then eight bytes at a time */
	uint8_t k[8];
	for (int j = 0; j < 8; j++)
		k[j] = key[(offset + (size_t)j) & 3];
	uint64_t k64;
	memcpy(&k64, k, 8);
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, src + i, 8);
		v ^= k64;
		memcpy(dst + i, &v, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ k[i & 7];
}

int ws_utf8_valid(const uint8_t *p, size_t n) {
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			need = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return 0;
		}
		if (n - i <= need)
			return 0;
		for (size_t j = 1; j <= need; j++) {
			uint8_t cc = p[i + j];
			if ((cc & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (cc & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}
