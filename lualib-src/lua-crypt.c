/*
 * lua-crypt.c -- `skynet.crypt` (in luaclib/skynet.so) and `client.crypt`
 * (the same functions in luaclib/client.so, for the stand-alone lua5.4
 * interpreter): the primitives of upstream's login protocol
 * (upstream's set, byte for byte).
 *
 *   hashkey(s)               8 bytes: two 32-bit string hashes
 *   randomkey()              8 random bytes (getrandom), XOR of all != 0
 *   desencode(key, text [, padding]) / desdecode(...)   DES-ECB, padded
 *   hexencode(s) / hexdecode(s)
 *   hmac64(x, y) / hmac64_md5(x, y) / hmac_hash(key, text)
 *   dhexchange(x) / dhsecret(y, x)    64-bit Diffie-Hellman, P = 2^64-59
 *   base64encode(s) / base64decode(s) (lenient decoder, below)
 *   sha1(s) / hmac_sha1(key, text)    (libcrypto)
 *   xor_str(s, k)
 *   padding = { iso7816_4 = 0, pkcs7 = 1 }
 *
 * Standard algorithms come from OpenSSL's libcrypto (SHA-1, HMAC, MD5,
 * base64 encoding); the skynet-specific ones are written here, and DES
 * in crypt_des.c.  Every function checks its arguments and raises a plain
 * message (no position: they are C functions) naming what is wrong.
 * Nothing here keeps state except the MD5/SHA-1 method handles.
 */
#include "crypt_des.h"

#include <lauxlib.h>
#include <lua.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#define PADDING_ISO7816_4 0
#define PADDING_PKCS7 1
#define DH_P 0xFFFFFFFFFFFFFFC5ULL /* 2^64 - 59, the largest 64-bit prime */
#define DH_G 5
#define B64_CHUNK (3 * 1024) /* bytes encoded per EVP_EncodeBlock call */

/* Fetched once: an implicit fetch on every digest costs more than an MD5
 * of a short string. */
static EVP_MD *md_sha1, *md_md5;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void) {
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
}

static const EVP_MD *md_get(lua_State *L, int sha1) {
	pthread_once(&md_once, md_fetch);
	const EVP_MD *md = sha1 ? md_sha1 : md_md5;
	if (md == NULL)
		luaL_error(L, "crypt: libcrypto has no %s", sha1 ? "SHA1" : "MD5");
	return md;
}

static uint32_t load_le32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint64_t load_le64(const uint8_t *p) {
	return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

static void push_le64(lua_State *L, uint64_t v) {
	uint8_t out[8];
	store_le32(out, (uint32_t)v);
	store_le32(out + 4, (uint32_t)(v >> 32));
	lua_pushlstring(L, (const char *)out, 8);
}

/* Argument idx as exactly 8 bytes, else raises `what`. */
static const uint8_t *check8(lua_State *L, int idx, const char *what) {
	size_t sz;
	const char *s = luaL_checklstring(L, idx, &sz);
	if (sz != 8)
		luaL_error(L, "%s", what);
	return (const uint8_t *)s;
}

/* ---- hashkey ---------------------------------------------------------- */

static void hashkey(const uint8_t *s, size_t n, uint8_t out[8]) {
	uint32_t h1 = 5381, h2 = 1315423911;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = s[i];
		h1 = h1 * 33 + c;
		h2 ^= (h2 << 5) + c + (h2 >> 2);
	}
	store_le32(out, h1);
	store_le32(out + 4, h2);
}

static int lhashkey(lua_State *L) {
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	uint8_t out[8];
	hashkey((const uint8_t *)s, n, out);
	lua_pushlstring(L, (const char *)out, 8);
	return 1;
}

/* ---- randomkey -------------------------------------------------------- */

static int lrandomkey(lua_State *L) {
	uint8_t k[8];
	size_t got = 0;
	while (got < sizeof(k)) {
		ssize_t r = getrandom(k + got, sizeof(k) - got, 0);
		if (r < 0)
			return luaL_error(L, "randomkey: getrandom failed");
		got += (size_t)r;
	}
	uint8_t x = 0;
	for (int i = 0; i < 8; i++)
		x ^= k[i];
	if (x == 0) /* flip (upstream sets) the low bit: the XOR, so the key, is never 0 */
		k[0] ^= 1;
	lua_pushlstring(L, (const char *)k, 8);
	return 1;
}

/* ---- DES -------------------------------------------------------------- */

static void des_key(lua_State *L, struct des_schedule *ks) {
	size_t n;
	const char *key = luaL_checklstring(L, 1, &n);
	if (n != 8)
		luaL_error(L, "Invalid key size %d, need 8 bytes", (int)n);
	des_schedule_init(ks, (const uint8_t *)key);
}

static int padding_mode(lua_State *L, int idx) {
	lua_Integer mode = luaL_optinteger(L, idx, PADDING_ISO7816_4);
	if (mode != PADDING_ISO7816_4 && mode != PADDING_PKCS7)
		luaL_error(L, "Invalid padding mode %d", (int)mode);
	return (int)mode;
}

static int ldesencode(lua_State *L) {
	struct des_schedule ks;
	des_key(L, &ks);
	size_t n;
	const uint8_t *text = (const uint8_t *)luaL_checklstring(L, 2, &n);
	int mode = padding_mode(L, 3);
	size_t full = n & ~(size_t)7, out_n = full + 8;
	luaL_Buffer b;
	uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, out_n);
	for (size_t i = 0; i < full; i += 8)
		des_block(&ks, 0, text + i, out + i);
	uint8_t last[8];
	size_t rest = n - full;
	memcpy(last, text + full, rest);
	if (mode == PADDING_PKCS7) {
		memset(last + rest, (int)(8 - rest), 8 - rest);
	} else {
		last[rest] = 0x80;
		memset(last + rest + 1, 0, 7 - rest);
	}
	des_block(&ks, 0, last, out + full);
	luaL_pushresultsize(&b, out_n);
	return 1;
}

/* Length of the padding at the end of the 8-byte block, or 0 if invalid.
 * PKCS#7's claimed length is range-checked before anything is read. */
static size_t padding_length(const uint8_t last[8], int mode) {
	if (mode == PADDING_PKCS7) {
		uint8_t n = last[7];
		if (n < 1 || n > 8)
			return 0;
		for (int i = 8 - n; i < 7; i++)
			if (last[i] != n)
				return 0;
		return n;
	}
	for (int i = 7; i >= 0; i--) {
		if (last[i] == 0x80)
			return (size_t)(8 - i);
		if (last[i] != 0)
			return 0;
	}
	return 0;
}

static int ldesdecode(lua_State *L) {
	struct des_schedule ks;
	des_key(L, &ks);
	size_t n;
	const uint8_t *text = (const uint8_t *)luaL_checklstring(L, 2, &n);
	int mode = padding_mode(L, 3);
	if (n == 0 || (n & 7) != 0)
		return luaL_error(L, "Invalid des crypt text length %d", (int)n);
	luaL_Buffer b;
	uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, n);
	for (size_t i = 0; i < n; i += 8)
		des_block(&ks, 1, text + i, out + i);
	size_t pad = padding_length(out + n - 8, mode);
	if (pad == 0)
		return luaL_error(L, "Invalid des crypt text");
	luaL_pushresultsize(&b, n - pad);
	return 1;
}

/* ---- hex -------------------------------------------------------------- */

static int lhexencode(lua_State *L) {
	static const char digits[] = "0123456789abcdef";
	size_t n;
	const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &n);
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, n * 2);
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[s[i] >> 4];
		out[2 * i + 1] = digits[s[i] & 15];
	}
	luaL_pushresultsize(&b, n * 2);
	return 1;
}

/* Digits and lowercase a-f only (upstream also took 'g' as 16). */
static int hexvalue(int c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int lhexdecode(lua_State *L) {
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	if (n & 1)
		return luaL_error(L, "Invalid hex text size %d", (int)n);
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, n / 2);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexvalue((unsigned char)s[i]), lo = hexvalue((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return luaL_error(L, "Invalid hex text");
		out[i / 2] = (char)(hi << 4 | lo);
	}
	luaL_pushresultsize(&b, n / 2);
	return 1;
}

/* ---- hmac64: MD5's 64 steps on a fixed block, no feed-forward ---------- */

static const uint32_t MD5_K[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const uint8_t MD5_R[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static void hmac64(const uint8_t x[8], const uint8_t y[8], uint8_t out[8]) {
	uint32_t w[16];
	for (int i = 0; i < 16; i += 4) {
		w[i] = load_le32(x + 4);
		w[i + 1] = load_le32(x);
		w[i + 2] = load_le32(y + 4);
		w[i + 3] = load_le32(y);
	}
	uint32_t a = 0x67452301, b = 0xefcdab89, c = 0x98badcfe, d = 0x10325476;
	for (int i = 0; i < 64; i++) {
		uint32_t f;
		int g;
		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) & 15;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) & 15;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) & 15;
		}
		uint32_t t = d;
		d = c;
		c = b;
		uint32_t sum = a + f + MD5_K[i] + w[g];
		b = b + (sum << MD5_R[i] | sum >> (32 - MD5_R[i]));
		a = t;
	}
	store_le32(out, c ^ d);
	store_le32(out + 4, a ^ b);
}

static int lhmac64(lua_State *L) {
	const uint8_t *x = check8(L, 1, "Invalid uint64 x");
	const uint8_t *y = check8(L, 2, "Invalid uint64 y");
	uint8_t out[8];
	hmac64(x, y, out);
	lua_pushlstring(L, (const char *)out, 8);
	return 1;
}

static int lhmac64_md5(lua_State *L) {
	const uint8_t *x = check8(L, 1, "Invalid uint64 x");
	const uint8_t *y = check8(L, 2, "Invalid uint64 y");
	uint8_t msg[48], m[EVP_MAX_MD_SIZE];
	for (int i = 0; i < 48; i += 16) {
		memcpy(msg + i, x, 8);
		memcpy(msg + i + 8, y, 8);
	}
	if (!EVP_Digest(msg, sizeof(msg), m, NULL, md_get(L, 0), NULL))
		return luaL_error(L, "hmac64_md5: MD5 failed");
	for (int i = 0; i < 8; i++)
		m[i] ^= m[i + 8];
	lua_pushlstring(L, (const char *)m, 8);
	return 1;
}

static int lhmac_hash(lua_State *L) {
	const uint8_t *key = check8(L, 1, "Invalid uint64 key");
	size_t n;
	const char *text = luaL_checklstring(L, 2, &n);
	uint8_t h[8], out[8];
	hashkey((const uint8_t *)text, n, h);
	hmac64(h, key, out);
	lua_pushlstring(L, (const char *)out, 8);
	return 1;
}

/* ---- Diffie-Hellman over the 64-bit prime P ---------------------------- */

static uint64_t mulmod(uint64_t a, uint64_t b) {
	return (uint64_t)((unsigned __int128)a * b % DH_P);
}

/* base^e mod P; the exponent is the raw 64-bit value (not reduced). */
static uint64_t powmod(uint64_t base, uint64_t e) {
	uint64_t r = 1;
	base %= DH_P;
	while (e) {
		if (e & 1)
			r = mulmod(r, base);
		base = mulmod(base, base);
		e >>= 1;
	}
	return r;
}

static int ldhexchange(lua_State *L) {
	uint64_t x = load_le64(check8(L, 1, "Invalid dh uint64 key"));
	if (x == 0)
		return luaL_error(L, "Can't be 0");
	push_le64(L, powmod(DH_G, x));
	return 1;
}

static int ldhsecret(lua_State *L) {
	uint64_t y = load_le64(check8(L, 1, "Invalid uint64 x"));
	uint64_t x = load_le64(check8(L, 2, "Invalid uint64 y"));
	if (x == 0 || y == 0)
		return luaL_error(L, "Can't be 0");
	push_le64(L, powmod(y, x));
	return 1;
}

/* ---- base64 ----------------------------------------------------------- */

static int lbase64encode(lua_State *L) {
	size_t n;
	const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &n);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < n; i += B64_CHUNK) {
		size_t len = n - i < B64_CHUNK ? n - i : B64_CHUNK;
		char *out = luaL_prepbuffsize(&b, (B64_CHUNK / 3) * 4 + 1);
		int w = EVP_EncodeBlock((unsigned char *)out, s + i, (int)len);
		luaL_addsize(&b, (size_t)w);
	}
	luaL_pushresult(&b);
	return 1;
}

/* 0..63 for the alphabet, 64 for '=', -1 for bytes that are skipped. */
static int b64value(int c) {
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
	if (c == '=')
		return 64;
	return -1;
}

/*
 * Upstream's lenient decoder, rule for rule: groups of 4
 * significant characters, other bytes skipped; any byte left after a
 * group starts a new one, whose missing characters count as '='.  A group
 * may end in one or two '=' (with the unused low bits zero), never more,
 * and nothing but '=' may follow a '=' inside a group.
 */
static int lbase64decode(lua_State *L) {
	size_t n;
	const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &n);
	luaL_Buffer b;
	uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, n / 4 * 3 + 3);
	size_t o = 0, i = 0;
	while (i < n) {
		int v[4], got = 0;
		while (got < 4 && i < n) {
			int c = b64value(s[i++]);
			if (c >= 0)
				v[got++] = c;
		}
		while (got < 4)
			v[got++] = 64;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			if (v[k] == 64)
				pad++;
			else if (pad > 0)
				goto bad; /* data after '=' */
		}
		if (pad > 2)
			goto bad;
		if (pad == 2 && (v[1] & 15) != 0)
			goto bad;
		if (pad == 1 && (v[2] & 3) != 0)
			goto bad;
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	luaL_pushresultsize(&b, o);
	return 1;
bad:
	return luaL_error(L, "Invalid base64 text");
}

/* ---- SHA-1, HMAC-SHA1, xor -------------------------------------------- */

static int lsha1(lua_State *L) {
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!EVP_Digest(s, n, md, &len, md_get(L, 1), NULL))
		return luaL_error(L, "sha1: digest failed");
	lua_pushlstring(L, (const char *)md, len);
	return 1;
}

static int lhmac_sha1(lua_State *L) {
	size_t kn, n;
	const char *key = luaL_checklstring(L, 1, &kn);
	const char *text = luaL_checklstring(L, 2, &n);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (kn > INT32_MAX)
		return luaL_error(L, "hmac_sha1: key too long");
	if (HMAC(md_get(L, 1), key, (int)kn, (const unsigned char *)text, n, md, &len) == NULL)
		return luaL_error(L, "hmac_sha1: HMAC failed");
	lua_pushlstring(L, (const char *)md, len);
	return 1;
}

static int lxor_str(lua_State *L) {
	size_t n, kn;
	const uint8_t *s = (const uint8_t *)luaL_checklstring(L, 1, &n);
	const uint8_t *k = (const uint8_t *)luaL_checklstring(L, 2, &kn);
	if (kn == 0)
		return luaL_error(L, "Can't xor empty string");
	luaL_Buffer b;
	uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, n);
	for (size_t i = 0; i < n; i++)
		out[i] = s[i] ^ k[i % kn];
	luaL_pushresultsize(&b, n);
	return 1;
}

static int crypt_open(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
		{"hashkey", lhashkey},       {"randomkey", lrandomkey},       {"desencode", ldesencode},
		{"desdecode", ldesdecode},   {"hexencode", lhexencode},       {"hexdecode", lhexdecode},
		{"hmac64", lhmac64},         {"hmac64_md5", lhmac64_md5},     {"hmac_hash", lhmac_hash},
		{"dhexchange", ldhexchange}, {"dhsecret", ldhsecret},         {"base64encode", lbase64encode},
		{"base64decode", lbase64decode}, {"sha1", lsha1},            {"hmac_sha1", lhmac_sha1},
		{"xor_str", lxor_str},       {NULL, NULL},
	};
	luaL_newlib(L, l);
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, PADDING_ISO7816_4);
	lua_setfield(L, -2, "iso7816_4");
	lua_pushinteger(L, PADDING_PKCS7);
	lua_setfield(L, -2, "pkcs7");
	lua_setfield(L, -2, "padding");
	return 1;
}

LUAMOD_API int luaopen_skynet_crypt(lua_State *L) {
	return crypt_open(L);
}

LUAMOD_API int luaopen_client_crypt(lua_State *L) {
	return crypt_open(L);
}
