// fuzz-sources: lualib-src/lua-sproto-pack.c
/*
 * fuzz_sproto_unpack.c -- libFuzzer target for sproto's 0-packing
 * (lualib-src/lua-sproto-pack.c), plain C.
 *
 * Unpack: sproto_unpack_size must accept or refuse the input without
 * reading past it; an accepted stream unpacks into exactly that many bytes
 * (a heap block of that size, so ASan sees any overflow), and packing the
 * result and unpacking again gives the same bytes.  Pack: any input packs
 * within sproto_pack_bound and unpacks to itself plus zero padding to 8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua-sproto.h"

static void fail(const char *why) {
	fprintf(stderr, "%s\n", why);
	abort();
}

/* pack(src) must unpack to src + zero padding. */
static void pack_round_trip(const uint8_t *src, size_t n) {
	size_t bound = sproto_pack_bound(n);
	uint8_t *packed = malloc(bound ? bound : 1);
	size_t plen = sproto_pack(src, n, packed);
	if (plen > bound)
		fail("pack wrote past its bound");
	long long ulen = sproto_unpack_size(packed, plen);
	if (ulen < 0 || (size_t)ulen != (n + 7) / 8 * 8)
		fail("packed bytes do not unpack to the padded size");
	uint8_t *back = malloc(ulen ? (size_t)ulen : 1);
	sproto_unpack(packed, plen, back);
	if (memcmp(back, src, n) != 0)
		fail("pack/unpack changed the bytes");
	for (size_t i = n; i < (size_t)ulen; i++)
		if (back[i] != 0)
			fail("padding is not zero");
	free(back);
	free(packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	long long n = sproto_unpack_size(data, size);
	if (n >= 0) {
		uint8_t *out = malloc(n ? (size_t)n : 1);
		sproto_unpack(data, size, out);
		pack_round_trip(out, (size_t)n);
		free(out);
	}
	pack_round_trip(data, size);
	return 0;
}
