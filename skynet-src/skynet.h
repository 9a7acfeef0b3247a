/*
 * skynet.h -- the public C API a service module is written against.
 * Names and semantics follow upstream skynet.
 */
#ifndef SKYNET_H
#define SKYNET_H

#include "skynet_clock.h"
#include "skynet_malloc.h"

#include <stddef.h>
#include <stdint.h>

#define PTYPE_TEXT 0
#define PTYPE_RESPONSE 1
#define PTYPE_MULTICAST 2
#define PTYPE_CLIENT 3
#define PTYPE_SYSTEM 4
#define PTYPE_HARBOR 5
#define PTYPE_SOCKET 6
#define PTYPE_ERROR 7
#define PTYPE_RESERVED_QUEUE 8
#define PTYPE_RESERVED_DEBUG 9
#define PTYPE_RESERVED_LUA 10
#define PTYPE_RESERVED_SNAX 11

#define PTYPE_TAG_DONTCOPY 0x10000
#define PTYPE_TAG_ALLOCSESSION 0x20000

/* skynet_send and skynet_sendname return the session (>= 0) or one of:
 * NO_DEST: no such service or name, address 0 with a payload, or a new
 * session asked for without a context; TOO_LARGE: the size does not fit
 * in the 56 bits beside the type. */
#define SKYNET_SEND_NO_DEST (-1)
#define SKYNET_SEND_TOO_LARGE (-2)

/* skynet_command(ctx, "EXIT", SKYNET_EXIT_INIT_FAILED): a service module
 * whose start-up failed exits with this, so that a failed bootstrap stops
 * the node instead of leaving it idle. */
#define SKYNET_EXIT_INIT_FAILED "init failed"

struct skynet_context;

typedef int (*skynet_cb)(struct skynet_context *context, void *ud, int type, int session,
                         uint32_t source, const void *msg, size_t sz);

void skynet_error(struct skynet_context *context, const char *msg, ...)
    __attribute__((format(printf, 2, 3)));
const char *skynet_command(struct skynet_context *context, const char *cmd, const char *parm);
uint32_t skynet_queryname(struct skynet_context *context, const char *name);
int skynet_send(struct skynet_context *context, uint32_t source, uint32_t destination, int type,
                int session, void *msg, size_t sz);
int skynet_sendname(struct skynet_context *context, uint32_t source, const char *destination,
                    int type, int session, void *msg, size_t sz);
int skynet_isremote(struct skynet_context *, uint32_t handle, int *harbor);
void skynet_callback(struct skynet_context *context, void *ud, skynet_cb cb);
uint32_t skynet_current_handle(void);
uint64_t skynet_now(void);

/* For a protocol whose payload owns more than its own bytes (multicast's
 * shared packages): `release` is called with a message of that type that
 * is dropped unread (its destination exited with it queued), before the
 * payload itself is freed.  Set once, before any such message is sent. */
typedef void (*skynet_drop_cb)(void *msg, size_t sz);
void skynet_drop_hook(int type, skynet_drop_cb release);
void skynet_debug_memory(const char *info);

#endif
