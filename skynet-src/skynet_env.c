/*
 * skynet_env.c -- the node environment.  Entries are only ever added, so a
 * value pointer handed out stays valid: readers copy nothing.  A chained
 * hash table under a mutex; the table is small and read rarely.
 */
#include "skynet_env.h"
#include "skynet.h"

#include <pthread.h>
#include <string.h>

#define ENV_BUCKETS 128

struct env_entry {
	struct env_entry *next;
	char *key;
	char *value;
};

static struct {
	pthread_mutex_t lock;
	struct env_entry *bucket[ENV_BUCKETS];
} E = {PTHREAD_MUTEX_INITIALIZER, {0}};

void skynet_env_init(void) {}

static unsigned hash_key(const char *key) {
	unsigned h = 5381;
	for (; *key; key++)
		h = h * 33 + (unsigned char)*key;
	return h % ENV_BUCKETS;
}

static struct env_entry *find_locked(const char *key, unsigned h) {
	for (struct env_entry *e = E.bucket[h]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

const char *skynet_getenv(const char *key) {
	unsigned h = hash_key(key);
	pthread_mutex_lock(&E.lock);
	struct env_entry *e = find_locked(key, h);
	const char *v = e ? e->value : NULL;
	pthread_mutex_unlock(&E.lock);
	return v;
}

int skynet_setenv(const char *key, const char *value) {
	unsigned h = hash_key(key);
	pthread_mutex_lock(&E.lock);
	if (find_locked(key, h)) {
		pthread_mutex_unlock(&E.lock);
		return -1;
	}
	struct env_entry *e = skynet_malloc(sizeof(*e));
	e->key = skynet_strdup(key);
	e->value = skynet_strdup(value);
	e->next = E.bucket[h];
	E.bucket[h] = e;
	pthread_mutex_unlock(&E.lock);
	return 0;
}
