/*
 * test_metrics_http.c -- the metrics endpoint's request-head reader
 * (service-src/metrics_http.c): whole and byte-by-byte heads, LF-only
 * line ends, the size cap (431 at METRICS_HTTP_HEAD_MAX, however much
 * more arrives), methods, versions, control bytes, targets, queries.
 */
#include "metrics_http.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static int feed_all(const char *text, struct http_request *req) {
	static struct http_head h;
	http_head_init(&h);
	return http_feed(&h, text, strlen(text), req);
}

static int feed_bytes(const char *text, struct http_request *req, size_t *consumed) {
	static struct http_head h;
	http_head_init(&h);
	size_t n = strlen(text);
	for (size_t i = 0; i < n; i++) {
		int r = http_feed(&h, text + i, 1, req);
		if (r != HTTP_MORE) {
			*consumed = i + 1;
			return r;
		}
	}
	*consumed = n;
	return HTTP_MORE;
}

int main(void) {
	struct http_request req;
	size_t used;

	const char *get = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nAccept: */*\r\n\r\n";
	CHECK(feed_all(get, &req) == HTTP_READY && strcmp(req.path, "/metrics") == 0 && req.query[0] == '\0' &&
	          req.head_only == 0,
	      "http: a whole GET head is read");
	CHECK(feed_bytes(get, &req, &used) == HTTP_READY && used == strlen(get) && strcmp(req.path, "/metrics") == 0,
	      "http: the same head one byte at a time is ready exactly at its last byte");
	CHECK(feed_all("GET /service.json?address=:0000000a&x=1 HTTP/1.0\n\n", &req) == HTTP_READY &&
	          strcmp(req.path, "/service.json") == 0 && strcmp(req.query, "address=:0000000a&x=1") == 0,
	      "http: LF-only line ends and HTTP/1.0; the query is split off");
	CHECK(feed_all("HEAD / HTTP/1.1\r\n\r\n", &req) == HTTP_READY && req.head_only == 1, "http: HEAD is served");
	CHECK(feed_all("\r\nGET / HTTP/1.1\r\n\r\n", &req) == HTTP_READY && strcmp(req.path, "/") == 0,
	      "http: an empty line before the request line is skipped");
	CHECK(feed_all("GET /metrics HTTP/1.1\r\nHost: x\r\n", &req) == HTTP_MORE, "http: an unfinished head waits");
	CHECK(feed_all("POST /metrics HTTP/1.1\r\n\r\n", &req) == HTTP_METHOD_NOT_ALLOWED, "http: POST is 405");
	CHECK(feed_all("GET /metrics HTTP/2.0\r\n\r\n", &req) == HTTP_VERSION_NOT_SUPPORTED, "http: HTTP/2.0 is 505");
	CHECK(feed_all("GET /metrics FTP/1.1\r\n\r\n", &req) == HTTP_BAD_REQUEST, "http: not HTTP is 400");
	CHECK(feed_all("GET http://x/metrics HTTP/1.1\r\n\r\n", &req) == HTTP_BAD_REQUEST,
	      "http: an absolute-form target is 400");
	CHECK(feed_all("GET /metrics\r\n\r\n", &req) == HTTP_BAD_REQUEST, "http: a line without a version is 400");
	CHECK(feed_all("GET  /metrics HTTP/1.1\r\n\r\n", &req) == HTTP_BAD_REQUEST, "http: an empty target is 400");
	CHECK(feed_all("GET /met\x01rics HTTP/1.1\r\n\r\n", &req) == HTTP_BAD_REQUEST, "http: a control byte is 400");
	CHECK(feed_all("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", &req) == HTTP_BAD_REQUEST,
	      "http: a control byte in a header is 400");

	/* A path longer than HTTP_PATH_MAX. */
	char longpath[600];
	memset(longpath, 0, sizeof(longpath));
	strcpy(longpath, "GET /");
	memset(longpath + 5, 'a', 400);
	strcat(longpath, " HTTP/1.1\r\n\r\n");
	CHECK(feed_all(longpath, &req) == HTTP_BAD_REQUEST, "http: a path over 255 bytes is 400");

	/* The cap: a head that never ends is refused when the buffer is full,
	 * and the reader never takes more. */
	size_t big = (size_t)METRICS_HTTP_HEAD_MAX * 4;
	char *junk = malloc(big + 1);
	memcpy(junk, "GET / HTTP/1.1\r\n", 16);
	memset(junk + 16, 'x', big - 16);
	junk[big] = '\0';
	static struct http_head h;
	http_head_init(&h);
	int r = HTTP_MORE;
	size_t off = 0;
	while (r == HTTP_MORE && off < big) {
		size_t n = big - off < 1000 ? big - off : 1000;
		r = http_feed(&h, junk + off, n, &req);
		off += n;
	}
	CHECK(r == HTTP_HEAD_TOO_LARGE && off <= (size_t)METRICS_HTTP_HEAD_MAX + 1000 && h.len == METRICS_HTTP_HEAD_MAX,
	      "http: a head over METRICS_HTTP_HEAD_MAX is 431 as soon as the buffer is full");
	memcpy(junk + METRICS_HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
	CHECK(feed_all(junk, &req) == HTTP_READY, "http: a head that just fits is read");
	free(junk);

	char v[16];
	CHECK(http_query_get("a=1&address=:0000000a", "address", v, sizeof(v)) == 0 && strcmp(v, ":0000000a") == 0,
	      "http: query value found");
	CHECK(http_query_get("addressx=1&b=2", "address", v, sizeof(v)) == -1, "http: query key must match whole");
	CHECK(http_query_get("address=0123456789abcdefXYZ", "address", v, sizeof(v)) == 0 && strlen(v) == 15,
	      "http: a long query value is cut to the buffer");
	UNIT_EXIT();
}
