/*
 * http_parse.c -- HTTP/1.1 heads and the chunked decoder (see http_parse.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "http_parse.h"

#include <string.h>

size_t http_head_end(const char *buf, size_t len) {
	const char *e = memmem(buf, len, "\r\n\r\n", 4);
	return e ? (size_t)(e - buf) + 4 : 0;
}

/* RFC 9110 token characters */
static int is_tchar(unsigned char c) {
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* "HTTP/" followed by the version digits: 0 for 1.0/1.1 (setting *minor),
 * HTTP_BAD_VERSION for other digits-and-dots, HTTP_BAD otherwise. */
static int parse_version(const char *p, size_t n, int *minor) {
	if (n < 6 || memcmp(p, "HTTP/", 5) != 0)
		return HTTP_BAD;
	p += 5;
	n -= 5;
	for (size_t i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.'))
			return HTTP_BAD;
	}
	if (n == 3 && p[0] == '1' && p[1] == '.' && (p[2] == '0' || p[2] == '1')) {
		*minor = p[2] - '0';
		return 0;
	}
	return HTTP_BAD_VERSION;
}

int http_request_line(const char *line, size_t n, struct http_span *method,
                      struct http_span *target, int *minor) {
	const char *sp1 = memchr(line, ' ', n);
	if (sp1 == NULL || sp1 == line)
		return HTTP_BAD;
	const char *sp2 = line + n;
	while (sp2 > sp1 && sp2[-1] != ' ')
		sp2--;
	sp2--; /* the last space */
	if (sp2 == sp1)
		return HTTP_BAD; /* only one space: no version */
	for (const char *p = line; p < sp1; p++) {
		if (!is_tchar((unsigned char)*p))
			return HTTP_BAD;
	}
	const char *t = sp1, *te = sp2;
	while (t < te && *t == ' ')
		t++;
	while (te > t && te[-1] == ' ')
		te--;
	if (t == te)
		return HTTP_BAD;
	for (const char *p = t; p < te; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			return HTTP_BAD;
	}
	int r = parse_version(sp2 + 1, (size_t)(line + n - sp2 - 1), minor);
	if (r != 0)
		return r;
	method->p = line;
	method->n = (size_t)(sp1 - line);
	target->p = t;
	target->n = (size_t)(te - t);
	return 0;
}

int http_status_line(const char *line, size_t n, int *code) {
	const char *sp = memchr(line, ' ', n);
	int minor;
	if (sp == NULL)
		return HTTP_BAD;
	int r = parse_version(line, (size_t)(sp - line), &minor);
	if (r == HTTP_BAD)
		return HTTP_BAD; /* any digits-and-dots version is fine in a response */
	const char *c = sp;
	const char *end = line + n;
	while (c < end && *c == ' ')
		c++;
	if (end - c < 3)
		return HTTP_BAD;
	int v = 0;
	for (int i = 0; i < 3; i++) {
		if (c[i] < '0' || c[i] > '9')
			return HTTP_BAD;
		v = v * 10 + (c[i] - '0');
	}
	if (end - c > 3 && c[3] != ' ')
		return HTTP_BAD; /* "2000" */
	*code = v;
	return 0;
}

void http_header_begin(struct http_header_iter *it, const char *p, size_t n) {
	it->p = p;
	it->end = p + n;
	it->seen = 0;
}

int http_header_next(struct http_header_iter *it, struct http_span *name,
                     struct http_span *value, int *continuation) {
	const char *p = it->p, *end = it->end;
	if (p >= end)
		return 0;
	const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	const char *next = eol ? eol + 2 : end;
	if (eol == NULL)
		eol = end;
	if (eol == p) /* the blank line ending the head */
		return 0;
	/* NUL, or a CR or LF that is not part of a CRLF, could make two
	 * parsers of the same bytes disagree: refuse them. */
	for (const char *q = p; q < eol; q++) {
		if (*q == '\0' || *q == '\r' || *q == '\n')
			return HTTP_BAD;
	}
	it->p = next;
	if (*p == '\t') {
		if (!it->seen)
			return HTTP_BAD;
		*continuation = 1;
		name->p = NULL;
		name->n = 0;
		value->p = p + 1;
		value->n = (size_t)(eol - p - 1);
		return 1;
	}
	const char *colon = memchr(p, ':', (size_t)(eol - p));
	if (colon == NULL)
		return HTTP_BAD;
	*continuation = 0;
	name->p = p;
	name->n = (size_t)(colon - p);
	const char *v = colon + 1;
	while (v < eol && (*v == ' ' || *v == '\t'))
		v++;
	value->p = v;
	value->n = (size_t)(eol - v);
	it->seen = 1;
	return 1;
}

/* chunked decoder ------------------------------------------------------------ */

enum {
	ST_SIZE,     /* hex digits of the chunk size */
	ST_EXT,      /* after ';': chunk extension, up to CR */
	ST_SIZE_LF,  /* CR seen at the end of the size line */
	ST_DATA,     /* `left` data bytes */
	ST_DATA_CR,  /* CRLF after the data */
	ST_DATA_LF,
	ST_DONE,
};

void http_chunked_init(struct http_chunked *c, uint64_t limit) {
	memset(c, 0, sizeof(*c));
	c->limit = limit;
	c->state = ST_SIZE;
}

static int hexval(unsigned char ch) {
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int http_chunked_feed(struct http_chunked *c, const char *in, size_t n, size_t *used,
                      int stop_each, http_chunk_out out, void *ud) {
	size_t i = 0;
	int r = HTTP_CHUNK_MORE;
	while (i < n) {
		unsigned char ch = (unsigned char)in[i];
		switch (c->state) {
		case ST_SIZE:
		case ST_EXT:
			if (++c->line > HTTP_CHUNK_LINE_MAX) {
				r = HTTP_CHUNK_BAD;
				goto out;
			}
			if (ch == '\r') {
				if (c->digits == 0) {
					r = HTTP_CHUNK_BAD;
					goto out;
				}
				c->state = ST_SIZE_LF;
			} else if (c->state == ST_EXT) {
				if (ch == '\n' || ch == '\0') {
					r = HTTP_CHUNK_BAD;
					goto out;
				}
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				if (c->digits == 0) {
					r = HTTP_CHUNK_BAD;
					goto out;
				}
				c->state = ST_EXT;
			} else {
				int v = hexval(ch);
				if (v < 0 || c->left > (UINT64_MAX >> 4)) {
					r = HTTP_CHUNK_BAD;
					goto out;
				}
				c->left = c->left << 4 | (uint64_t)v;
				c->digits++;
			}
			i++;
			break;
		case ST_SIZE_LF:
			if (ch != '\n') {
				r = HTTP_CHUNK_BAD;
				goto out;
			}
			i++;
			c->line = 0;
			c->digits = 0;
			if (c->left == 0) {
				c->state = ST_DONE;
				r = HTTP_CHUNK_DONE;
				goto out;
			}
			if (c->limit && (c->left > c->limit || c->total + c->left > c->limit)) {
				r = HTTP_CHUNK_TOO_LARGE;
				goto out;
			}
			c->total += c->left;
			c->state = ST_DATA;
			break;
		case ST_DATA: {
			size_t k = n - i;
			if ((uint64_t)k > c->left)
				k = (size_t)c->left;
			out(ud, in + i, k);
			i += k;
			c->left -= k;
			if (c->left == 0)
				c->state = ST_DATA_CR;
			break;
		}
		case ST_DATA_CR:
		case ST_DATA_LF:
			if (ch != (c->state == ST_DATA_CR ? '\r' : '\n')) {
				r = HTTP_CHUNK_BAD;
				goto out;
			}
			i++;
			if (c->state == ST_DATA_CR) {
				c->state = ST_DATA_LF;
			} else {
				c->state = ST_SIZE;
				if (stop_each) {
					r = HTTP_CHUNK_END;
					goto out;
				}
			}
			break;
		default: /* ST_DONE: fed again after the end */
			r = HTTP_CHUNK_BAD;
			goto out;
		}
	}
out:
	*used = i;
	return r;
}
