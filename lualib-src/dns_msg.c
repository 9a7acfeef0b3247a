/*
 * dns_msg.c -- DNS queries and replies (see dns_msg.h).
 */
#include "dns_msg.h"

#include <stdio.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v) {
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p) {
	return (uint16_t)(p[0] << 8 | p[1]);
}

int dns_query_build(uint8_t *out, uint16_t id, const char *name, size_t n, uint16_t qtype) {
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX)
		return -1;
	put16(out, id);
	put16(out + 2, DNS_FLAG_RD);
	put16(out + 4, 1);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	size_t o = DNS_HEADER_SIZE;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || name[i] == '.') {
			size_t len = i - start;
			if (len == 0 || len > DNS_LABEL_MAX)
				return -1;
			out[o++] = (uint8_t)len;
			memcpy(out + o, name + start, len);
			o += len;
			start = i + 1;
		}
	}
	out[o++] = 0;
	put16(out + o, qtype);
	put16(out + o + 2, DNS_CLASS_IN);
	return (int)(o + 4);
}

/* Reads the (possibly compressed) name at *pos into text (lower-cased,
 * dotted) when text is not NULL, and advances *pos past its bytes in
 * place.  Pointers must point strictly before the label that holds them,
 * so following them always ends. */
static int read_name(const uint8_t *p, size_t n, size_t *pos, char *text) {
	size_t at = *pos, tlen = 0;
	int jumped = 0;
	size_t lowest = at; /* a pointer must go below every label read so far */
	for (;;) {
		if (at >= n)
			return DNS_ERR_MALFORMED;
		uint8_t len = p[at];
		if (len == 0) {
			if (!jumped)
				*pos = at + 1;
			break;
		}
		if ((len & 0xc0) == 0xc0) {
			if (at + 1 >= n)
				return DNS_ERR_MALFORMED;
			size_t target = (size_t)(len & 0x3f) << 8 | p[at + 1];
			if (target >= lowest)
				return DNS_ERR_MALFORMED;
			if (!jumped)
				*pos = at + 2;
			jumped = 1;
			at = lowest = target;
			continue;
		}
		if (len & 0xc0)
			return DNS_ERR_MALFORMED; /* the reserved 01/10 label types */
		if (at + 1 + len > n)
			return DNS_ERR_MALFORMED;
		if (tlen + (tlen ? 1 : 0) + len > DNS_NAME_MAX)
			return DNS_ERR_MALFORMED;
		if (text) {
			if (tlen)
				text[tlen++] = '.';
			for (size_t i = 0; i < len; i++) {
				char c = (char)p[at + 1 + i];
				text[tlen++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
			}
		} else {
			tlen += (tlen ? 1 : 0) + len;
		}
		at += 1 + len;
	}
	if (text)
		text[tlen] = '\0';
	return 0;
}

int dns_reply_parse(const uint8_t *p, size_t n, struct dns_reply *r) {
	if (n < DNS_HEADER_SIZE)
		return DNS_ERR_SHORT;
	r->id = get16(p);
	r->flags = get16(p + 2);
	r->nanswer = 0;
	r->qname[0] = '\0';
	r->qtype = 0;
	if (!(r->flags & DNS_FLAG_QR))
		return DNS_ERR_NOT_REPLY;
	if (get16(p + 4) != 1)
		return DNS_ERR_QUESTION;
	unsigned ancount = get16(p + 6);
	size_t pos = DNS_HEADER_SIZE;
	int e = read_name(p, n, &pos, r->qname);
	if (e)
		return e;
	if (pos + 4 > n)
		return DNS_ERR_MALFORMED;
	r->qtype = get16(p + pos);
	pos += 4;
	for (unsigned i = 0; i < ancount; i++) {
		e = read_name(p, n, &pos, NULL);
		if (e)
			return e;
		if (pos + 10 > n)
			return DNS_ERR_MALFORMED;
		uint16_t type = get16(p + pos);
		uint16_t cls = get16(p + pos + 2);
		uint32_t ttl = (uint32_t)get16(p + pos + 4) << 16 | get16(p + pos + 6);
		uint16_t rdlen = get16(p + pos + 8);
		pos += 10;
		if (pos + rdlen > n)
			return DNS_ERR_MALFORMED;
		size_t want = type == DNS_TYPE_A ? 4 : type == DNS_TYPE_AAAA ? 16 : 0;
		if (want && cls == DNS_CLASS_IN) {
			if (rdlen != want)
				return DNS_ERR_MALFORMED;
			if (r->nanswer < DNS_ANSWERS_MAX) {
				struct dns_answer *a = &r->answer[r->nanswer++];
				a->type = type;
				/* RFC 2181 §8: a TTL with the top bit set means 0 */
				a->ttl = (ttl & 0x80000000u) ? 0 : ttl;
				memcpy(a->addr, p + pos, want);
			}
		}
		pos += rdlen;
	}
	return 0;
}

int dns_addr_text(const struct dns_answer *a, char *out) {
	const uint8_t *b = a->addr;
	if (a->type == DNS_TYPE_A)
		return sprintf(out, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	int o = 0;
	for (int i = 0; i < 8; i++)
		o += sprintf(out + o, i ? ":%x" : "%x", (unsigned)(b[2 * i] << 8 | b[2 * i + 1]));
	return o;
}
