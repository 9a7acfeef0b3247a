/*
 * lua-cluster-auth.c -- `skynet.cluster.auth`: the cryptography of the
 * cluster secret handshake (config key `cluster_secret`).  The handshake
 * itself (frames, order, who sends what) is lualib/skynet/cluster/handshake.lua;
 * this file only holds what must not be written in Lua:
 *
 *   nonce()                              -> NONCE_LEN fresh random bytes
 *   mac(secret, role, ns, nc)            -> HMAC-SHA256(secret, label ‖ ns ‖ nc)
 *   verify(secret, role, ns, nc, mac)    -> boolean, compared in constant time
 *
 * role is "client" (the side that connected proves itself) or "server"
 * (the listener proves itself back); the label is "skynet-cluster-" ..
 * role, so a proof made by one side is never a valid proof of the other
 * (no reflection), and it covers both nonces, each fresh per connection
 * (no replay).  Both labels have the same length, so label ‖ ns ‖ nc is
 * never ambiguous.  ns and nc must be exactly NONCE_LEN bytes (a peer that
 * sends another length is refused by the caller before it gets here; a
 * wrong length here raises).
 *
 * Randomness: getrandom(2), as skynet.crypt's randomkey.  HMAC-SHA256 and
 * the constant-time compare (CRYPTO_memcmp) come from libcrypto.
 */
#include <lauxlib.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#define NONCE_LEN 16 /* bytes of each side's nonce */
#define MAC_LEN 32   /* HMAC-SHA256 */
#define LABEL_PREFIX "skynet-cluster-"
#define LABEL_MAX 32

static int lnonce(lua_State *L) {
	uint8_t n[NONCE_LEN];
	size_t got = 0;
	while (got < sizeof(n)) {
		ssize_t r = getrandom(n + got, sizeof(n) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return luaL_error(L, "cluster.auth: getrandom failed: %s", strerror(errno));
		got += (size_t)r;
	}
	lua_pushlstring(L, (const char *)n, sizeof(n));
	return 1;
}

/* The MAC of arguments 1..4 (secret, role, ns, nc) into out. */
static void compute(lua_State *L, uint8_t out[MAC_LEN]) {
	size_t kn, nsn, ncn;
	const char *secret = luaL_checklstring(L, 1, &kn);
	static const char *const roles[] = {"client", "server", NULL};
	int role = luaL_checkoption(L, 2, NULL, roles);
	const char *ns = luaL_checklstring(L, 3, &nsn);
	const char *nc = luaL_checklstring(L, 4, &ncn);
	if (kn == 0 || kn > INT32_MAX)
		luaL_error(L, "cluster.auth: the secret must be 1 to %d bytes", INT32_MAX);
	if (nsn != NONCE_LEN || ncn != NONCE_LEN)
		luaL_error(L, "cluster.auth: nonces must be %d bytes (got %d and %d)", NONCE_LEN, (int)nsn, (int)ncn);
	uint8_t msg[LABEL_MAX + 2 * NONCE_LEN];
	size_t n = strlen(LABEL_PREFIX);
	memcpy(msg, LABEL_PREFIX, n);
	memcpy(msg + n, roles[role], 6); /* "client" and "server": 6 bytes each */
	n += 6;
	memcpy(msg + n, ns, NONCE_LEN);
	memcpy(msg + n + NONCE_LEN, nc, NONCE_LEN);
	n += 2 * NONCE_LEN;
	unsigned int len = 0;
	if (HMAC(EVP_sha256(), secret, (int)kn, msg, n, out, &len) == NULL || len != MAC_LEN)
		luaL_error(L, "cluster.auth: HMAC-SHA256 failed");
}

static int lmac(lua_State *L) {
	uint8_t out[MAC_LEN];
	compute(L, out);
	lua_pushlstring(L, (const char *)out, MAC_LEN);
	return 1;
}

static int lverify(lua_State *L) {
	uint8_t want[MAC_LEN];
	compute(L, want);
	size_t n;
	const char *got = luaL_checklstring(L, 5, &n);
	/* the length is public (always MAC_LEN on the wire); the bytes are
	 * compared in constant time */
	lua_pushboolean(L, n == MAC_LEN && CRYPTO_memcmp(want, got, MAC_LEN) == 0);
	return 1;
}

int luaopen_skynet_cluster_auth(lua_State *L) {
	luaL_checkversion(L);
	static const luaL_Reg l[] = {
	    {"nonce", lnonce},
	    {"mac", lmac},
	    {"verify", lverify},
	    {NULL, NULL},
	};
	luaL_newlib(L, l);
	lua_pushinteger(L, NONCE_LEN);
	lua_setfield(L, -2, "NONCE_LEN");
	lua_pushinteger(L, MAC_LEN);
	lua_setfield(L, -2, "MAC_LEN");
	return 1;
}
