// fuzz-sources: lualib-src/dns_msg.c
/*
 * fuzz_dns.c -- libFuzzer target for the DNS code of skynet.webcore
 * (lualib-src/dns_msg.c).
 *
 * The input is parsed as a reply: on success the question name must be at
 * most 253 bytes and lower-case, at most DNS_ANSWERS_MAX answers kept, each
 * A or AAAA with a printable address.  The input is also used as a name:
 * when dns_query_build accepts it, the query (with the QR bit set) must
 * parse back to the same name, lower-cased, and the same type.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	struct dns_reply r;
	if (dns_reply_parse(data, size, &r) == 0) {
		size_t qn = strlen(r.qname);
		if (qn > DNS_NAME_MAX || r.nanswer < 0 || r.nanswer > DNS_ANSWERS_MAX)
			abort();
		for (size_t i = 0; i < qn; i++)
			if (r.qname[i] >= 'A' && r.qname[i] <= 'Z')
				abort();
		for (int i = 0; i < r.nanswer; i++) {
			char text[48];
			if (r.answer[i].type != DNS_TYPE_A && r.answer[i].type != DNS_TYPE_AAAA)
				abort();
			int t = dns_addr_text(&r.answer[i], text);
			if (t <= 0 || t >= (int)sizeof(text) || (int)strlen(text) != t)
				abort();
		}
	}

	uint8_t q[DNS_QUERY_MAX];
	uint16_t qtype = size ? (data[0] & 1 ? DNS_TYPE_AAAA : DNS_TYPE_A) : DNS_TYPE_A;
	int n = dns_query_build(q, 0x1234, (const char *)data, size, qtype);
	if (n > 0) {
		if (n > DNS_QUERY_MAX)
			abort();
		q[2] |= 0x80; /* QR: make it look like a reply */
		if (dns_reply_parse(q, (size_t)n, &r) != 0 || r.id != 0x1234 || r.qtype != qtype)
			abort();
		/* the name round-trips unless it held a dot-free label that
		 * contains a '.' byte... which cannot happen: labels split on '.' */
		size_t len = size;
		if (len && data[len - 1] == '.')
			len--;
		if (strlen(r.qname) != len && memchr(data, 0, len) == NULL)
			abort();
		for (size_t i = 0; i < len && i < strlen(r.qname); i++)
			if (r.qname[i] != (char)tolower((unsigned char)data[i]) && data[i] != 0)
				abort();
	}
	return 0;
}
