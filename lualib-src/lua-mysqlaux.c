/*
 * lua-mysqlaux.c -- `skynet.mysqlaux`, the C half of the MySQL driver
 * (lualib/skynet/db/mysql.lua): the cryptography its authentication needs,
 * on OpenSSL's libcrypto, and the row decoders (the hot loop of reading a
 * result set):
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
 * The key comes from the network.  libcrypto parses it; what it accepts is
 * then held to what a MySQL server can sound like (an RSA key, modulus of
 * 512..8192 bits and odd, exponent of at most 64 bits), and every refusal
 * is a nil, reason for the driver to report, never a raised error or a
 * crash.  Each call leaves libcrypto's per-thread error queue empty: a
 * worker thread runs other services' code next, and a stale error there
 * would be blamed on whatever TLS call comes after.
 */
#include <lauxlib.h>
#include <lua.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

/* ----------------------------------------------------------------- hashes */

/* Fetched once: an implicit fetch (EVP_sha1()) on every digest costs more
 * than hashing a password. */
static EVP_MD *md_sha1, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void) {
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* Pushes the digest of the string argument 1; raises only when libcrypto
 * cannot hash at all (no provider for the algorithm, out of memory). */
static int push_digest(lua_State *L, int sha256) {
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	pthread_once(&md_once, md_fetch);
	const EVP_MD *md = sha256 ? md_sha256 : md_sha1;
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (md == NULL || !EVP_Digest(s, n, out, &len, md, NULL)) {
		ERR_clear_error();
		return luaL_error(L, "mysql: %s failed in libcrypto", sha256 ? "SHA-256" : "SHA-1");
	}
	lua_pushlstring(L, (const char *)out, len);
	return 1;
}

/* -------------------------------------------------------------------- RSA */

#define RSA_MIN_BITS 512
#define RSA_MAX_BITS 8192
#define RSA_MAX_EXP_BITS 64 /* MySQL's keys use 65537; a huge one is a slow op */
#define PEM_TEXT_MAX 8192   /* an 8192-bit key's PEM is about 1500 bytes */
#define OAEP_SHA1_OVERHEAD (2 * 20 + 2) /* RFC 8017 7.1.1: k - 2 hLen - 2 */
#define RSA_ERR_MAX 160

/* The public key in the PEM text: the first PEM block, whatever its label,
 * holding a SubjectPublicKeyInfo or a PKCS#1 RSAPublicKey (the two forms
 * the driver has always taken).  Returns the key (the caller frees it) and
 * its modulus bits, or NULL with the reason in why. */
static EVP_PKEY *rsa_load(const char *pem, size_t len, int *bits, char *why) {
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long derlen = 0;
	const char *err = NULL;
	if (len > PEM_TEXT_MAX) {
		err = "key text too long";
		goto done;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		err = "out of memory";
		goto done;
	}
	int found = PEM_read_bio(bio, &name, &header, &der, &derlen);
	BIO_free(bio);
	if (!found) {
		err = "not a PEM text";
		goto done;
	}
	const unsigned char *p = der;
	pkey = d2i_PUBKEY(NULL, &p, derlen);
	if (pkey == NULL) {
		p = der;
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, derlen);
	}
	if (pkey == NULL) {
		err = "bad DER: neither a SubjectPublicKeyInfo nor a PKCS#1 RSAPublicKey";
		goto done;
	}
	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		err = "not an RSA key";
		goto done;
	}
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
		err = "bad DER: no modulus or exponent";
		goto done;
	}
	if (BN_is_negative(n) || BN_is_zero(n) || BN_num_bits(n) > RSA_MAX_BITS)
		err = "bad DER: modulus";
	else if (BN_is_negative(e) || BN_is_zero(e) || BN_num_bits(e) > RSA_MAX_EXP_BITS)
		err = "bad DER: exponent";
	else if (BN_num_bits(n) < RSA_MIN_BITS)
		err = "modulus too short";
	else if (!BN_is_odd(n))
		err = "modulus is even";
	else
		*bits = BN_num_bits(n);
done:
	BN_free(n);
	BN_free(e);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	ERR_clear_error();
	if (err) {
		snprintf(why, RSA_ERR_MAX, "%s", err);
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

/* out (RSA_MAX_BITS / 8 bytes) = RSAES-OAEP-Encrypt(pkey, msg) with SHA-1
 * and MGF1-SHA-1, the seed from libcrypto's DRBG.  Returns the ciphertext
 * length (the modulus bytes), or 0 with the reason in why. */
static size_t rsa_oaep_sha1(EVP_PKEY *pkey, const void *msg, size_t mlen, unsigned char *out, char *why) {
	size_t k = (size_t)EVP_PKEY_get_size(pkey);
	if (k < OAEP_SHA1_OVERHEAD || mlen > k - OAEP_SHA1_OVERHEAD) {
		snprintf(why, RSA_ERR_MAX, "message too long for the key");
		return 0;
	}
	size_t outlen = RSA_MAX_BITS / 8;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA1", NULL) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA1", NULL) <= 0 ||
	    EVP_PKEY_encrypt(ctx, out, &outlen, msg, mlen) <= 0) {
		const char *reason = ERR_reason_error_string(ERR_peek_last_error());
		snprintf(why, RSA_ERR_MAX, "RSA encryption failed in libcrypto: %s", reason ? reason : "no reason given");
		outlen = 0;
	}
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return outlen;
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
	return push_digest(L, 0);
}

static int lsha256(lua_State *L) {
	return push_digest(L, 1);
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

/* The libcrypto objects are freed before anything is pushed: a push may
 * raise (out of memory) and would leak them. */
static int lrsa_encrypt(lua_State *L) {
	size_t pemlen, mlen;
	const char *pem = luaL_checklstring(L, 1, &pemlen);
	const char *msg = luaL_checklstring(L, 2, &mlen);
	unsigned char out[RSA_MAX_BITS / 8];
	char why[RSA_ERR_MAX];
	size_t outlen = 0;
	int bits;
	EVP_PKEY *pkey = rsa_load(pem, pemlen, &bits, why);
	if (pkey) {
		outlen = rsa_oaep_sha1(pkey, msg, mlen, out, why);
		EVP_PKEY_free(pkey);
	}
	if (outlen == 0) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushlstring(L, (const char *)out, outlen);
	return 1;
}

static int lrsa_modulus_bits(lua_State *L) {
	size_t pemlen;
	const char *pem = luaL_checklstring(L, 1, &pemlen);
	char why[RSA_ERR_MAX];
	int bits = 0;
	EVP_PKEY *pkey = rsa_load(pem, pemlen, &bits, why);
	if (pkey == NULL) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	EVP_PKEY_free(pkey);
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
