/*
 * metrics_http.h -- the smallest HTTP/1.1 request reader that serves the
 * metrics endpoint: it collects one request head into a fixed buffer and
 * parses its request line.  Nothing else of HTTP is needed: only GET and
 * HEAD are served, bodies are never read, and every answer closes the
 * connection (so no keep-alive, pipelining or smuggling to get wrong).
 *
 * Bounded by construction: the buffer is METRICS_HTTP_HEAD_MAX bytes and
 * a head that does not fit is refused (431), so a client sending a
 * gigabyte of header costs us 8 KiB and one scan of it.
 */
#ifndef METRICS_HTTP_H
#define METRICS_HTTP_H

#include "skynet_tunables.h"

#include <stddef.h>

#define HTTP_PATH_MAX 255

struct http_head {
	size_t len;                      /* bytes held */
	size_t scanned;                  /* bytes already searched for the end */
	char buf[METRICS_HTTP_HEAD_MAX]; /* the head so far (not NUL-terminated) */
};

struct http_request {
	int head_only;                 /* HEAD: answer without a body */
	char path[HTTP_PATH_MAX + 1];  /* before '?', NUL-terminated */
	char query[HTTP_PATH_MAX + 1]; /* after '?', "" if none */
};

/* http_feed results: keep reading, a request is ready, or an HTTP status
 * to answer with before closing. */
#define HTTP_MORE 0
#define HTTP_READY 1
#define HTTP_BAD_REQUEST 400
#define HTTP_METHOD_NOT_ALLOWED 405
#define HTTP_HEAD_TOO_LARGE 431
#define HTTP_VERSION_NOT_SUPPORTED 505

void http_head_init(struct http_head *h);
/* Appends n bytes and looks for the end of the head (CRLF CRLF, or LF LF).
 * Bytes after the head are ignored.  Each byte is scanned once. */
int http_feed(struct http_head *h, const char *data, size_t n, struct http_request *req);
/* The reason phrase of a status code we send. */
const char *http_reason(int status);
/* The value of `key` in a query string ("a=1&b=2"), copied into out (at
 * most outsz - 1 bytes, undecoded); 0 if found, -1 if not. */
int http_query_get(const char *query, const char *key, char *out, size_t outsz);

#endif
