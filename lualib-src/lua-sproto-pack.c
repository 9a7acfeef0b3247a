/*
 * lua-sproto-pack.c -- sproto's 0-packing (spec api-sproto.md §4), the
 * compression every RPC message goes through on the wire.
 *
 * The input is cut into 8-byte groups (the last one zero-padded).  A group
 * becomes a bit mask of its non-zero bytes followed by those bytes; runs of
 * dense groups become `ff`, count-1, raw bytes.  A run starts only on a
 * group with 8 non-zero bytes, extends over groups with 6 or more, and
 * stops at 256 groups; these choices are the wire format (upstream packs
 * the same input to the same bytes), not tunables.
 *
 * Unpacking is two passes: sproto_unpack_size walks the headers and checks
 * that every byte they announce is there (so a truncated or hostile stream
 * is refused before anything is allocated), then sproto_unpack writes the
 * exact size.  Plain C, no Lua: the fuzz target drives it directly.
 */
#include "lua-sproto.h"

#include <endian.h>
#include <string.h>

#define RUN_MARK 0xff
#define RUN_MAX_GROUPS 256

/* Bit i set iff byte i (in memory order) of the 8 bytes at g is non-zero,
 * computed on a 64-bit word: the zero-byte test sets bit 7 of each zero
 * byte (no false positives: the add cannot carry across bytes), and the
 * multiply gathers the eight bit-7s into the top byte. */
static uint8_t nonzero_mask(const uint8_t *g) {
	uint64_t x;
	memcpy(&x, g, 8);
	x = le64toh(x);
	const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
	uint64_t zero = ~(((x & low7) + low7) | x | low7);
	uint64_t nonzero = ~zero & 0x8080808080808080ULL;
	return (uint8_t)((nonzero * 0x0002040810204081ULL) >> 56);
}

size_t sproto_pack_bound(size_t n) {
	size_t groups = (n + 7) / 8;
	/* A run costs 2 header bytes per 256 groups; mask groups never grow.
	 * The +2 covers a final short run. */
	return groups * 8 + (groups / RUN_MAX_GROUPS + 2) * 2;
}

size_t sproto_pack(const uint8_t *src, size_t n, uint8_t *dst) {
	uint8_t *out = dst;
	uint8_t *run = NULL; /* the open run's header, when run_n > 0 */
	int run_n = 0;
	for (size_t i = 0; i < n; i += 8) {
		uint8_t pad[8];
		const uint8_t *g = src + i;
		if (n - i < 8) {
			memset(pad, 0, sizeof(pad));
			memcpy(pad, g, n - i);
			g = pad;
		}
		uint8_t mask = nonzero_mask(g);
		int nz = __builtin_popcount(mask);
		if (run_n > 0 && nz >= 6) {
			memcpy(out, g, 8);
			out += 8;
			if (++run_n == RUN_MAX_GROUPS) {
				run[1] = (uint8_t)(run_n - 1);
				run_n = 0;
			}
			continue;
		}
		if (run_n == 0 && nz == 8) {
			run = out;
			run[0] = RUN_MARK;
			memcpy(out + 2, g, 8);
			out += 10;
			run_n = 1;
			continue;
		}
		if (run_n > 0) {
			run[1] = (uint8_t)(run_n - 1);
			run_n = 0;
		}
		*out++ = mask;
		for (int k = 0; k < 8; k++) { /* branch-free: write, advance if kept */
			*out = g[k];
			out += g[k] != 0;
		}
	}
	if (run_n > 0)
		run[1] = (uint8_t)(run_n - 1);
	return (size_t)(out - dst);
}

long long sproto_unpack_size(const uint8_t *src, size_t n) {
	size_t i = 0;
	long long out = 0;
	while (i < n) {
		uint8_t h = src[i++];
		if (h == RUN_MARK) {
			if (i >= n)
				return -1;
			size_t len = ((size_t)src[i++] + 1) * 8;
			if (n - i < len)
				return -1;
			i += len;
			out += (long long)len;
		} else {
			size_t nz = (size_t)__builtin_popcount(h);
			if (n - i < nz)
				return -1;
			i += nz;
			out += 8;
		}
	}
	return out;
}

void sproto_unpack(const uint8_t *src, size_t n, uint8_t *dst) {
	size_t i = 0;
	while (i < n) {
		uint8_t h = src[i++];
		if (h == RUN_MARK) {
			size_t len = ((size_t)src[i++] + 1) * 8;
			memcpy(dst, src + i, len);
			dst += len;
			i += len;
		} else {
			/* zero the group, then place one byte per set bit */
			memset(dst, 0, 8);
			for (unsigned m = h; m != 0; m &= m - 1)
				dst[__builtin_ctz(m)] = src[i++];
			dst += 8;
		}
	}
}
