/* skynet_config.h -- reads the config file into the node environment. */
#ifndef SKYNET_CONFIG_H
#define SKYNET_CONFIG_H

/* Evaluates the config file and stores every key with skynet_setenv.
 * Returns 0, or 1 after printing one line on stderr saying what is wrong. */
int skynet_config_load(const char *path);

/* Reads a key, writing `def` back into the env when it is missing. */
int skynet_config_int(const char *key, int def, int *value);
const char *skynet_config_string(const char *key, const char *def);
int skynet_config_bool(const char *key, int def);

#endif
