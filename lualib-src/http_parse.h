/*
 * http_parse.h -- HTTP/1.1 message heads and chunked bodies, as pure
 * functions over byte ranges (no Lua, no allocation), so that a libFuzzer
 * target can link them alone (fuzz/fuzz_http.c).  The Lua binding is
 * lualib-src/lua-webcore.c; the rules are spec/api-http-websocket-dns.md §2
 * and §3 with the improvements listed in README "Web".
 *
 * Nothing here trusts a length from the peer: every scan is bounded by the
 * bytes given and by the limits below.
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest request or response head accepted, request line and the blank
 * line included (upstream's limit, applied exactly). */
#define HTTP_HEAD_MAX 8192
/* Longest chunk-size line accepted, extensions included (upstream: 128,
 * extensions refused).  Bounds what a peer makes us buffer between chunks. */
#define HTTP_CHUNK_LINE_MAX 1024

/* Results shared by the parsers (HTTP status codes where one applies). */
enum {
	HTTP_MORE = 0,           /* the input ends before the thing parsed does */
	HTTP_BAD = 400,          /* malformed: answer 400 Bad Request */
	HTTP_TOO_LARGE = 413,    /* over a limit: answer 413 */
	HTTP_BAD_VERSION = 505,  /* HTTP/x.y other than 1.0 and 1.1 */
};

struct http_span {
	const char *p;
	size_t n;
};

/* Length of the head at the start of buf: the bytes up to and including
 * the first "\r\n\r\n", or 0 if there is none in the first `len` bytes. */
size_t http_head_end(const char *buf, size_t len);

/* "METHOD SP target SP HTTP/1.x" (line without its CRLF).  The method is a
 * token; the target is what lies between the first and the last space,
 * trimmed (upstream allows spaces inside).  Returns 0 and fills the spans
 * and *minor (0 or 1), HTTP_BAD_VERSION for a well-formed line naming
 * another version, HTTP_BAD otherwise. */
int http_request_line(const char *line, size_t n, struct http_span *method,
                      struct http_span *target, int *minor);

/* "HTTP/d.d SP code [SP reason]" (line without its CRLF); code is 3
 * digits.  Returns 0 and sets *code, or HTTP_BAD. */
int http_status_line(const char *line, size_t n, int *code);

/* Header lines of a head, one at a time.  `p`..`end` are the lines after
 * the start line, CRLF-separated (the final blank line may be included or
 * not).  Each call yields one field: name (verbatim, to be lower-cased by
 * the caller), value (leading spaces and tabs skipped, the rest kept), and
 * whether the line is a continuation of the previous field (it starts with
 * a TAB; the value is then the line minus that TAB).  Returns 1 for a
 * field, 0 at the end, HTTP_BAD for a line without ':' or a continuation
 * with no field before it. */
struct http_header_iter {
	const char *p, *end;
	int seen; /* a field was yielded before */
};
void http_header_begin(struct http_header_iter *it, const char *p, size_t n);
int http_header_next(struct http_header_iter *it, struct http_span *name,
                     struct http_span *value, int *continuation);

/* Chunked transfer coding (RFC 9112 §7.1), a resumable decoder.  Feed it
 * the bytes as they arrive; it hands out the data bytes through `out` and
 * stops after the last-chunk line ("0\r\n"), leaving the trailer section
 * (or its empty line) to the caller. */
struct http_chunked {
	uint64_t left;   /* data bytes still due in the current chunk */
	uint64_t total;  /* data bytes so far */
	uint64_t limit;  /* largest total accepted; 0 = no limit */
	unsigned line;   /* bytes of the current size line so far */
	int state;
	int digits;
};
enum {
	HTTP_CHUNK_MORE = 0,   /* everything given was consumed, more is due */
	HTTP_CHUNK_END = 1,    /* one chunk's data and CRLF just ended */
	HTTP_CHUNK_DONE = 2,   /* the last-chunk line ended */
	HTTP_CHUNK_BAD = HTTP_BAD,
	HTTP_CHUNK_TOO_LARGE = HTTP_TOO_LARGE,
};
typedef void (*http_chunk_out)(void *ud, const char *p, size_t n);
void http_chunked_init(struct http_chunked *c, uint64_t limit);
/* Consumes bytes of in[0..n) and sets *used to how many.  Returns at the
 * end of every chunk (HTTP_CHUNK_END) when `stop_each` is set, so a
 * streaming reader gets one chunk per call; otherwise only with MORE, DONE
 * or an error.  After an error or DONE the decoder must not be fed again. */
int http_chunked_feed(struct http_chunked *c, const char *in, size_t n, size_t *used,
                      int stop_each, http_chunk_out out, void *ud);

#endif
