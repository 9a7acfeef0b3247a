/*
 * skynet_handle.h -- the registry mapping service handles and local names
 * to contexts.
 */
#ifndef SKYNET_HANDLE_H
#define SKYNET_HANDLE_H

#include <stdint.h>

#define HANDLE_MASK 0xffffff
#define HANDLE_REMOTE_SHIFT 24

struct skynet_context;

void skynet_handle_init(int harbor);
void skynet_handle_exit(void);
/* Allocate a handle for ctx (skipping live ids, wrapping at 0xffffff). */
uint32_t skynet_handle_register(struct skynet_context *ctx);
/* Remove handle and its names; drops the registry's reference. 1 if found. */
int skynet_handle_retire(uint32_t handle);
/* Returns the context with one more reference (caller releases), or NULL. */
struct skynet_context *skynet_handle_grab(uint32_t handle);
void skynet_handle_retireall(void);
/* Same, but the handle `keep` survives (used to let the logger drain). */
void skynet_handle_retireall_except(uint32_t keep);

uint32_t skynet_handle_findname(const char *name);
/* Binds name (without the dot) to handle; returns the stored name or NULL if
 * the name is taken. */
const char *skynet_handle_namehandle(uint32_t handle, const char *name);

/* Snapshot of live handles: fills up to max entries, returns the count. */
int skynet_handle_list(uint32_t *out, int max);
int skynet_handle_count(void);
/* Handles ever registered and ever retired (services started, exited). */
void skynet_handle_totals(uint64_t *registered, uint64_t *retired);

#endif
