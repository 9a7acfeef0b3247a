/*
 * skynet_handle.c -- handle registry.
 *
 * Handles live in an open-addressed array indexed by (handle & (size-1));
 * the array doubles when full so a lookup is one index and one compare.
 * Names are a sorted array searched by bisection (few names, many lookups).
 * One rwlock guards everything: lookups take it shared, changes exclusive.
 */
#include "skynet_handle.h"
#include "skynet.h"
#include "skynet_server.h"

#include <pthread.h>
#include <string.h>

#define DEFAULT_SLOT_SIZE 4
#define MAX_SLOT_SIZE 0x40000000

struct handle_name {
	char *name;
	uint32_t handle;
};

struct handle_storage {
	pthread_rwlock_t lock;
	uint32_t harbor;
	uint32_t handle_index;
	int slot_size;
	int count;
	uint64_t registered; /* handles ever given out (services started) */
	uint64_t retired;    /* handles ever retired (services exited) */
	struct skynet_context **slot;
	int name_cap;
	int name_count;
	struct handle_name *name;
};

static struct handle_storage *H;

void skynet_handle_init(int harbor) {
	struct handle_storage *s = skynet_malloc(sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->slot_size = DEFAULT_SLOT_SIZE;
	s->slot = skynet_calloc(s->slot_size, sizeof(struct skynet_context *));
	pthread_rwlock_init(&s->lock, NULL);
	s->harbor = (uint32_t)(harbor & 0xff) << HANDLE_REMOTE_SHIFT;
	s->handle_index = 1;
	s->name_cap = 2;
	s->name = skynet_malloc(s->name_cap * sizeof(struct handle_name));
	H = s;
}

void skynet_handle_exit(void) {
	if (!H)
		return;
	for (int i = 0; i < H->name_count; i++)
		skynet_free(H->name[i].name);
	skynet_free(H->name);
	skynet_free(H->slot);
	pthread_rwlock_destroy(&H->lock);
	skynet_free(H);
	H = NULL;
}

uint32_t skynet_handle_register(struct skynet_context *ctx) {
	struct handle_storage *s = H;
	pthread_rwlock_wrlock(&s->lock);
	for (;;) {
		uint32_t handle = s->handle_index;
		for (int i = 0; i < s->slot_size; i++, handle++) {
			if (handle > HANDLE_MASK)
				handle = 1;
			int hash = handle & (s->slot_size - 1);
			if (s->slot[hash] == NULL) {
				s->slot[hash] = ctx;
				s->handle_index = handle + 1;
				s->count++;
				s->registered++;
				pthread_rwlock_unlock(&s->lock);
				return handle | s->harbor;
			}
		}
		if (s->slot_size * 2 > MAX_SLOT_SIZE || s->slot_size * 2 > HANDLE_MASK + 1) {
			pthread_rwlock_unlock(&s->lock);
			return 0;
		}
		size_t new_size = (size_t)s->slot_size * 2;
		struct skynet_context **ns = skynet_calloc(new_size, sizeof(*ns));
		for (int i = 0; i < s->slot_size; i++) {
			if (s->slot[i]) {
				uint32_t h = skynet_context_handle(s->slot[i]);
				ns[h & (s->slot_size * 2 - 1)] = s->slot[i];
			}
		}
		skynet_free(s->slot);
		s->slot = ns;
		s->slot_size *= 2;
	}
}

static void remove_names_locked(struct handle_storage *s, uint32_t handle) {
	int j = 0;
	for (int i = 0; i < s->name_count; i++) {
		if (s->name[i].handle == handle) {
			skynet_free(s->name[i].name);
			continue;
		}
		if (i != j)
			s->name[j] = s->name[i];
		j++;
	}
	s->name_count = j;
}

int skynet_handle_retire(uint32_t handle) {
	struct handle_storage *s = H;
	struct skynet_context *ctx = NULL;
	pthread_rwlock_wrlock(&s->lock);
	uint32_t hash = handle & (s->slot_size - 1);
	struct skynet_context *c = s->slot[hash];
	if (c && skynet_context_handle(c) == handle) {
		s->slot[hash] = NULL;
		s->count--;
		s->retired++;
		ctx = c;
		remove_names_locked(s, handle);
	}
	pthread_rwlock_unlock(&s->lock);
	if (ctx) {
		/* Released outside the lock: deleting may call the module's release,
		 * which may itself use the registry. */
		skynet_context_release(ctx);
		return 1;
	}
	return 0;
}

void skynet_handle_retireall_except(uint32_t keep) {
	for (;;) {
		int n = 0;
		uint32_t handles[256];
		int count = skynet_handle_list(handles, 256);
		for (int i = 0; i < count; i++) {
			if (handles[i] == keep)
				continue;
			if (skynet_handle_retire(handles[i]))
				n++;
		}
		if (n == 0)
			return;
	}
}

void skynet_handle_retireall(void) { skynet_handle_retireall_except(0); }

int skynet_handle_list(uint32_t *out, int max) {
	struct handle_storage *s = H;
	int n = 0;
	pthread_rwlock_rdlock(&s->lock);
	for (int i = 0; i < s->slot_size && n < max; i++) {
		if (s->slot[i])
			out[n++] = skynet_context_handle(s->slot[i]);
	}
	pthread_rwlock_unlock(&s->lock);
	return n;
}

int skynet_handle_count(void) {
	pthread_rwlock_rdlock(&H->lock);
	int n = H->count;
	pthread_rwlock_unlock(&H->lock);
	return n;
}

void skynet_handle_totals(uint64_t *registered, uint64_t *retired) {
	pthread_rwlock_rdlock(&H->lock);
	*registered = H->registered;
	*retired = H->retired;
	pthread_rwlock_unlock(&H->lock);
}

struct skynet_context *skynet_handle_grab(uint32_t handle) {
	struct handle_storage *s = H;
	struct skynet_context *result = NULL;
	pthread_rwlock_rdlock(&s->lock);
	struct skynet_context *ctx = s->slot[handle & (s->slot_size - 1)];
	if (ctx && skynet_context_handle(ctx) == handle) {
		result = ctx;
		skynet_context_grab(result);
	}
	pthread_rwlock_unlock(&s->lock);
	return result;
}

/* Bisection over the sorted name table; returns the index or -(insert)-1. */
static int find_name_locked(struct handle_storage *s, const char *name) {
	int begin = 0, end = s->name_count - 1;
	while (begin <= end) {
		int mid = (begin + end) / 2;
		int c = strcmp(s->name[mid].name, name);
		if (c == 0)
			return mid;
		if (c < 0)
			begin = mid + 1;
		else
			end = mid - 1;
	}
	return -begin - 1;
}

uint32_t skynet_handle_findname(const char *name) {
	struct handle_storage *s = H;
	uint32_t handle = 0;
	pthread_rwlock_rdlock(&s->lock);
	int i = find_name_locked(s, name);
	if (i >= 0)
		handle = s->name[i].handle;
	pthread_rwlock_unlock(&s->lock);
	return handle;
}

const char *skynet_handle_namehandle(uint32_t handle, const char *name) {
	struct handle_storage *s = H;
	const char *result = NULL;
	pthread_rwlock_wrlock(&s->lock);
	int i = find_name_locked(s, name);
	if (i < 0) {
		int before = -i - 1;
		if (s->name_count >= s->name_cap) {
			s->name_cap *= 2;
			s->name = skynet_realloc(s->name, s->name_cap * sizeof(struct handle_name));
		}
		memmove(&s->name[before + 1], &s->name[before],
		        (s->name_count - before) * sizeof(struct handle_name));
		s->name[before].name = skynet_strdup(name);
		s->name[before].handle = handle;
		s->name_count++;
		result = s->name[before].name;
	}
	pthread_rwlock_unlock(&s->lock);
	return result;
}
