/*
 * lua-mysqlaux.c -- `skynet.mysqlaux`, the C half of the MySQL driver
 * (lualib/skynet/db/mysql.lua): the cryptography its authentication needs,
 * in plain C with no library behind it, and the row decoders (the hot loop
 * of reading a result set):
 *
 *   sha1(s), sha256(s)        -> binary digest (20 / 32 bytes)
 *   xor(a, b)                 -> a XOR b, b repeated to the length of a
 *   rsa_encrypt(pem, msg)     -> RSAES-OAEP (SHA-1, MGF1-SHA-1) ciphertext,
 *                                or nil, reason
 *   rsa_modulus_bits(pem)     -> bits of the key's modulus, or nil, reason
 *   text_row(buf, start, len, names, conv, compact)    -> row (text protocol)
 *   binary_row(buf, start, len, names, spec, compact)  -> row (binary protocol)
 *
 * mysql_native_password needs SHA-1 and XOR; caching_sha2_password needs
 * SHA-256 and XOR for its fast path, and RSA for its full path over an
 * unencrypted connection: the password (XOR the server's nonce) is
 * encrypted with the server's public key, which arrives as a PEM text
 * ("BEGIN PUBLIC KEY": SubjectPublicKeyInfo; "BEGIN RSA PUBLIC KEY":
 * PKCS#1).  MySQL pads with PKCS#1 v2 OAEP and SHA-1 (RSA_PKCS1_OAEP_PADDING).
 *
 * The key comes from the network: every DER length is checked against the
 * bytes that are there, and moduli are limited to 512..8192 bits.  The
 * modular exponentiation is Montgomery multiplication on 32-bit limbs; the
 * public exponent is small, so this is fast enough without windows.  It is
 * not constant-time, which does not matter: nothing secret enters it except
 * the message, and the exponent it is raised to is public.
 */
#include <lauxlib.h>
#include <lua.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* ------------------------------------------------------------------ SHA-1 */

struct sha1_ctx {
	uint32_t h[5];
	uint64_t len; /* bytes hashed so far */
	uint8_t block[64];
	size_t used; /* bytes in block */
};

static uint32_t rol32(uint32_t x, int n) {
	return (x << n) | (x >> (32 - n));
}

static uint32_t be32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void sha1_block(struct sha1_ctx *c, const uint8_t *p) {
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = be32(p + 4 * i);
	for (int i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ cc ^ d;
			k = 0xCA62C1D6;
		}
		uint32_t t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = rol32(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

static void sha1_init(struct sha1_ctx *c) {
	static const uint32_t init[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	memcpy(c->h, init, sizeof init);
	c->len = 0;
	c->used = 0;
}

/* Shared by both hashes: feed bytes through a 64-byte block buffer. */
#define HASH_UPDATE(ctx, data, n, blockfn)                                    \
	do {                                                                      \
		const uint8_t *p_ = (const uint8_t *)(data);                          \
		size_t n_ = (n);                                                      \
		(ctx)->len += n_;                                                     \
		if ((ctx)->used) {                                                    \
			size_t take_ = 64 - (ctx)->used;                                  \
			if (take_ > n_)                                                   \
				take_ = n_;                                                   \
			memcpy((ctx)->block + (ctx)->used, p_, take_);                    \
			(ctx)->used += take_;                                             \
			p_ += take_;                                                      \
			n_ -= take_;                                                      \
			if ((ctx)->used == 64) {                                          \
				blockfn((ctx), (ctx)->block);                                 \
				(ctx)->used = 0;                                              \
			}                                                                 \
		}                                                                     \
		while (n_ >= 64) {                                                    \
			blockfn((ctx), p_);                                               \
			p_ += 64;                                                         \
			n_ -= 64;                                                         \
		}                                                                     \
		if (n_) {                                                             \
			memcpy((ctx)->block, p_, n_);                                     \
			(ctx)->used = n_;                                                 \
		}                                                                     \
	} while (0)

/* Appends 0x80, zeros and the 64-bit big-endian bit length. */
#define HASH_PAD(ctx, blockfn)                                                \
	do {                                                                      \
		uint64_t bits_ = (ctx)->len * 8;                                      \
		(ctx)->block[(ctx)->used++] = 0x80;                                   \
		if ((ctx)->used > 56) {                                               \
			memset((ctx)->block + (ctx)->used, 0, 64 - (ctx)->used);          \
			blockfn((ctx), (ctx)->block);                                     \
			(ctx)->used = 0;                                                  \
		}                                                                     \
		memset((ctx)->block + (ctx)->used, 0, 56 - (ctx)->used);              \
		put_be32((ctx)->block + 56, (uint32_t)(bits_ >> 32));                 \
		put_be32((ctx)->block + 60, (uint32_t)bits_);                         \
		blockfn((ctx), (ctx)->block);                                         \
	} while (0)

static void sha1_update(struct sha1_ctx *c, const void *data, size_t n) {
	HASH_UPDATE(c, data, n, sha1_block);
}

static void sha1_final(struct sha1_ctx *c, uint8_t out[20]) {
	HASH_PAD(c, sha1_block);
	for (int i = 0; i < 5; i++)
		put_be32(out + 4 * i, c->h[i]);
}

static void sha1(const void *data, size_t n, uint8_t out[20]) {
	struct sha1_ctx c;
	sha1_init(&c);
	sha1_update(&c, data, n);
	sha1_final(&c, out);
}

/* ---------------------------------------------------------------- SHA-256 */

struct sha256_ctx {
	uint32_t h[8];
	uint64_t len;
	uint8_t block[64];
	size_t used;
};

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, int n) {
	return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct sha256_ctx *c, const uint8_t *p) {
	uint32_t w[64];
	for (int i = 0; i < 16; i++)
		w[i] = be32(p + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
	uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t S1 = ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = h + S1 + ch + K256[i] + w[i];
		uint32_t S0 = ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22);
		uint32_t maj = (a & b) ^ (a & cc) ^ (b & cc);
		uint32_t t2 = S0 + maj;
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = cc;
		cc = b;
		b = a;
		a = t1 + t2;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
	c->h[5] += f;
	c->h[6] += g;
	c->h[7] += h;
}

static void sha256(const void *data, size_t n, uint8_t out[32]) {
	static const uint32_t init[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	struct sha256_ctx c;
	memcpy(c.h, init, sizeof init);
	c.len = 0;
	c.used = 0;
	HASH_UPDATE(&c, data, n, sha256_block);
	HASH_PAD(&c, sha256_block);
	for (int i = 0; i < 8; i++)
		put_be32(out + 4 * i, c.h[i]);
}

/* ------------------------------------------------------------ PEM and DER */

#define RSA_MIN_BYTES 64    /* 512 bits */
#define RSA_MAX_BYTES 1024  /* 8192 bits */
#define PEM_MAX 4096 /* DER bytes: an 8192-bit key needs about 1100 */

struct rsa_key {
	uint8_t n[RSA_MAX_BYTES]; /* big-endian, no leading zero */
	size_t nlen;
	uint8_t e[8];
	size_t elen;
};

static int b64val(int c) {
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes the base64 body between the first "-----BEGIN ...-----" line and
 * "-----END".  Returns the DER length or -1.  `out` holds `cap` bytes. */
static long pem_decode(const char *pem, size_t len, uint8_t *out, size_t cap) {
	const char *end = pem + len;
	const char *p = NULL;
	/* find "-----BEGIN", then the end of that line */
	for (const char *s = pem; s + 10 <= end; s++) {
		if (memcmp(s, "-----BEGIN", 10) == 0) {
			p = s + 10;
			break;
		}
	}
	if (p == NULL)
		return -1;
	while (p < end && *p != '\n')
		p++;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (; p < end; p++) {
		int c = (unsigned char)*p;
		if (c == '-')
			break; /* -----END */
		if (c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		int v = b64val(c);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (p >= end)
		return -1; /* no END line */
	return (long)o;
}

/* Reads one DER element at *pos: checks the tag, returns the content start
 * and length; *pos moves past the element.  0 on success. */
static int der_next(const uint8_t *der, size_t len, size_t *pos, int tag, size_t *cstart, size_t *clen) {
	size_t p = *pos;
	if (p + 2 > len || der[p] != tag)
		return -1;
	p++;
	size_t l = der[p++];
	if (l & 0x80) {
		int nb = l & 0x7f;
		if (nb == 0 || nb > 4 || p + (size_t)nb > len)
			return -1;
		l = 0;
		for (int i = 0; i < nb; i++)
			l = (l << 8) | der[p++];
	}
	if (l > len - p)
		return -1;
	*cstart = p;
	*clen = l;
	*pos = p + l;
	return 0;
}

/* A DER INTEGER into big-endian bytes without leading zeros. */
static int der_uint(const uint8_t *der, size_t len, size_t *pos, uint8_t *out, size_t cap, size_t *olen) {
	size_t s, l;
	if (der_next(der, len, pos, 0x02, &s, &l) != 0 || l == 0)
		return -1;
	if (der[s] & 0x80)
		return -1; /* negative */
	while (l > 0 && der[s] == 0) {
		s++;
		l--;
	}
	if (l == 0 || l > cap)
		return -1;
	memcpy(out, der + s, l);
	*olen = l;
	return 0;
}

/* Parses "BEGIN PUBLIC KEY" (SubjectPublicKeyInfo) or "BEGIN RSA PUBLIC
 * KEY" (PKCS#1 RSAPublicKey).  Returns NULL or an error text. */
static const char *rsa_parse(const char *pem, size_t pemlen, struct rsa_key *key) {
	uint8_t der[PEM_MAX];
	if (pemlen > PEM_MAX * 2)
		return "key text too long";
	long dl = pem_decode(pem, pemlen, der, PEM_MAX);
	if (dl < 0)
		return "not a PEM text";
	size_t len = (size_t)dl, pos = 0, s, l;
	if (der_next(der, len, &pos, 0x30, &s, &l) != 0)
		return "bad DER: no outer SEQUENCE";
	size_t end = s + l;
	pos = s;
	if (pos < end && der[pos] == 0x30) {
		/* SubjectPublicKeyInfo: AlgorithmIdentifier, then a BIT STRING
		 * holding RSAPublicKey */
		static const uint8_t rsa_oid[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
		size_t as, al, os, ol;
		if (der_next(der, end, &pos, 0x30, &as, &al) != 0)
			return "bad DER: AlgorithmIdentifier";
		size_t apos = as;
		if (der_next(der, as + al, &apos, 0x06, &os, &ol) != 0)
			return "bad DER: algorithm OID";
		if (ol != sizeof rsa_oid || memcmp(der + os, rsa_oid, ol) != 0)
			return "not an RSA key";
		if (der_next(der, end, &pos, 0x03, &s, &l) != 0 || l < 1 || der[s] != 0)
			return "bad DER: BIT STRING";
		pos = s + 1;
		end = s + l;
		if (der_next(der, end, &pos, 0x30, &s, &l) != 0)
			return "bad DER: RSAPublicKey";
		end = s + l;
		pos = s;
	}
	if (der_uint(der, end, &pos, key->n, sizeof key->n, &key->nlen) != 0)
		return "bad DER: modulus";
	if (der_uint(der, end, &pos, key->e, sizeof key->e, &key->elen) != 0)
		return "bad DER: exponent";
	if (key->nlen < RSA_MIN_BYTES)
		return "modulus too short";
	if ((key->n[key->nlen - 1] & 1) == 0)
		return "modulus is even";
	return NULL;
}

/* ------------------------------------------------------ Montgomery modexp */

#define LIMBS (RSA_MAX_BYTES / 4)

/* little-endian 32-bit limbs, length L */
static void bn_from_be(uint32_t *x, int L, const uint8_t *be, size_t n) {
	memset(x, 0, sizeof(uint32_t) * (size_t)L);
	for (size_t i = 0; i < n; i++) {
		size_t bit = (n - 1 - i) * 8;
		x[bit / 32] |= (uint32_t)be[i] << (bit % 32);
	}
}

static void bn_to_be(const uint32_t *x, uint8_t *be, size_t n) {
	for (size_t i = 0; i < n; i++) {
		size_t bit = (n - 1 - i) * 8;
		be[i] = (uint8_t)(x[bit / 32] >> (bit % 32));
	}
}

/* x >= n (x has L limbs plus `top`) */
static int bn_geq(const uint32_t *x, uint32_t top, const uint32_t *n, int L) {
	if (top)
		return 1;
	for (int i = L - 1; i >= 0; i--) {
		if (x[i] != n[i])
			return x[i] > n[i];
	}
	return 1;
}

static void bn_sub(uint32_t *x, const uint32_t *n, int L) {
	uint64_t borrow = 0;
	for (int i = 0; i < L; i++) {
		uint64_t d = (uint64_t)x[i] - n[i] - borrow;
		x[i] = (uint32_t)d;
		borrow = (d >> 63) & 1;
	}
}

/* out = a * b * R^-1 mod n (CIOS).  out may alias a or b. */
static void mont_mul(uint32_t *out, const uint32_t *a, const uint32_t *b, const uint32_t *n, uint32_t ninv, int L) {
	uint32_t t[LIMBS + 2];
	memset(t, 0, sizeof(uint32_t) * (size_t)(L + 2));
	for (int i = 0; i < L; i++) {
		uint64_t c = 0;
		for (int j = 0; j < L; j++) {
			uint64_t v = (uint64_t)t[j] + (uint64_t)a[j] * b[i] + c;
			t[j] = (uint32_t)v;
			c = v >> 32;
		}
		uint64_t v = (uint64_t)t[L] + c;
		t[L] = (uint32_t)v;
		t[L + 1] = (uint32_t)(v >> 32);
		uint32_t m = t[0] * ninv;
		v = (uint64_t)t[0] + (uint64_t)m * n[0];
		c = v >> 32;
		for (int j = 1; j < L; j++) {
			v = (uint64_t)t[j] + (uint64_t)m * n[j] + c;
			t[j - 1] = (uint32_t)v;
			c = v >> 32;
		}
		v = (uint64_t)t[L] + c;
		t[L - 1] = (uint32_t)v;
		t[L] = t[L + 1] + (uint32_t)(v >> 32);
	}
	if (bn_geq(t, t[L], n, L))
		bn_sub(t, n, L);
	memcpy(out, t, sizeof(uint32_t) * (size_t)L);
}

/* out (k bytes) = m^e mod n, all big-endian; m < n. */
static void rsa_public(const struct rsa_key *key, const uint8_t *m, uint8_t *out) {
	int L = (int)((key->nlen + 3) / 4);
	uint32_t n[LIMBS], x[LIMBS], r2[LIMBS], acc[LIMBS], one[LIMBS];
	bn_from_be(n, L, key->n, key->nlen);
	/* -n^-1 mod 2^32 by Newton's iteration (n is odd) */
	uint32_t inv = 1;
	for (int i = 0; i < 5; i++)
		inv *= 2 - n[0] * inv;
	uint32_t ninv = (uint32_t)(0u - inv);
	/* r2 = 2^(64 L) mod n by doubling 1 */
	memset(r2, 0, sizeof(uint32_t) * (size_t)L);
	r2[0] = 1;
	for (int i = 0; i < 64 * L; i++) {
		uint32_t carry = 0;
		for (int j = 0; j < L; j++) {
			uint32_t v = r2[j];
			r2[j] = (v << 1) | carry;
			carry = v >> 31;
		}
		if (bn_geq(r2, carry, n, L))
			bn_sub(r2, n, L);
	}
	memset(one, 0, sizeof(uint32_t) * (size_t)L);
	one[0] = 1;
	bn_from_be(x, L, m, key->nlen);
	mont_mul(x, x, r2, n, ninv, L);     /* x in Montgomery form */
	mont_mul(acc, one, r2, n, ninv, L); /* 1 in Montgomery form */
	for (size_t i = 0; i < key->elen; i++) {
		for (int bit = 7; bit >= 0; bit--) {
			mont_mul(acc, acc, acc, n, ninv, L);
			if ((key->e[i] >> bit) & 1)
				mont_mul(acc, acc, x, n, ninv, L);
		}
	}
	mont_mul(acc, acc, one, n, ninv, L);
	bn_to_be(acc, out, key->nlen);
}

/* ------------------------------------------------------------------- OAEP */

static int random_bytes(uint8_t *buf, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)r;
	}
	if (got == n)
		return 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0) {
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	return 0;
}

/* mask ^= MGF1-SHA1(seed, masklen) */
static void mgf1_xor(uint8_t *mask, size_t masklen, const uint8_t *seed, size_t seedlen) {
	uint8_t buf[RSA_MAX_BYTES + 4];
	uint8_t h[20];
	memcpy(buf, seed, seedlen);
	for (uint32_t counter = 0; masklen > 0; counter++) {
		put_be32(buf + seedlen, counter);
		sha1(buf, seedlen + 4, h);
		size_t take = masklen < 20 ? masklen : 20;
		for (size_t i = 0; i < take; i++)
			mask[i] ^= h[i];
		mask += take;
		masklen -= take;
	}
}

/* EM = 0x00 || maskedSeed || maskedDB, DB = lHash || PS || 0x01 || M */
static const char *oaep_encode(uint8_t *em, size_t k, const uint8_t *msg, size_t mlen) {
	const size_t hlen = 20;
	if (k < 2 * hlen + 2 || mlen > k - 2 * hlen - 2)
		return "message too long for the key";
	uint8_t *seed = em + 1;
	uint8_t *db = em + 1 + hlen;
	size_t dblen = k - hlen - 1;
	memset(em, 0, k);
	sha1("", 0, db); /* lHash of the empty label */
	db[dblen - mlen - 1] = 0x01;
	memcpy(db + dblen - mlen, msg, mlen);
	if (random_bytes(seed, hlen) != 0)
		return "no random bytes";
	mgf1_xor(db, dblen, seed, hlen);
	mgf1_xor(seed, hlen, db, dblen);
	return NULL;
}

/* ------------------------------------------------------------ result rows */

/*
 * Row decoding is the hot loop of reading a big result, so it is done here
 * rather than in Lua: one call per row builds the whole row table.  The
 * packet payload comes from the server: every length is checked against
 * what is left of it, and any inconsistency raises
 * "mysql: malformed packet from the server: ..." (the driver then returns a
 * badresult and drops the connection).
 */

#define ROW_ERR "mysql: malformed packet from the server: "

/* Raises ROW_ERR + the message, without luaL_error's "chunk:line:" prefix
 * (the driver recognises its errors by the "mysql: " at the start). */
static int row_error(lua_State *L, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	lua_pushstring(L, ROW_ERR);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_concat(L, 2);
	return lua_error(L);
}

struct cursor {
	const uint8_t *p;
	size_t pos, len;
};

/* The length-encoded length of a value that must follow it in the row:
 * returns it (checked against the bytes left), or -1 for NULL (0xfb). */
static int64_t cur_lenenc(lua_State *L, struct cursor *c, int col) {
	if (c->pos >= c->len)
		row_error(L, "row ends before column %d", col);
	uint8_t b = c->p[c->pos++];
	size_t need = b < 0xfb ? 0 : b == 0xfb ? 0 : b == 0xfc ? 2 : b == 0xfd ? 3 : b == 0xfe ? 8 : 9;
	if (need == 9)
		row_error(L, "invalid length byte 0xff in column %d", col);
	if (b == 0xfb)
		return -1;
	uint64_t v = b;
	if (need) {
		if (need > c->len - c->pos)
			row_error(L, "length of column %d truncated", col);
		v = 0;
		for (size_t i = 0; i < need; i++)
			v |= (uint64_t)c->p[c->pos + i] << (8 * i);
		c->pos += need;
	}
	/* the value's bytes must be there, whatever the length's form */
	if (v > c->len - c->pos)
		row_error(L, "column %d of %I bytes runs past the end of the row", col, (lua_Integer)v);
	return (int64_t)v;
}

/* Arguments shared by the row decoders: (buf, start, len, names, how,
 * compact); the packet is buf[start .. start+len-1] (1-based, as Lua). */
static void row_args(lua_State *L, struct cursor *c, const char **how, size_t *howlen) {
	size_t buflen;
	const char *buf = luaL_checklstring(L, 1, &buflen);
	lua_Integer start = luaL_checkinteger(L, 2);
	lua_Integer len = luaL_checkinteger(L, 3);
	luaL_argcheck(L, start >= 1 && (size_t)start <= buflen + 1, 2, "start out of range");
	luaL_argcheck(L, len >= 0 && (size_t)len <= buflen - (size_t)(start - 1), 3, "length out of range");
	luaL_checktype(L, 4, LUA_TTABLE);
	*how = luaL_checklstring(L, 5, howlen);
	luaL_argcheck(L, *howlen > 0, 5, "no columns");
	c->p = (const uint8_t *)buf + (start - 1);
	c->len = (size_t)len;
	c->pos = 0;
	lua_settop(L, 6);
}

#define NAMES_ARG 4

/* Stores the value on the stack top as column i (1-based) of the row at
 * index `row`: by name (from the names table) or, compact, by position. */
static void set_column(lua_State *L, int row, int compact, lua_Integer i) {
	if (compact) {
		lua_rawseti(L, row, i);
	} else {
		lua_rawgeti(L, NAMES_ARG, i);
		lua_insert(L, -2);
		lua_rawset(L, row);
	}
}

/* Pushes the number a value's text spells (as tonumber would), or nil.
 * Short texts are converted from a stack copy, so no Lua string is made
 * (interning one per numeric column was a tenth of a big query's time). */
static void push_number(lua_State *L, const char *s, size_t n) {
	char buf[64];
	if (n < sizeof buf) {
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (strlen(buf) != n || lua_stringtonumber(L, buf) == 0)
			lua_pushnil(L);
		return;
	}
	lua_pushlstring(L, s, n);
	if (lua_stringtonumber(L, lua_tostring(L, -1)) == 0)
		lua_pushnil(L);
	lua_remove(L, -2);
}

/*
 * text_row(buf, start, len, names, conv, compact) -> row
 * conv: one byte per column, nonzero = convert the text to a number (nil
 * when it is not one, like tonumber).  NULL columns are left out.
 */
static int ltext_row(lua_State *L) {
	struct cursor c;
	const char *conv;
	size_t ncols;
	row_args(L, &c, &conv, &ncols);
	int compact = lua_toboolean(L, 6);
	if (compact)
		lua_createtable(L, (int)ncols, 0);
	else
		lua_createtable(L, 0, (int)ncols);
	int row = lua_gettop(L);
	for (size_t i = 0; i < ncols; i++) {
		int64_t n = cur_lenenc(L, &c, (int)i + 1);
		if (n < 0)
			continue; /* NULL */
		const char *s = (const char *)c.p + c.pos;
		c.pos += (size_t)n;
		if (conv[i]) {
			push_number(L, s, (size_t)n);
			if (lua_isnil(L, -1)) {
				lua_pop(L, 1);
				continue;
			}
		} else {
			lua_pushlstring(L, s, (size_t)n);
		}
		set_column(L, row, compact, (lua_Integer)i + 1);
	}
	return 1;
}

/* column types of the binary protocol */
enum {
	T_DECIMAL = 0, T_TINY = 1, T_SHORT = 2, T_LONG = 3, T_FLOAT = 4, T_DOUBLE = 5,
	T_NULL = 6, T_TIMESTAMP = 7, T_LONGLONG = 8, T_INT24 = 9, T_DATE = 10,
	T_TIME = 11, T_DATETIME = 12, T_YEAR = 13, T_NEWDECIMAL = 246
};

static uint64_t le(const uint8_t *p, int n) {
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ".fff" for `decimals` digits (1..6), else ".ffffff" when micro > 0 */
static int fraction(char *out, size_t cap, uint32_t micro, int decimals) {
	char six[16];
	snprintf(six, sizeof six, "%06u", (unsigned)(micro % 1000000));
	if (decimals > 0 && decimals <= 6)
		return snprintf(out, cap, ".%.*s", decimals, six);
	if (micro > 0)
		return snprintf(out, cap, ".%s", six);
	out[0] = '\0';
	return 0;
}

/* Pushes one binary-protocol value of column `col` (1-based). */
static void push_binary(lua_State *L, struct cursor *c, int type, int is_unsigned, int decimals, int col) {
	size_t left = c->len - c->pos;
	const uint8_t *p = c->p + c->pos;
	int width = 0;
	switch (type) {
	case T_TINY:
		width = 1;
		break;
	case T_SHORT:
	case T_YEAR:
		width = 2;
		break;
	case T_INT24:
	case T_LONG:
		width = 4;
		break;
	case T_LONGLONG:
		width = 8;
		break;
	}
	if (width) {
		if ((size_t)width > left)
			row_error(L, "integer column %d truncated", col);
		uint64_t u = le(p, width);
		c->pos += (size_t)width;
		if (is_unsigned) {
			if (width == 8 && u > (uint64_t)INT64_MAX)
				lua_pushnumber(L, (lua_Number)u);
			else
				lua_pushinteger(L, (lua_Integer)u);
		} else {
			int shift = 64 - 8 * width;
			lua_pushinteger(L, (lua_Integer)((int64_t)(u << shift) >> shift));
		}
		return;
	}
	switch (type) {
	case T_FLOAT: {
		if (left < 4)
			row_error(L, "float column %d truncated", col);
		uint32_t u = (uint32_t)le(p, 4);
		float f;
		memcpy(&f, &u, 4);
		c->pos += 4;
		lua_pushnumber(L, (lua_Number)f);
		return;
	}
	case T_DOUBLE: {
		if (left < 8)
			row_error(L, "double column %d truncated", col);
		uint64_t u = le(p, 8);
		double d;
		memcpy(&d, &u, 8);
		c->pos += 8;
		lua_pushnumber(L, (lua_Number)d);
		return;
	}
	case T_DATE:
	case T_DATETIME:
	case T_TIMESTAMP: {
		if (left < 1 || (size_t)p[0] + 1 > left)
			row_error(L, "date column %d truncated", col);
		int n = p[0];
		unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
		uint32_t us = 0;
		if (n >= 4) {
			y = (unsigned)le(p + 1, 2);
			mo = p[3];
			d = p[4];
		}
		if (n >= 7) {
			h = p[5];
			mi = p[6];
			s = p[7];
		}
		if (n >= 11)
			us = (uint32_t)le(p + 8, 4);
		c->pos += (size_t)n + 1;
		char buf[64];
		int len;
		if (type == T_DATE) {
			len = snprintf(buf, sizeof buf, "%04u-%02u-%02u", y, mo, d);
		} else {
			len = snprintf(buf, sizeof buf, "%04u-%02u-%02u %02u:%02u:%02u", y, mo, d, h, mi, s);
			len += fraction(buf + len, sizeof buf - (size_t)len, us, decimals);
		}
		lua_pushlstring(L, buf, (size_t)len);
		return;
	}
	case T_TIME: {
		if (left < 1 || (size_t)p[0] + 1 > left)
			row_error(L, "time column %d truncated", col);
		int n = p[0];
		unsigned neg = 0, h = 0, mi = 0, s = 0;
		uint64_t days = 0;
		uint32_t us = 0;
		if (n >= 8) {
			neg = p[1];
			days = le(p + 2, 4);
			h = p[6];
			mi = p[7];
			s = p[8];
		}
		if (n >= 12)
			us = (uint32_t)le(p + 9, 4);
		c->pos += (size_t)n + 1;
		char buf[80];
		int len = snprintf(buf, sizeof buf, "%s%02llu:%02u:%02u", neg == 1 ? "-" : "",
		                   (unsigned long long)(days * 24 + h), mi, s);
		len += fraction(buf + len, sizeof buf - (size_t)len, us, decimals);
		lua_pushlstring(L, buf, (size_t)len);
		return;
	}
	case T_NULL:
		lua_pushnil(L);
		return;
	case T_DECIMAL:
	case T_NEWDECIMAL: {
		int64_t n = cur_lenenc(L, c, col);
		if (n < 0) {
			lua_pushnil(L);
			return;
		}
		push_number(L, (const char *)c->p + c->pos, (size_t)n);
		c->pos += (size_t)n;
		return;
	}
	case 15: case 16: case 245: case 247: case 248: case 249: case 250:
	case 251: case 252: case 253: case 254: case 255: {
		int64_t n = cur_lenenc(L, c, col);
		if (n < 0) {
			lua_pushnil(L);
			return;
		}
		lua_pushlstring(L, (const char *)c->p + c->pos, (size_t)n);
		c->pos += (size_t)n;
		return;
	}
	}
	row_error(L, "unsupported field type %d in column %d", type, col);
}

/*
 * binary_row(buf, start, len, names, spec, compact) -> row
 * spec: 3 bytes per column: type, unsigned flag, decimals.  The packet is
 * 0x00, a NULL bitmap with a 2-bit offset, then the non-NULL values.
 */
static int lbinary_row(lua_State *L) {
	struct cursor c;
	const char *specs;
	size_t speclen;
	row_args(L, &c, &specs, &speclen);
	const uint8_t *spec = (const uint8_t *)specs;
	size_t ncols = speclen / 3;
	luaL_argcheck(L, ncols * 3 == speclen, 5, "spec is 3 bytes per column");
	int compact = lua_toboolean(L, 6);
	size_t bitmap = (ncols + 9) / 8;
	if (c.len < 1 + bitmap || c.p[0] != 0)
		return row_error(L, "binary row of %d bytes (header or NULL bitmap)", (int)c.len);
	const uint8_t *nulls = c.p + 1;
	c.pos = 1 + bitmap;
	if (compact)
		lua_createtable(L, (int)ncols, 0);
	else
		lua_createtable(L, 0, (int)ncols);
	int row = lua_gettop(L);
	for (size_t i = 0; i < ncols; i++) {
		size_t bit = i + 2;
		if (nulls[bit >> 3] & (1u << (bit & 7)))
			continue;
		const uint8_t *sp = spec + 3 * i;
		push_binary(L, &c, sp[0], sp[1], sp[2], (int)i + 1);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			continue;
		}
		set_column(L, row, compact, (lua_Integer)i + 1);
	}
	return 1;
}

/* ----------------------------------------------------------- Lua bindings */

static int lsha1(lua_State *L) {
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	uint8_t out[20];
	sha1(s, n, out);
	lua_pushlstring(L, (const char *)out, sizeof out);
	return 1;
}

static int lsha256(lua_State *L) {
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	uint8_t out[32];
	sha256(s, n, out);
	lua_pushlstring(L, (const char *)out, sizeof out);
	return 1;
}

static int lxor(lua_State *L) {
	size_t na, nb;
	const char *a = luaL_checklstring(L, 1, &na);
	const char *b = luaL_checklstring(L, 2, &nb);
	if (nb == 0)
		return luaL_argerror(L, 2, "empty key");
	luaL_Buffer buf;
	char *out = luaL_buffinitsize(L, &buf, na);
	for (size_t i = 0; i < na; i++)
		out[i] = (char)(a[i] ^ b[i % nb]);
	luaL_pushresultsize(&buf, na);
	return 1;
}

static int lrsa_encrypt(lua_State *L) {
	size_t pemlen, mlen;
	const char *pem = luaL_checklstring(L, 1, &pemlen);
	const char *msg = luaL_checklstring(L, 2, &mlen);
	struct rsa_key key;
	const char *err = rsa_parse(pem, pemlen, &key);
	uint8_t em[RSA_MAX_BYTES], out[RSA_MAX_BYTES];
	if (err == NULL)
		err = oaep_encode(em, key.nlen, (const uint8_t *)msg, mlen);
	if (err) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	rsa_public(&key, em, out);
	lua_pushlstring(L, (const char *)out, key.nlen);
	return 1;
}

static int lrsa_modulus_bits(lua_State *L) {
	size_t pemlen;
	const char *pem = luaL_checklstring(L, 1, &pemlen);
	struct rsa_key key;
	const char *err = rsa_parse(pem, pemlen, &key);
	if (err) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	int bits = (int)key.nlen * 8;
	for (uint8_t top = key.n[0]; !(top & 0x80); top <<= 1)
		bits--;
	lua_pushinteger(L, bits);
	return 1;
}

LUAMOD_API int luaopen_skynet_mysqlaux(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
	    {"sha1", lsha1},
	    {"sha256", lsha256},
	    {"xor", lxor},
	    {"rsa_encrypt", lrsa_encrypt},
	    {"rsa_modulus_bits", lrsa_modulus_bits},
	    {"text_row", ltext_row},
	    {"binary_row", lbinary_row},
	    {NULL, NULL},
	};
	luaL_newlib(L, l);
	return 1;
}
