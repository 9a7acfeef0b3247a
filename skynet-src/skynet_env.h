/* skynet_env.h -- the node environment: config keys, add-only. */
#ifndef SKYNET_ENV_H
#define SKYNET_ENV_H

void skynet_env_init(void);
/* Returned strings stay valid for the life of the process. */
const char *skynet_getenv(const char *key);
/* 0 on success, -1 if the key exists already (values never change). */
int skynet_setenv(const char *key, const char *value);

#endif
