// fuzz-sources: lualib-src/http_parse.c
/*
 * fuzz_http.c -- libFuzzer target for the HTTP/1.1 parsers of
 * skynet.webcore (lualib-src/http_parse.c): the request head (end of head,
 * request line, header field iteration, status line) and the chunked
 * decoder.
 *
 * Input: byte 0 = settings (bit 0: stop at every chunk end; bits 1-3: the
 * body limit, none or 2^(4+k)), byte 1.. = the bytes of a message.  The
 * head parsers run on the whole input; the chunked decoder runs twice on
 * it -- once in one call, once fed in pieces whose sizes come from the
 * input itself -- and both runs must agree on the result, the bytes
 * consumed and the decoded data, which must never exceed the limit.  ASan
 * checks every access.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

struct sink {
	uint8_t *p;
	size_t n, cap;
};

static void sink_out(void *ud, const char *p, size_t n) {
	struct sink *s = ud;
	if (s->n + n > s->cap)
		abort(); /* more data out than went in */
	memcpy(s->p + s->n, p, n);
	s->n += n;
}

/* Feeds all of in to a fresh decoder in pieces; returns the final state and
 * sets *consumed to the bytes used. */
static int decode(const char *in, size_t n, uint64_t limit, int stop_each, const uint8_t *sizes,
                  size_t nsizes, struct sink *out, size_t *consumed) {
	struct http_chunked c;
	http_chunked_init(&c, limit);
	size_t pos = 0, k = 0;
	int r = HTTP_CHUNK_MORE;
	while (pos < n) {
		size_t piece = n - pos;
		if (nsizes) {
			size_t want = (size_t)sizes[k++ % nsizes] + 1;
			if (want < piece)
				piece = want;
		}
		size_t used;
		r = http_chunked_feed(&c, in + pos, piece, &used, stop_each, sink_out, out);
		if (used > piece)
			abort();
		pos += used;
		if (r == HTTP_CHUNK_END)
			continue;
		if (r != HTTP_CHUNK_MORE)
			break;
		if (used != piece)
			abort(); /* MORE must consume everything */
	}
	if (limit && c.total > limit)
		abort();
	*consumed = pos;
	return r == HTTP_CHUNK_END ? HTTP_CHUNK_MORE : r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 1)
		return 0;
	int stop_each = data[0] & 1;
	int k = (data[0] >> 1) & 7;
	uint64_t limit = k ? (uint64_t)1 << (4 + k) : 0;
	const char *msg = (const char *)data + 1;
	size_t n = size - 1;

	/* head */
	size_t hlen = http_head_end(msg, n);
	if (hlen > n)
		abort();
	if (hlen) {
		const char *eol = memmem(msg, hlen, "\r\n", 2);
		struct http_span m, t;
		int minor, code;
		if (http_request_line(msg, (size_t)(eol - msg), &m, &t, &minor) == 0) {
			if (m.p != msg || m.n == 0 || t.n == 0 || t.p + t.n > eol || (minor != 0 && minor != 1))
				abort();
		}
		if (http_status_line(msg, (size_t)(eol - msg), &code) == 0 && (code < 0 || code > 999))
			abort();
		struct http_header_iter it;
		struct http_span name, value;
		int cont, r;
		http_header_begin(&it, eol + 2, (size_t)(msg + hlen - eol - 2));
		while ((r = http_header_next(&it, &name, &value, &cont)) == 1) {
			if (value.p < eol || value.p + value.n > msg + hlen)
				abort();
			if (!cont && (name.p < eol || name.p + name.n > msg + hlen))
				abort();
		}
	}

	/* chunked: whole vs pieces */
	struct sink a = {malloc(n + 1), 0, n}, b = {malloc(n + 1), 0, n};
	size_t ca, cb;
	int ra = decode(msg, n, limit, stop_each, NULL, 0, &a, &ca);
	int rb = decode(msg, n, limit, stop_each, data, size < 16 ? size : 16, &b, &cb);
	if (ra != rb || ca != cb || a.n != b.n || memcmp(a.p, b.p, a.n) != 0)
		abort();
	free(a.p);
	free(b.p);
	return 0;
}
