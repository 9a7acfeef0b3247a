/*
 * dns_msg.h -- DNS messages (RFC 1035 §4) for skynet.dns: building an A or
 * AAAA query and parsing a reply.  Pure functions over bytes, no Lua, no
 * allocation: fuzz/fuzz_dns.c links this file alone.
 *
 * The parser never trusts a count or a length in the reply: every read is
 * checked against the datagram's end, compression pointers must point
 * backwards (so a name cannot loop) and a name is at most 255 bytes.
 */
#ifndef DNS_MSG_H
#define DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_AAAA = 28,
	DNS_CLASS_IN = 1,
};

#define DNS_HEADER_SIZE 12
/* Longest name, in text form without the final dot (RFC 1035 §2.3.4). */
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63
/* Largest query we build: header + name + type + class. */
#define DNS_QUERY_MAX (DNS_HEADER_SIZE + DNS_NAME_MAX + 2 + 4)
/* Addresses kept from one reply; further ones are ignored. */
#define DNS_ANSWERS_MAX 32

/* Header flag bits */
#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_RCODE(flags) ((flags) & 0x000f)

/* Errors of dns_reply_parse */
enum {
	DNS_ERR_SHORT = -1,      /* shorter than a header */
	DNS_ERR_MALFORMED = -2,  /* a count, a name or a record runs off the end, or loops */
	DNS_ERR_QUESTION = -3,   /* not exactly one question */
	DNS_ERR_NOT_REPLY = -4,  /* QR bit clear */
};

/* Writes the query for `name` (labels separated by dots, one trailing dot
 * allowed, at most 253 bytes, labels 1..63 bytes) into out (DNS_QUERY_MAX
 * bytes) with RD set.  Returns its length, or -1 for an unusable name. */
int dns_query_build(uint8_t *out, uint16_t id, const char *name, size_t n, uint16_t qtype);

struct dns_answer {
	uint16_t type;       /* DNS_TYPE_A or DNS_TYPE_AAAA */
	uint32_t ttl;        /* seconds */
	uint8_t addr[16];    /* 4 or 16 bytes used */
};

struct dns_reply {
	uint16_t id;
	uint16_t flags;
	uint16_t qtype;
	char qname[DNS_NAME_MAX + 2];  /* lower-cased, dotted, no final dot */
	int nanswer;                   /* A and AAAA records kept */
	struct dns_answer answer[DNS_ANSWERS_MAX];
};

/* Parses a reply.  Keeps the A and AAAA records of the answer section
 * (other types, CNAME included, are skipped; so are the authority and
 * additional sections).  Returns 0 or a DNS_ERR_* code. */
int dns_reply_parse(const uint8_t *p, size_t n, struct dns_reply *r);

/* Text form of an answer's address into out (at least 40 bytes): dotted
 * quad, or eight lower-case hex groups without zero compression (as
 * upstream prints them).  Returns the length. */
int dns_addr_text(const struct dns_answer *a, char *out);

#endif
