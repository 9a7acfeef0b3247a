/*
 * lua-md5.c -- `md5.core` (luaclib/md5.so), under lualib/md5.lua
 * (upstream's md5 module).  No skynet symbols, so the stand-alone
 * interpreter can load it too.
 *
 *   sum(s)                    16-byte MD5
 *   hmacmd5(data, key)        16-byte HMAC-MD5 (md5.lua hex-encodes it)
 *   exor(s1, s2)              bytewise XOR of equal-length strings
 *   crypt(msg, key [, seed])  MD5 stream cipher: char(#seed)..seed..cipher
 *   decrypt(cipher, key)      its inverse
 *
 * The stream cipher, as upstream: the state is the seed zero-padded to 16
 * bytes followed by the key; each 16-byte chunk is XORed with MD5(state)
 * and the resulting cipher bytes overwrite the start of the state.
 */
#include <lauxlib.h>
#include <lua.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define MD5_LEN 16
#define SEED_MAX 16
#define KEY_MAX 256

static EVP_MD *md_md5; /* fetched once; an implicit fetch per digest is slow */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void) {
	md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
}

static void md5(lua_State *L, const void *p, size_t n, unsigned char out[MD5_LEN]) {
	pthread_once(&md_once, md_fetch);
	if (md_md5 == NULL || !EVP_Digest(p, n, out, NULL, md_md5, NULL))
		luaL_error(L, "md5: libcrypto MD5 unavailable");
}

static int lsum(lua_State *L) {
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	unsigned char out[MD5_LEN];
	md5(L, s, n, out);
	lua_pushlstring(L, (const char *)out, MD5_LEN);
	return 1;
}

static int lhmacmd5(lua_State *L) {
	size_t n, kn;
	const char *data = luaL_checklstring(L, 1, &n);
	const char *key = luaL_checklstring(L, 2, &kn);
	luaL_argcheck(L, kn <= INT32_MAX, 2, "key too long");
	pthread_once(&md_once, md_fetch);
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (md_md5 == NULL || HMAC(md_md5, key, (int)kn, (const unsigned char *)data, n, out, &len) == NULL)
		return luaL_error(L, "md5: libcrypto HMAC-MD5 unavailable");
	lua_pushlstring(L, (const char *)out, len);
	return 1;
}

static int lexor(lua_State *L) {
	size_t n1, n2;
	const char *s1 = luaL_checklstring(L, 1, &n1);
	const char *s2 = luaL_checklstring(L, 2, &n2);
	luaL_argcheck(L, n1 == n2, 2, "lengths must be equal");
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, n1);
	for (size_t i = 0; i < n1; i++)
		out[i] = s1[i] ^ s2[i];
	luaL_pushresultsize(&b, n1);
	return 1;
}

/* XORs n bytes of in with the keystream into out; state is 16 + klen
 * bytes.  cipher points to the cipher side (out when encrypting, in when
 * decrypting): it feeds the state. */
static void stream(lua_State *L, unsigned char *state, size_t state_len, const unsigned char *in,
		   unsigned char *out, size_t n, int decrypting) {
	unsigned char ks[MD5_LEN];
	for (size_t i = 0; i < n; i += MD5_LEN) {
		size_t len = n - i < MD5_LEN ? n - i : MD5_LEN;
		md5(L, state, state_len, ks);
		for (size_t j = 0; j < len; j++)
			out[i + j] = in[i + j] ^ ks[j];
		memcpy(state, decrypting ? in + i : out + i, len);
	}
}

static size_t init_state(lua_State *L, unsigned char *state, const char *seed, size_t sn, int key_idx) {
	size_t kn;
	const char *key = luaL_checklstring(L, key_idx, &kn);
	luaL_argcheck(L, kn <= KEY_MAX, key_idx, "key too long (> 256)");
	memset(state, 0, SEED_MAX);
	memcpy(state, seed, sn);
	memcpy(state + SEED_MAX, key, kn);
	return SEED_MAX + kn;
}

static int lcrypt(lua_State *L) {
	size_t n, sn;
	const char *msg = luaL_checklstring(L, 1, &n);
	time_t now = time(NULL);
	const char *seed;
	if (lua_isnoneornil(L, 3)) {
		seed = (const char *)&now;
		sn = sizeof(now);
	} else {
		seed = luaL_checklstring(L, 3, &sn);
	}
	luaL_argcheck(L, sn <= SEED_MAX, 3, "seed too long (> 16)");
	unsigned char state[SEED_MAX + KEY_MAX];
	size_t state_len = init_state(L, state, seed, sn, 2);
	luaL_Buffer b;
	unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, 1 + sn + n);
	out[0] = (unsigned char)sn;
	memcpy(out + 1, seed, sn);
	stream(L, state, state_len, (const unsigned char *)msg, out + 1 + sn, n, 0);
	luaL_pushresultsize(&b, 1 + sn + n);
	return 1;
}

static int ldecrypt(lua_State *L) {
	size_t n;
	const unsigned char *c = (const unsigned char *)luaL_checklstring(L, 1, &n);
	luaL_argcheck(L, n >= 1 && c[0] <= SEED_MAX && (size_t)c[0] + 1 <= n, 1, "invalid cyphered string");
	size_t sn = c[0];
	unsigned char state[SEED_MAX + KEY_MAX];
	size_t state_len = init_state(L, state, (const char *)c + 1, sn, 2);
	size_t body = n - 1 - sn;
	luaL_Buffer b;
	unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, body);
	stream(L, state, state_len, c + 1 + sn, out, body, 1);
	luaL_pushresultsize(&b, body);
	return 1;
}

LUAMOD_API int luaopen_md5_core(lua_State *L) {
	luaL_checkversion(L);
	luaL_Reg l[] = {
		{"sum", lsum},     {"hmacmd5", lhmacmd5}, {"exor", lexor},
		{"crypt", lcrypt}, {"decrypt", ldecrypt}, {NULL, NULL},
	};
	luaL_newlib(L, l);
	return 1;
}
