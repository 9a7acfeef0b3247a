/*
 * skynet_module.c -- finds `name` along the cpath patterns, dlopens it once
 * (RTLD_NOW|RTLD_GLOBAL, never unloaded) and resolves name_create/init/
 * release/signal.  At most MAX_MODULE_TYPE distinct modules per process.
 */
#include "skynet_module.h"
#include "skynet.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_MODULE_TYPE 32

static struct {
	pthread_mutex_t lock;
	char *path;
	int count;
	struct skynet_module m[MAX_MODULE_TYPE];
} M = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, {{0}}};

int skynet_module_init(const char *path) {
	/* Every pattern must carry a '?'. */
	const char *p = path;
	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0 && memchr(p, '?', len) == NULL) {
			fprintf(stderr, "Invalid C service path\n");
			return -1;
		}
		p += len;
		if (*p == ';')
			p++;
	}
	M.path = skynet_strdup(path);
	return 0;
}

/* Tries each pattern in order; prints `try open <name> failed : <dlerror>`
 * naming every path tried when none loads. */
static void *try_open(const char *name) {
	size_t name_size = strlen(name);
	size_t path_size = strlen(M.path);
	char tmp[name_size + path_size + 1];
	char errors[1024] = "";
	const char *path = M.path;
	void *dl = NULL;
	while (*path) {
		const char *end = strchr(path, ';');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		const char *q = memchr(path, '?', len);
		if (len > 0 && q) {
			size_t before = (size_t)(q - path);
			memcpy(tmp, path, before);
			memcpy(tmp + before, name, name_size);
			memcpy(tmp + before + name_size, q + 1, len - before - 1);
			tmp[len - 1 + name_size] = '\0';
			dl = dlopen(tmp, RTLD_NOW | RTLD_GLOBAL);
			if (dl)
				return dl;
			size_t used = strlen(errors);
			snprintf(errors + used, sizeof(errors) - used, "%s%s", used ? "; " : "", dlerror());
		}
		path += len;
		if (*path == ';')
			path++;
	}
	fprintf(stderr, "try open %s failed : %s\n", name, errors);
	return NULL;
}

static struct skynet_module *find_locked(const char *name) {
	for (int i = 0; i < M.count; i++)
		if (strcmp(M.m[i].name, name) == 0)
			return &M.m[i];
	return NULL;
}

static void *get_api(struct skynet_module *mod, const char *suffix) {
	const char *name = mod->name;
	const char *dot = strrchr(name, '.');
	if (dot)
		name = dot + 1;
	char tmp[strlen(name) + strlen(suffix) + 1];
	strcpy(tmp, name);
	strcat(tmp, suffix);
	return dlsym(mod->module, tmp);
}

struct skynet_module *skynet_module_query(const char *name) {
	pthread_mutex_lock(&M.lock);
	struct skynet_module *result = find_locked(name);
	if (result == NULL && M.count < MAX_MODULE_TYPE && M.path) {
		void *dl = try_open(name);
		if (dl) {
			struct skynet_module *mod = &M.m[M.count];
			mod->name = name;
			mod->module = dl;
			mod->create = (skynet_dl_create)get_api(mod, "_create");
			mod->init = (skynet_dl_init)get_api(mod, "_init");
			mod->release = (skynet_dl_release)get_api(mod, "_release");
			mod->signal = (skynet_dl_signal)get_api(mod, "_signal");
			mod->memory = (skynet_dl_memory)get_api(mod, "_memory");
			if (mod->init == NULL) {
				fprintf(stderr, "try open %s failed : no %s_init symbol\n", name, name);
			} else {
				mod->name = skynet_strdup(name);
				M.count++;
				result = mod;
			}
		}
	}
	pthread_mutex_unlock(&M.lock);
	return result;
}

void *skynet_module_instance_create(struct skynet_module *m) {
	if (m->create)
		return m->create();
	return (void *)(intptr_t)(~0);
}

int skynet_module_instance_init(struct skynet_module *m, void *inst, struct skynet_context *ctx,
                                const char *parm) {
	return m->init(inst, ctx, parm);
}

void skynet_module_instance_release(struct skynet_module *m, void *inst) {
	if (m->release)
		m->release(inst);
}

void skynet_module_instance_signal(struct skynet_module *m, void *inst, int signal) {
	if (m->signal)
		m->signal(inst, signal);
}

size_t skynet_module_instance_memory(struct skynet_module *m, void *inst) {
	return m->memory ? m->memory(inst) : 0;
}
