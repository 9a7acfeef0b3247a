/*
 * metrics_http.c -- the request-head reader of the metrics endpoint (see
 * metrics_http.h).  The request line must be `METHOD SP target SP
 * HTTP/1.x` with an origin-form target; header lines are only checked for
 * stray control bytes, since none of them changes what we answer.
 */
#include "metrics_http.h"

#include <stdbool.h>
#include <string.h>

void http_head_init(struct http_head *h) {
	h->len = 0;
	h->scanned = 0;
}

/* Where the head ends (index just past the blank line), or 0. */
static size_t find_end(struct http_head *h) {
	size_t i = h->scanned;
	for (; i < h->len; i++) {
		if (h->buf[i] != '\n')
			continue;
		if (i >= 1 && h->buf[i - 1] == '\n')
			return i + 1;
		if (i >= 2 && h->buf[i - 1] == '\r' && h->buf[i - 2] == '\n')
			return i + 1;
	}
	h->scanned = i;
	return 0;
}

/* Only HTAB, CR, LF and printable bytes (and UTF-8 bytes) in a head. */
static bool clean(const char *p, size_t n) {
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return false;
	}
	return true;
}

static int parse_line(const char *p, size_t n, struct http_request *req) {
	const char *sp1 = memchr(p, ' ', n);
	if (sp1 == NULL)
		return HTTP_BAD_REQUEST;
	size_t mlen = (size_t)(sp1 - p);
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', n - mlen - 1);
	if (sp2 == NULL || sp2 == target)
		return HTTP_BAD_REQUEST;
	size_t tlen = (size_t)(sp2 - target);
	const char *version = sp2 + 1;
	size_t vlen = n - (size_t)(version - p);
	if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0)
		return vlen >= 5 && memcmp(version, "HTTP/", 5) == 0 ? HTTP_VERSION_NOT_SUPPORTED : HTTP_BAD_REQUEST;
	if (version[7] != '0' && version[7] != '1')
		return HTTP_VERSION_NOT_SUPPORTED;
	if (target[0] != '/' || memchr(target, ' ', tlen))
		return HTTP_BAD_REQUEST;
	if (mlen == 3 && memcmp(p, "GET", 3) == 0)
		req->head_only = 0;
	else if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
		req->head_only = 1;
	else
		return HTTP_METHOD_NOT_ALLOWED;
	const char *q = memchr(target, '?', tlen);
	size_t plen = q ? (size_t)(q - target) : tlen;
	size_t qlen = q ? tlen - plen - 1 : 0;
	if (plen > HTTP_PATH_MAX || qlen > HTTP_PATH_MAX)
		return HTTP_BAD_REQUEST;
	memcpy(req->path, target, plen);
	req->path[plen] = '\0';
	if (q)
		memcpy(req->query, q + 1, qlen);
	req->query[qlen] = '\0';
	return HTTP_READY;
}

int http_feed(struct http_head *h, const char *data, size_t n, struct http_request *req) {
	size_t room = sizeof(h->buf) - h->len;
	size_t take = n < room ? n : room;
	memcpy(h->buf + h->len, data, take);
	h->len += take;
	size_t end = find_end(h);
	if (end == 0)
		return h->len == sizeof(h->buf) ? HTTP_HEAD_TOO_LARGE : HTTP_MORE;
	/* Leading empty lines before the request line are allowed (RFC 9112 2.2). */
	size_t start = 0;
	while (start < end && (h->buf[start] == '\r' || h->buf[start] == '\n'))
		start++;
	if (start == end)
		return HTTP_BAD_REQUEST;
	if (!clean(h->buf + start, end - start))
		return HTTP_BAD_REQUEST;
	const char *line = h->buf + start;
	const char *nl = memchr(line, '\n', end - start);
	size_t llen = (size_t)(nl - line);
	if (llen > 0 && line[llen - 1] == '\r')
		llen--;
	return parse_line(line, llen, req);
}

const char *http_reason(int status) {
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

int http_query_get(const char *query, const char *key, char *out, size_t outsz) {
	size_t klen = strlen(key);
	const char *p = query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len > klen && p[klen] == '=' && memcmp(p, key, klen) == 0) {
			size_t vlen = len - klen - 1;
			if (outsz == 0)
				return -1;
			if (vlen > outsz - 1)
				vlen = outsz - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return -1;
}
