/*
 * lua-sproto-schema.c -- the binary schema ("bin") reader and the type
 * model of sproto.core (spec api-sproto.md §2).
 *
 * A bin is itself an unpacked sproto message of the meta-schema
 *   .type  { .field { name 0:string buildin 1:integer type 2:integer
 *                     tag 3:integer array 4:boolean key 5:integer map 6:boolean }
 *            name 0:string  fields 1:*field }
 *   .protocol { name 0:string tag 1:integer request 2:integer
 *               response 3:integer confirm 4:boolean }
 *   .group { type 0:*type  protocol 1:*protocol }
 * read here with the same record reader the message decoder uses, so every
 * length is checked against the bytes we were given.  Anything malformed
 * makes the load fail with a reason; nothing in a bin can make us read out
 * of bounds or allocate more than a small multiple of its size.
 *
 * Memory: one schema is one malloc'd block list (a bump allocator), freed
 * at once.  Plain malloc, not a Lua allocator: a schema saved in a
 * sprotoloader slot outlives the Lua state that loaded it.  Once loaded the
 * schema is never written again, so threads share it without locks.
 *
 * Lookups: types and protocols by name through name-sorted pointer arrays
 * (binary search), protocols by tag through the tag-sorted array the bin
 * must provide.  Field lookups during decode walk the tag-sorted fields.
 */
#include "lua-sproto.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- bump allocator ------------------------------------------------------- */

struct pool_block {
	struct pool_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct sproto {
	int type_n;
	int protocol_n;
	struct sproto_type *types;              /* in bin order (index = type id) */
	struct sproto_type **type_byname;       /* sorted by name */
	struct sproto_protocol *protocols;      /* sorted by tag (bin order) */
	struct sproto_protocol **proto_byname;  /* sorted by name */
	struct pool_block *pool;
};

#define POOL_BLOCK 4096

/* Source of sproto_type.serial: distinguishes a type from a later one
 * that reuses its memory (the field-name caches depend on it). */
static atomic_llong type_serial;

static void *pool_alloc(struct sproto *s, size_t sz) {
	sz = (sz + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	struct pool_block *b = s->pool;
	if (b == NULL || b->cap - b->used < sz) {
		size_t cap = sz > POOL_BLOCK ? sz : POOL_BLOCK;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->next = s->pool;
		b->used = 0;
		b->cap = cap;
		s->pool = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += sz;
	return p;
}

static char *pool_string(struct sproto *s, const uint8_t *p, uint32_t len) {
	char *str = pool_alloc(s, (size_t)len + 1);
	if (str) {
		memcpy(str, p, len);
		str[len] = '\0';
	}
	return str;
}

void sproto_schema_free(struct sproto *s) {
	if (s == NULL)
		return;
	struct pool_block *b = s->pool;
	while (b) {
		struct pool_block *next = b->next;
		free(b);
		b = next;
	}
	free(s);
}

/* ---- the bin reader -------------------------------------------------------- */

/* An array chunk: u32 length + element, repeated, filling it exactly. */
static int count_elements(const uint8_t *p, uint32_t len) {
	int n = 0;
	while (len > 0) {
		if (len < 4)
			return -1;
		uint32_t el = sproto_u32(p);
		if (len - 4 < el)
			return -1;
		p += 4 + (size_t)el;
		len -= 4 + el;
		n++;
	}
	return n;
}

/* Next element of an array count_elements accepted. */
static const uint8_t *next_element(const uint8_t **p, uint32_t *len) {
	*len = sproto_u32(*p);
	const uint8_t *el = *p + 4;
	*p = el + *len;
	return el;
}

/* The record count of a group or type struct: 1 or 2, all data records. */
static bool two_data_records(const uint8_t *p, size_t sz) {
	if (sz < 2)
		return false;
	int fn = sproto_u16(p);
	if (fn < 1 || fn > 2 || (size_t)fn * 2 + 2 > sz)
		return false;
	for (int i = 0; i < fn; i++)
		if (sproto_u16(p + 2 + 2 * i) != 0)
			return false;
	return true;
}

#define FAIL(reason) do { *why = (reason); return false; } while (0)

/* Field record tags of the meta-schema's .field */
enum { FIELD_NAME, FIELD_BUILDIN, FIELD_TYPE, FIELD_TAG, FIELD_ARRAY, FIELD_KEY, FIELD_MAP };

static bool load_field(struct sproto *s, struct sproto_field *f, const uint8_t *p, uint32_t sz, const char **why) {
	struct sproto_reader r;
	struct sproto_record rec;
	if (!sproto_reader_init(&r, p, sz))
		FAIL("bad field header");
	memset(f, 0, sizeof(*f));
	f->tag = -1;
	f->key = -1;
	f->scale = 1.0;
	int buildin = -1, type = -1, rc;
	while ((rc = sproto_reader_next(&r, &rec)) > 0) {
		if (rec.tag == FIELD_NAME) {
			if (rec.value >= 0)
				FAIL("field name is not a string");
			if ((f->name = pool_string(s, rec.chunk, rec.len)) == NULL)
				FAIL("out of memory");
			continue;
		}
		if (rec.tag > FIELD_MAP)
			FAIL("unknown field attribute");
		if (rec.value < 0)
			FAIL("field attribute is not an inline value");
		switch (rec.tag) {
		case FIELD_BUILDIN: buildin = rec.value; break;
		case FIELD_TYPE: type = rec.value; break;
		case FIELD_TAG: f->tag = rec.value; break;
		case FIELD_ARRAY: f->array = rec.value != 0; break;
		case FIELD_KEY: f->key = rec.value; break;
		case FIELD_MAP: f->map = rec.value != 0; break;
		}
	}
	if (rc < 0)
		FAIL("field data runs past its chunk");
	if (f->name == NULL || f->tag < 0)
		FAIL("field lacks a name or a tag");
	if (buildin >= 0) {
		if (buildin > SPROTO_TDOUBLE)
			FAIL("unknown built-in type");
		f->kind = buildin;
		if (buildin == SPROTO_TINTEGER && type > 0) {
			f->decimal = type;
			f->scale = pow(10.0, type);
		} else if (buildin == SPROTO_TSTRING && type == 1) {
			f->binary = true;
		}
	} else {
		if (type < 0 || type >= s->type_n)
			FAIL("field type index out of range");
		f->kind = SPROTO_TSTRUCT;
		f->st = &s->types[type];
	}
	if (f->map && !(f->array && f->kind == SPROTO_TSTRUCT))
		FAIL("map flag on a field that is not a struct array");
	return true;
}

static bool load_type(struct sproto *s, struct sproto_type *t, const uint8_t *p, uint32_t sz, const char **why) {
	struct sproto_reader r;
	struct sproto_record name, fields;
	if (!two_data_records(p, sz) || !sproto_reader_init(&r, p, sz))
		FAIL("bad type header");
	if (sproto_reader_next(&r, &name) <= 0)
		FAIL("type data runs past its chunk");
	if ((t->name = pool_string(s, name.chunk, name.len)) == NULL)
		FAIL("out of memory");
	t->serial = (lua_Integer)atomic_fetch_add(&type_serial, 1) + 1;
	t->n = 0;
	t->f = NULL;
	int rc = sproto_reader_next(&r, &fields);
	if (rc < 0)
		FAIL("type data runs past its chunk");
	if (rc == 0)
		return true;
	int n = count_elements(fields.chunk, fields.len);
	if (n < 0)
		FAIL("bad field array");
	if (n == 0)
		return true;
	t->f = pool_alloc(s, sizeof(struct sproto_field) * (size_t)n);
	if (t->f == NULL)
		FAIL("out of memory");
	const uint8_t *q = fields.chunk;
	for (int i = 0; i < n; i++) {
		uint32_t el;
		const uint8_t *e = next_element(&q, &el);
		if (!load_field(s, &t->f[i], e, el, why))
			return false;
		if (i > 0 && t->f[i].tag <= t->f[i - 1].tag)
			FAIL("field tags are not ascending");
	}
	t->n = n;
	return true;
}

static const struct sproto_field *field_bytag(const struct sproto_type *t, int tag) {
	int lo = 0, hi = t->n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int mtag = t->f[mid].tag;
		if (mtag == tag)
			return &t->f[mid];
		if (mtag < tag)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* A usable key field: built-in, not an array. */
static const struct sproto_field *key_field(const struct sproto_type *t, int tag) {
	const struct sproto_field *k = field_bytag(t, tag);
	if (k == NULL || k->kind == SPROTO_TSTRUCT || k->array)
		return NULL;
	return k;
}

/* Resolves main-index and map fields once every type is loaded (a field
 * may name a type defined after its own). */
static void resolve_keys(struct sproto *s) {
	for (int i = 0; i < s->type_n; i++) {
		struct sproto_type *t = &s->types[i];
		for (int j = 0; j < t->n; j++) {
			struct sproto_field *f = &t->f[j];
			if (f->kind != SPROTO_TSTRUCT || !f->array || f->key < 0)
				continue;
			const struct sproto_type *el = f->st;
			if (f->map) {
				/* {[first] = second}: exactly two fields, key = the first */
				if (el->n == 2 && el->f[0].tag == f->key && key_field(el, f->key)) {
					f->keyfield = &el->f[0];
					f->valuefield = &el->f[1];
				}
			} else {
				f->keyfield = key_field(el, f->key);
			}
		}
	}
}

enum { PROTO_NAME, PROTO_TAG, PROTO_REQUEST, PROTO_RESPONSE, PROTO_CONFIRM };

/* Protocol records are read by position, as upstream does: an absent
 * request is a skip record at position 2. */
static bool load_protocol(struct sproto *s, struct sproto_protocol *p, const uint8_t *b, uint32_t sz, const char **why) {
	if (sz < 2)
		FAIL("bad protocol header");
	int fn = sproto_u16(b);
	if (fn < 2 || fn > 5 || (size_t)fn * 2 + 2 > sz)
		FAIL("bad protocol header");
	memset(p, 0, sizeof(*p));
	const uint8_t *data = b + 2 + 2 * fn, *end = b + sz;
	p->tag = -1;
	for (int i = 0; i < fn; i++) {
		int v = sproto_u16(b + 2 + 2 * i);
		if (i == PROTO_NAME) {
			if (v != 0 || end - data < 4)
				FAIL("protocol lacks a name");
			uint32_t len = sproto_u32(data);
			if ((size_t)(end - data) - 4 < len)
				FAIL("protocol name runs past its chunk");
			if ((p->name = pool_string(s, data + 4, len)) == NULL)
				FAIL("out of memory");
			data += 4 + (size_t)len;
			continue;
		}
		if (v & 1)
			continue; /* absent */
		if (v == 0)
			FAIL("protocol attribute is not an inline value");
		int value = v / 2 - 1;
		switch (i) {
		case PROTO_TAG:
			p->tag = value;
			break;
		case PROTO_REQUEST:
		case PROTO_RESPONSE:
			if (value >= s->type_n)
				FAIL("protocol type index out of range");
			if (i == PROTO_REQUEST)
				p->request = &s->types[value];
			else
				p->response = &s->types[value];
			break;
		case PROTO_CONFIRM:
			p->confirm = value != 0;
			break;
		}
	}
	if (p->tag < 0)
		FAIL("protocol lacks a tag");
	if (p->response)
		p->confirm = false;
	return true;
}

static int cmp_type(const void *a, const void *b) {
	return strcmp((*(struct sproto_type *const *)a)->name, (*(struct sproto_type *const *)b)->name);
}

static int cmp_proto(const void *a, const void *b) {
	return strcmp((*(struct sproto_protocol *const *)a)->name, (*(struct sproto_protocol *const *)b)->name);
}

static bool load_group(struct sproto *s, const uint8_t *p, size_t sz, const char **why) {
	struct sproto_reader r;
	struct sproto_record types, protos = { 0, 0, NULL, 0 };
	if (!two_data_records(p, sz) || !sproto_reader_init(&r, p, sz))
		FAIL("bad group header");
	if (sproto_reader_next(&r, &types) <= 0)
		FAIL("type array runs past the end");
	int rc = sproto_reader_next(&r, &protos);
	if (rc < 0)
		FAIL("protocol array runs past the end");
	int tn = count_elements(types.chunk, types.len);
	if (tn < 0)
		FAIL("bad type array");
	if (tn == 0)
		FAIL("no types");
	int pn = 0;
	if (rc > 0 && (pn = count_elements(protos.chunk, protos.len)) < 0)
		FAIL("bad protocol array");

	s->types = pool_alloc(s, sizeof(struct sproto_type) * (size_t)tn);
	s->type_byname = pool_alloc(s, sizeof(struct sproto_type *) * (size_t)tn);
	if (s->types == NULL || s->type_byname == NULL)
		FAIL("out of memory");
	s->type_n = tn; /* field type indexes are checked against it */
	const uint8_t *q = types.chunk;
	for (int i = 0; i < tn; i++) {
		uint32_t el;
		const uint8_t *e = next_element(&q, &el);
		if (!load_type(s, &s->types[i], e, el, why))
			return false;
		s->type_byname[i] = &s->types[i];
	}
	qsort(s->type_byname, (size_t)tn, sizeof(s->type_byname[0]), cmp_type);
	resolve_keys(s);

	if (pn > 0) {
		s->protocols = pool_alloc(s, sizeof(struct sproto_protocol) * (size_t)pn);
		s->proto_byname = pool_alloc(s, sizeof(struct sproto_protocol *) * (size_t)pn);
		if (s->protocols == NULL || s->proto_byname == NULL)
			FAIL("out of memory");
		q = protos.chunk;
		for (int i = 0; i < pn; i++) {
			uint32_t el;
			const uint8_t *e = next_element(&q, &el);
			if (!load_protocol(s, &s->protocols[i], e, el, why))
				return false;
			if (i > 0 && s->protocols[i].tag <= s->protocols[i - 1].tag)
				FAIL("protocol tags are not ascending");
			s->proto_byname[i] = &s->protocols[i];
		}
		qsort(s->proto_byname, (size_t)pn, sizeof(s->proto_byname[0]), cmp_proto);
	}
	s->protocol_n = pn;
	return true;
}

struct sproto *sproto_schema_load(const void *bin, size_t sz, const char **why) {
	struct sproto *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*why = "out of memory";
		return NULL;
	}
	if (!load_group(s, bin, sz, why)) {
		sproto_schema_free(s);
		return NULL;
	}
	return s;
}

/* ---- lookups --------------------------------------------------------------- */

struct sproto_type *sproto_schema_type(const struct sproto *s, const char *name) {
	int lo = 0, hi = s->type_n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = strcmp(s->type_byname[mid]->name, name);
		if (c == 0)
			return s->type_byname[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

const struct sproto_protocol *sproto_schema_protocol_bytag(const struct sproto *s, lua_Integer tag) {
	int lo = 0, hi = s->protocol_n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		lua_Integer t = s->protocols[mid].tag;
		if (t == tag)
			return &s->protocols[mid];
		if (t < tag)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

const struct sproto_protocol *sproto_schema_protocol_byname(const struct sproto *s, const char *name) {
	int lo = 0, hi = s->protocol_n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = strcmp(s->proto_byname[mid]->name, name);
		if (c == 0)
			return s->proto_byname[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* ---- dumpproto --------------------------------------------------------------- */

static const char *const builtin_name[] = { "integer", "boolean", "string", "double" };

void sproto_schema_dump(const struct sproto *s, FILE *out) {
	fprintf(out, "=== %d types ===\n", s->type_n);
	for (int i = 0; i < s->type_n; i++) {
		const struct sproto_type *t = &s->types[i];
		fprintf(out, "%s\n", t->name);
		for (int j = 0; j < t->n; j++) {
			const struct sproto_field *f = &t->f[j];
			const char *tn;
			char dec[48];
			if (f->kind == SPROTO_TSTRUCT) {
				tn = f->st->name;
			} else if (f->decimal > 0) {
				if (f->decimal <= 18)
					snprintf(dec, sizeof(dec), "decimal(%.0f)", f->scale);
				else
					snprintf(dec, sizeof(dec), "decimal(1e%d)", f->decimal);
				tn = dec;
			} else if (f->binary) {
				tn = "binary";
			} else {
				tn = builtin_name[f->kind];
			}
			fprintf(out, "\t%s (%d) %s%s", f->name, f->tag, f->array ? "*" : "", tn);
			if (f->array && f->key >= 0) {
				if (f->map && f->valuefield)
					fprintf(out, " key[%d] value[%d]", f->key, f->valuefield->tag);
				else
					fprintf(out, " key[%d]", f->key);
			}
			fputc('\n', out);
		}
	}
	fprintf(out, "=== %d protocol ===\n", s->protocol_n);
	for (int i = 0; i < s->protocol_n; i++) {
		const struct sproto_protocol *p = &s->protocols[i];
		fprintf(out, "\t%s (%d) request:%s", p->name, p->tag, p->request ? p->request->name : "(null)");
		if (p->response)
			fprintf(out, " response:%s", p->response->name);
		else if (p->confirm)
			fprintf(out, " response nil");
		fputc('\n', out);
	}
	fflush(out);
}
