/*
 * lua-webcore.c -- `skynet.webcore`, the C half of the web stack
 * (lualib/http/ modules, lualib/skynet/dns.lua): the parsers that see every
 * byte from a peer, so they are C, bounded, and fuzzed (fuzz/fuzz_*.c link
 * the pure parsers below this binding).
 *
 * HTTP (http_parse.c)
 *   request(s [, maxhead]) -> nil                       head incomplete, under the limit
 *                          -> code                      400 / 413 / 505
 *                          -> 200, headlen, method, target, minor, header
 *   status(line) -> code | nil                           "HTTP/1.1 200 OK" (no CRLF)
 *   headers(s, header) -> header | nil                   CRLF-separated field lines into
 *                                                        header (lower-case names; a repeated
 *                                                        name becomes a list; nil if malformed)
 *   head_end(s [, init]) -> pos | nil                    position after the first "\r\n\r\n"
 *   chunked_new(limit) -> decoder                        limit 0 or nil: none
 *   chunked(decoder, s, pos, stop_each) -> state, nextpos, data
 *       state "more" (s used up), "chunk" (a chunk ended; with stop_each),
 *       "done" (last-chunk line read: the trailer section starts at nextpos),
 *       "bad" or "large"; data = the body bytes decoded by this call.
 * WebSocket (ws_frame.c, web_codec.c)
 *   ws_parse(s, pos, mask_required, max) -> opcode, fin, payload, nextpos
 *                                        -> nil, need   (bytes from pos the frame needs, if known)
 *                                        -> false, closecode, why
 *   ws_build(opcode, data [, key [, fin]]) -> frame      key: integer (big-endian masking key),
 *                                                        true (a random one) or nil (unmasked)
 *   utf8(s) -> boolean
 *   ws_accept(key) -> Sec-WebSocket-Accept value
 *   ws_key_valid(key) -> boolean                         base64 of exactly 16 bytes
 *   ws_newkey() -> base64 of 16 random bytes
 * DNS (dns_msg.c)
 *   dns_query(id, name, qtype) -> packet | nil
 *   dns_reply(s) -> {id, rcode, tc, qname, qtype, answers = {{type, ttl, ip}...}}
 *                -> nil, why
 */
#include <lauxlib.h>
#include <lua.h>

#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dns_msg.h"
#include "http_parse.h"
#include "web_codec.h"

#include <openssl/evp.h>
#include "ws_frame.h"

/* HTTP ------------------------------------------------------------------------ */

/* Adds field name = value to the header table at idx (upstream's rules:
 * a second value turns the entry into a list). */
static void header_add(lua_State *L, int idx, const struct http_span *name, const struct http_span *value) {
	luaL_Buffer b;
	luaL_buffinitsize(L, &b, name->n);
	char *k = luaL_prepbuffsize(&b, name->n);
	for (size_t i = 0; i < name->n; i++) {
		char c = name->p[i];
		k[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	luaL_addsize(&b, name->n);
	luaL_pushresult(&b); /* key */
	lua_pushvalue(L, -1);
	int t = lua_rawget(L, idx);
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushlstring(L, value->p, value->n);
		lua_rawset(L, idx);
	} else if (t == LUA_TTABLE) {
		lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
		lua_pushlstring(L, value->p, value->n);
		lua_rawseti(L, -2, n + 1);
		lua_pop(L, 2);
	} else {
		lua_createtable(L, 2, 0);
		lua_insert(L, -2);
		lua_rawseti(L, -2, 1);
		lua_pushlstring(L, value->p, value->n);
		lua_rawseti(L, -2, 2);
		lua_rawset(L, idx);
	}
}

/* Appends a continuation line to the last field added, whose lower-cased
 * name the caller keeps at stack index keyidx (the last element of a list). */
static void header_continue(lua_State *L, int idx, int keyidx, const struct http_span *value) {
	lua_pushvalue(L, keyidx);
	int t = lua_rawget(L, idx);
	if (t == LUA_TTABLE) {
		lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
		lua_rawgeti(L, -1, n);
		lua_pushlstring(L, value->p, value->n);
		lua_concat(L, 2);
		lua_rawseti(L, -2, n);
		lua_pop(L, 1);
	} else {
		lua_pushlstring(L, value->p, value->n);
		lua_concat(L, 2);
		lua_pushvalue(L, keyidx);
		lua_insert(L, -2);
		lua_rawset(L, idx);
	}
}

/* Parses field lines p[0..n) into the table at idx; 0 or HTTP_BAD. */
static int parse_fields(lua_State *L, int idx, const char *p, size_t n) {
	struct http_header_iter it;
	struct http_span name, value;
	int cont, r;
	http_header_begin(&it, p, n);
	lua_pushnil(L); /* slot for the last key */
	int keyidx = lua_gettop(L);
	while ((r = http_header_next(&it, &name, &value, &cont)) == 1) {
		if (cont) {
			header_continue(L, idx, keyidx, &value);
		} else {
			header_add(L, idx, &name, &value);
			/* remember the lower-cased key for continuations */
			luaL_Buffer b;
			luaL_buffinit(L, &b);
			for (size_t i = 0; i < name.n; i++) {
				char c = name.p[i];
				luaL_addchar(&b, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
			}
			luaL_pushresult(&b);
			lua_replace(L, keyidx);
		}
	}
	lua_settop(L, keyidx - 1);
	return r == 0 ? 0 : HTTP_BAD;
}

static int lrequest(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	size_t maxhead = (size_t)luaL_optinteger(L, 2, HTTP_HEAD_MAX);
	size_t scan = len < maxhead ? len : maxhead;
	size_t hlen = http_head_end(s, scan);
	if (hlen == 0) {
		if (len >= maxhead) {
			lua_pushinteger(L, HTTP_TOO_LARGE);
			return 1;
		}
		return 0;
	}
	const char *eol = memmem(s, hlen, "\r\n", 2); /* found: hlen >= 4 */
	struct http_span method, target;
	int minor;
	int r = http_request_line(s, (size_t)(eol - s), &method, &target, &minor);
	if (r != 0) {
		lua_pushinteger(L, r);
		return 1;
	}
	lua_pushinteger(L, 200);
	lua_pushinteger(L, (lua_Integer)hlen);
	lua_pushlstring(L, method.p, method.n);
	lua_pushlstring(L, target.p, target.n);
	lua_pushinteger(L, minor);
	lua_createtable(L, 0, 8);
	int hidx = lua_gettop(L);
	if (parse_fields(L, hidx, eol + 2, (size_t)(s + hlen - eol - 2)) != 0) {
		lua_pushinteger(L, HTTP_BAD);
		return 1;
	}
	return 6;
}

static int lstatus(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	int code;
	if (http_status_line(s, len, &code) != 0)
		return 0;
	lua_pushinteger(L, code);
	return 1;
}

static int lheaders(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	if (parse_fields(L, 2, s, len) != 0)
		return 0;
	return 1;
}

static int lhead_end(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	lua_Integer init = luaL_optinteger(L, 2, 1);
	if (init < 1 || (size_t)init > len + 1)
		return 0;
	size_t off = (size_t)init - 1;
	size_t e = http_head_end(s + off, len - off);
	if (e == 0)
		return 0;
	lua_pushinteger(L, (lua_Integer)(off + e + 1));
	return 1;
}

#define CHUNKED_MT "skynet.webcore.chunked"

static int lchunked_new(lua_State *L) {
	lua_Integer limit = luaL_optinteger(L, 1, 0);
	struct http_chunked *c = lua_newuserdatauv(L, sizeof(*c), 0);
	http_chunked_init(c, limit > 0 ? (uint64_t)limit : 0);
	luaL_setmetatable(L, CHUNKED_MT);
	return 1;
}

static void chunk_out(void *ud, const char *p, size_t n) {
	luaL_addlstring((luaL_Buffer *)ud, p, n);
}

static int lchunked(lua_State *L) {
	struct http_chunked *c = luaL_checkudata(L, 1, CHUNKED_MT);
	size_t len;
	const char *s = luaL_checklstring(L, 2, &len);
	lua_Integer pos = luaL_optinteger(L, 3, 1);
	int stop_each = lua_toboolean(L, 4);
	if (pos < 1 || (size_t)pos > len + 1)
		return luaL_argerror(L, 3, "position out of range");
	size_t off = (size_t)pos - 1, used;
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	int r = http_chunked_feed(c, s + off, len - off, &used, stop_each, chunk_out, &b);
	const char *state;
	switch (r) {
	case HTTP_CHUNK_MORE: state = "more"; break;
	case HTTP_CHUNK_END: state = "chunk"; break;
	case HTTP_CHUNK_DONE: state = "done"; break;
	case HTTP_CHUNK_TOO_LARGE: state = "large"; break;
	default: state = "bad"; break;
	}
	luaL_pushresult(&b);
	lua_pushstring(L, state);
	lua_pushinteger(L, (lua_Integer)(off + used + 1));
	lua_rotate(L, -3, -1); /* data last */
	return 3;
}

/* WebSocket --------------------------------------------------------------------- */

static int lws_parse(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	lua_Integer pos = luaL_checkinteger(L, 2);
	int mask_rule = lua_toboolean(L, 3) ? WS_MASK_REQUIRED : WS_MASK_ANY;
	lua_Integer max = luaL_checkinteger(L, 4);
	if (pos < 1 || (size_t)pos > len + 1)
		return luaL_argerror(L, 2, "position out of range");
	size_t off = (size_t)pos - 1;
	const uint8_t *p = (const uint8_t *)s + off;
	size_t n = len - off;
	struct ws_frame f;
	const char *why = NULL;
	int r = ws_frame_parse(p, n, mask_rule, max < 0 ? 0 : (uint64_t)max, &f, &why);
	if (r < 0) {
		lua_pushboolean(L, 0);
		lua_pushinteger(L, -r);
		lua_pushstring(L, why);
		return 3;
	}
	if (r == 0) {
		lua_pushnil(L);
		return 1;
	}
	if (n - f.hlen < f.len) {
		lua_pushnil(L);
		lua_pushinteger(L, (lua_Integer)(f.hlen + f.len));
		return 2;
	}
	lua_pushinteger(L, f.opcode);
	lua_pushboolean(L, f.fin);
	if (f.masked && f.len > 0) {
		luaL_Buffer b;
		char *d = luaL_buffinitsize(L, &b, (size_t)f.len);
		ws_mask((uint8_t *)d, p + f.hlen, (size_t)f.len, f.key, 0);
		luaL_pushresultsize(&b, (size_t)f.len);
	} else {
		lua_pushlstring(L, (const char *)p + f.hlen, (size_t)f.len);
	}
	lua_pushinteger(L, (lua_Integer)(off + f.hlen + f.len + 1));
	return 4;
}

/* xorshift64*, seeded from getrandom: masking keys only need to be
 * unpredictable to scripts in a browser (RFC 6455 §10.3), not secret. */
static uint64_t rand_state;

static uint64_t rand_next(void) {
	if (rand_state == 0) {
		if (getrandom(&rand_state, sizeof(rand_state), 0) != (ssize_t)sizeof(rand_state) || rand_state == 0)
			rand_state = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull | 1;
	}
	uint64_t x = rand_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rand_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static int lws_build(lua_State *L) {
	lua_Integer op = luaL_checkinteger(L, 1);
	size_t len;
	const char *data = luaL_optlstring(L, 2, "", &len);
	uint8_t key[4], *kp = NULL;
	if (lua_isinteger(L, 3)) {
		lua_Integer k = lua_tointeger(L, 3);
		key[0] = (uint8_t)(k >> 24);
		key[1] = (uint8_t)(k >> 16);
		key[2] = (uint8_t)(k >> 8);
		key[3] = (uint8_t)k;
		kp = key;
	} else if (lua_toboolean(L, 3)) {
		uint32_t k = (uint32_t)(rand_next() >> 32);
		memcpy(key, &k, 4);
		kp = key;
	}
	int fin = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
	uint8_t head[WS_HEADER_MAX];
	size_t h = ws_frame_header(head, fin, (int)op, len, kp);
	luaL_Buffer b;
	char *d = luaL_buffinitsize(L, &b, h + len);
	memcpy(d, head, h);
	if (kp)
		ws_mask((uint8_t *)d + h, (const uint8_t *)data, len, kp, 0);
	else
		memcpy(d + h, data, len);
	luaL_pushresultsize(&b, h + len);
	return 1;
}

static int lutf8(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	lua_pushboolean(L, ws_utf8_valid((const uint8_t *)s, len));
	return 1;
}

static int lws_accept(lua_State *L) {
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	size_t len;
	const char *key = luaL_checklstring(L, 1, &len);
	uint8_t digest[WEB_SHA1_SIZE];
	char out[WEB_BASE64_LEN(WEB_SHA1_SIZE)];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestInit_ex(md, EVP_sha1(), NULL) && EVP_DigestUpdate(md, key, len) &&
	         EVP_DigestUpdate(md, guid, sizeof(guid) - 1) && EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
	if (!ok)
		return luaL_error(L, "websocket: libcrypto could not compute SHA-1");
	lua_pushlstring(L, out, web_base64_encode(out, digest, sizeof(digest)));
	return 1;
}

static int lws_key_valid(lua_State *L) {
	size_t len;
	const char *key = luaL_checklstring(L, 1, &len);
	uint8_t out[18];
	lua_pushboolean(L, len == 24 && web_base64_decode(out, key, len) == 16);
	return 1;
}

static int lws_newkey(lua_State *L) {
	uint8_t raw[16];
	char out[WEB_BASE64_LEN(16)];
	for (int i = 0; i < 16; i += 8) {
		uint64_t r = rand_next();
		memcpy(raw + i, &r, 8);
	}
	lua_pushlstring(L, out, web_base64_encode(out, raw, sizeof(raw)));
	return 1;
}

/* DNS ------------------------------------------------------------------------------ */

static int ldns_query(lua_State *L) {
	lua_Integer id = luaL_checkinteger(L, 1);
	size_t len;
	const char *name = luaL_checklstring(L, 2, &len);
	lua_Integer qtype = luaL_checkinteger(L, 3);
	uint8_t out[DNS_QUERY_MAX];
	int n = dns_query_build(out, (uint16_t)id, name, len, (uint16_t)qtype);
	if (n < 0)
		return 0;
	lua_pushlstring(L, (const char *)out, (size_t)n);
	return 1;
}

static int ldns_reply(lua_State *L) {
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	struct dns_reply r;
	int e = dns_reply_parse((const uint8_t *)s, len, &r);
	if (e) {
		lua_pushnil(L);
		switch (e) {
		case DNS_ERR_SHORT: lua_pushliteral(L, "shorter than a DNS header"); break;
		case DNS_ERR_QUESTION: lua_pushliteral(L, "not exactly one question"); break;
		case DNS_ERR_NOT_REPLY: lua_pushliteral(L, "not a reply"); break;
		default: lua_pushliteral(L, "malformed packet"); break;
		}
		if (len >= 2)
			lua_pushinteger(L, (unsigned char)s[0] << 8 | (unsigned char)s[1]);
		return len >= 2 ? 3 : 2;
	}
	lua_createtable(L, 0, 7);
	lua_pushinteger(L, r.id);
	lua_setfield(L, -2, "id");
	lua_pushinteger(L, DNS_RCODE(r.flags));
	lua_setfield(L, -2, "rcode");
	lua_pushboolean(L, (r.flags & DNS_FLAG_TC) != 0);
	lua_setfield(L, -2, "tc");
	lua_pushstring(L, r.qname);
	lua_setfield(L, -2, "qname");
	lua_pushinteger(L, r.qtype);
	lua_setfield(L, -2, "qtype");
	lua_createtable(L, r.nanswer, 0);
	for (int i = 0; i < r.nanswer; i++) {
		char text[48];
		lua_createtable(L, 0, 3);
		lua_pushinteger(L, r.answer[i].type);
		lua_setfield(L, -2, "type");
		lua_pushinteger(L, r.answer[i].ttl);
		lua_setfield(L, -2, "ttl");
		lua_pushlstring(L, text, (size_t)dns_addr_text(&r.answer[i], text));
		lua_setfield(L, -2, "ip");
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "answers");
	return 1;
}

LUAMOD_API int luaopen_skynet_webcore(lua_State *L) {
	luaL_checkversion(L);
	static const luaL_Reg l[] = {
	    {"request", lrequest},         {"status", lstatus},
	    {"headers", lheaders},         {"head_end", lhead_end},
	    {"chunked_new", lchunked_new}, {"chunked", lchunked},
	    {"ws_parse", lws_parse},       {"ws_build", lws_build},
	    {"utf8", lutf8},               {"ws_accept", lws_accept},
	    {"ws_key_valid", lws_key_valid}, {"ws_newkey", lws_newkey},
	    {"dns_query", ldns_query},     {"dns_reply", ldns_reply},
	    {NULL, NULL},
	};
	luaL_newmetatable(L, CHUNKED_MT);
	lua_pop(L, 1);
	luaL_newlib(L, l);
	lua_pushinteger(L, HTTP_HEAD_MAX);
	lua_setfield(L, -2, "HEAD_MAX");
	return 1;
}
