/*
 * ltls.c -- TLS over memory BIOs for http.tlshelper (spec/api-http-websocket-dns.md
 * §7): modules `ltls.c` and `ltls.init.c` in luaclib/ltls.so, linked with
 * OpenSSL (-lssl -lcrypto).  The socket stays with skynet.socket: Lua feeds
 * the ciphertext it read into a session and writes out what the session
 * produced, so no OpenSSL call ever blocks a worker.
 *
 *   ltls.c:      newctx() -> ctx            ctx:set_cert(certfile, keyfile)
 *                                          ctx:set_ciphers(list)
 *                                          ctx:set_verify(cafile)   (ours)
 *                newtls("client"|"server", ctx [, hostname]) -> tls
 *                tls:handshake([in]) -> out?   tls:finished() -> boolean
 *                tls:read([in]) -> plain       tls:write([plain]) -> out
 *                tls:set_ext_host_name(name)   tls:close()
 *   ltls.init.c: constructor(), destructor()
 *
 * Differences from upstream: `require "ltls.c"` works without
 * ltls.init.c's constructor (OpenSSL >= 1.1 initialises itself; bootstrap
 * still calls it when config enablessl = "true"); set_ciphers sets the
 * cipher list (upstream wires it to the SRTP setter); handshake returns the
 * output that completes the handshake instead of leaving it for the next
 * write; a client context can verify the server (set_verify) -- by default,
 * as upstream, peers are not verified.
 */
#include <lauxlib.h>
#include <lua.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#define CTX_MT "ltls.ctx"
#define TLS_MT "ltls.tls"

struct tls_ctx {
	SSL_CTX *ctx;
};

struct tls_session {
	SSL *ssl;
	BIO *in;   /* ciphertext from the peer, written by Lua, read by OpenSSL */
	BIO *out;  /* ciphertext for the peer, written by OpenSSL, drained to Lua */
};

/* The text of the oldest queued OpenSSL error (and the queue cleared). */
static const char *ssl_errtext(char *buf, size_t n) {
	unsigned long e = ERR_get_error();
	if (e == 0)
		return "no OpenSSL error queued";
	ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

/* context ---------------------------------------------------------------------- */

static struct tls_ctx *check_ctx(lua_State *L, int idx) {
	struct tls_ctx *c = luaL_checkudata(L, idx, CTX_MT);
	if (c->ctx == NULL)
		luaL_error(L, "context is closed");
	return c;
}

static int lctx_gc(lua_State *L) {
	struct tls_ctx *c = luaL_checkudata(L, 1, CTX_MT);
	if (c->ctx) {
		SSL_CTX_free(c->ctx);
		c->ctx = NULL;
	}
	return 0;
}

static int lctx_set_cert(lua_State *L) {
	struct tls_ctx *c = check_ctx(L, 1);
	const char *cert = luaL_optstring(L, 2, NULL);
	const char *key = luaL_optstring(L, 3, NULL);
	char err[256];
	if (cert == NULL)
		return luaL_error(L, "need certfile");
	if (key == NULL)
		return luaL_error(L, "need private key");
	if (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1)
		return luaL_error(L, "SSL_CTX_use_certificate_chain_file error:%s (%s)", ssl_errtext(err, sizeof(err)), cert);
	if (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1)
		return luaL_error(L, "SSL_CTX_use_PrivateKey_file error:%s (%s)", ssl_errtext(err, sizeof(err)), key);
	if (SSL_CTX_check_private_key(c->ctx) != 1)
		return luaL_error(L, "SSL_CTX_check_private_key error:%s", ssl_errtext(err, sizeof(err)));
	return 0;
}

static int lctx_set_ciphers(lua_State *L) {
	struct tls_ctx *c = check_ctx(L, 1);
	const char *list = luaL_optstring(L, 2, NULL);
	char err[256];
	if (list == NULL)
		return luaL_error(L, "need cipher list");
	if (SSL_CTX_set_cipher_list(c->ctx, list) != 1)
		return luaL_error(L, "SSL_CTX_set_cipher_list error:%s", ssl_errtext(err, sizeof(err)));
	return 0;
}

/* set_verify(cafile): verify the peer's certificate against cafile (and the
 * host name given to newtls, for a client). */
static int lctx_set_verify(lua_State *L) {
	struct tls_ctx *c = check_ctx(L, 1);
	const char *cafile = luaL_checkstring(L, 2);
	char err[256];
	if (SSL_CTX_load_verify_locations(c->ctx, cafile, NULL) != 1)
		return luaL_error(L, "SSL_CTX_load_verify_locations error:%s (%s)", ssl_errtext(err, sizeof(err)), cafile);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

static int lnewctx(lua_State *L) {
	struct tls_ctx *c = lua_newuserdatauv(L, sizeof(*c), 0);
	c->ctx = NULL;
	luaL_setmetatable(L, CTX_MT);
	c->ctx = SSL_CTX_new(TLS_method());
	if (c->ctx == NULL) {
		char err[256];
		return luaL_error(L, "SSL_CTX_new error:%s", ssl_errtext(err, sizeof(err)));
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	return 1;
}

/* session ----------------------------------------------------------------------- */

static struct tls_session *check_tls(lua_State *L, int idx) {
	struct tls_session *t = luaL_checkudata(L, idx, TLS_MT);
	if (t->ssl == NULL)
		luaL_error(L, "context is closed");
	return t;
}

static int ltls_close(lua_State *L) {
	struct tls_session *t = luaL_checkudata(L, 1, TLS_MT);
	if (t->ssl) {
		SSL_free(t->ssl); /* frees both BIOs */
		t->ssl = NULL;
		t->in = t->out = NULL;
	}
	return 0;
}

/* Writes the optional ciphertext argument at idx into the input BIO. */
static void feed(lua_State *L, struct tls_session *t, int idx) {
	size_t n;
	const char *s = luaL_optlstring(L, idx, NULL, &n);
	if (s && n > 0) {
		if (BIO_write(t->in, s, (int)n) != (int)n)
			luaL_error(L, "BIO_write failed");
	}
}

/* Pushes what the output BIO holds (possibly ""); returns its length. */
static size_t drain(lua_State *L, struct tls_session *t) {
	char *p;
	long n = BIO_get_mem_data(t->out, &p);
	lua_pushlstring(L, n > 0 ? p : "", n > 0 ? (size_t)n : 0);
	(void)BIO_reset(t->out);
	return n > 0 ? (size_t)n : 0;
}

static int ltls_finished(lua_State *L) {
	struct tls_session *t = check_tls(L, 1);
	lua_pushboolean(L, SSL_is_init_finished(t->ssl));
	return 1;
}

static int ltls_handshake(lua_State *L) {
	struct tls_session *t = check_tls(L, 1);
	if (SSL_is_init_finished(t->ssl))
		return luaL_error(L, "handshake is finished");
	feed(L, t, 2);
	int r = SSL_do_handshake(t->ssl);
	if (r != 1) {
		int e = SSL_get_error(t->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			char err[256];
			return luaL_error(L, "SSL_do_handshake error:%d ret:%d (%s)", e, r, ssl_errtext(err, sizeof(err)));
		}
	}
	if (drain(L, t) == 0) {
		lua_pop(L, 1);
		return 0;
	}
	return 1;
}

static int ltls_read(lua_State *L) {
	struct tls_session *t = check_tls(L, 1);
	feed(L, t, 2);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (;;) {
		char *p = luaL_prepbuffsize(&b, 16 * 1024);
		int r = SSL_read(t->ssl, p, 16 * 1024);
		if (r > 0) {
			luaL_addsize(&b, (size_t)r);
			continue;
		}
		int e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_ZERO_RETURN)
			break; /* ZERO_RETURN: the peer's close_notify; the socket close follows */
		char err[256];
		return luaL_error(L, "SSL_read error:%d (%s)", e, ssl_errtext(err, sizeof(err)));
	}
	luaL_pushresult(&b);
	return 1;
}

static int ltls_write(lua_State *L) {
	struct tls_session *t = check_tls(L, 1);
	size_t n;
	const char *s = luaL_optlstring(L, 2, NULL, &n);
	while (s && n > 0) {
		int r = SSL_write(t->ssl, s, n > 0x40000000 ? 0x40000000 : (int)n);
		if (r <= 0) {
			int e = SSL_get_error(t->ssl, r);
			char err[256];
			return luaL_error(L, "SSL_write error:%d (%s)", e, ssl_errtext(err, sizeof(err)));
		}
		s += r;
		n -= (size_t)r;
	}
	drain(L, t);
	return 1;
}

static int ltls_set_ext_host_name(lua_State *L) {
	struct tls_session *t = check_tls(L, 1);
	const char *name = luaL_checkstring(L, 2);
	lua_pushinteger(L, SSL_set_tlsext_host_name(t->ssl, name));
	return 1;
}

static int lnewtls(lua_State *L) {
	const char *method = luaL_checkstring(L, 1);
	struct tls_ctx *c = check_ctx(L, 2);
	const char *hostname = luaL_optstring(L, 3, NULL);
	int client;
	if (strcmp(method, "client") == 0)
		client = 1;
	else if (strcmp(method, "server") == 0)
		client = 0;
	else
		return luaL_error(L, "invalid method:%s e.g[server, client]", method);
	struct tls_session *t = lua_newuserdatauv(L, sizeof(*t), 1);
	t->ssl = NULL;
	t->in = t->out = NULL;
	luaL_setmetatable(L, TLS_MT);
	lua_pushvalue(L, 2); /* keep the context alive as long as the session */
	lua_setiuservalue(L, -2, 1);
	t->ssl = SSL_new(c->ctx);
	if (t->ssl == NULL) {
		char err[256];
		return luaL_error(L, "SSL_new error:%s", ssl_errtext(err, sizeof(err)));
	}
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (t->in == NULL || t->out == NULL) {
		BIO_free(t->in);
		BIO_free(t->out);
		SSL_free(t->ssl);
		t->ssl = NULL;
		return luaL_error(L, "BIO_new failed");
	}
	BIO_set_mem_eof_return(t->in, -1);
	BIO_set_mem_eof_return(t->out, -1);
	SSL_set_bio(t->ssl, t->in, t->out);
	if (client) {
		SSL_set_connect_state(t->ssl);
		if (hostname) {
			SSL_set_tlsext_host_name(t->ssl, hostname);
			SSL_set1_host(t->ssl, hostname); /* checked only with set_verify */
		}
	} else {
		SSL_set_accept_state(t->ssl);
	}
	return 1;
}

LUAMOD_API int luaopen_ltls_c(lua_State *L) {
	luaL_checkversion(L);
	static const luaL_Reg ctx_methods[] = {
	    {"set_cert", lctx_set_cert},
	    {"set_ciphers", lctx_set_ciphers},
	    {"set_verify", lctx_set_verify},
	    {NULL, NULL},
	};
	static const luaL_Reg tls_methods[] = {
	    {"finished", ltls_finished},   {"handshake", ltls_handshake},
	    {"read", ltls_read},           {"write", ltls_write},
	    {"set_ext_host_name", ltls_set_ext_host_name},
	    {"close", ltls_close},         {NULL, NULL},
	};
	if (luaL_newmetatable(L, CTX_MT)) {
		luaL_newlib(L, ctx_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, lctx_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, TLS_MT)) {
		luaL_newlib(L, tls_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, ltls_close);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	static const luaL_Reg l[] = {
	    {"newctx", lnewctx},
	    {"newtls", lnewtls},
	    {NULL, NULL},
	};
	luaL_newlib(L, l);
	return 1;
}

/* ltls.init.c ------------------------------------------------------------------------ */

static int linit_constructor(lua_State *L) {
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL) != 1)
		return luaL_error(L, "OPENSSL_init_ssl failed");
	return 0;
}

/* OpenSSL >= 1.1 releases its global state at process exit by itself. */
static int linit_destructor(lua_State *L) {
	(void)L;
	return 0;
}

LUAMOD_API int luaopen_ltls_init_c(lua_State *L) {
	luaL_checkversion(L);
	static const luaL_Reg l[] = {
	    {"constructor", linit_constructor},
	    {"destructor", linit_destructor},
	    {NULL, NULL},
	};
	luaL_newlib(L, l);
	return 1;
}
