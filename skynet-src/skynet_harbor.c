/*
 * skynet_harbor.c -- hands messages for other harbors (or for global names)
 * to the harbor service as PTYPE_SYSTEM messages carrying a remote_message.
 */
#include "skynet_harbor.h"
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_mq.h"
#include "skynet_server.h"

#include <stdatomic.h>

static _Atomic(struct skynet_context *) REMOTE;
static unsigned int HARBOR = ~0u;

void skynet_harbor_send(struct remote_message *rmsg, uint32_t source, int session) {
	struct skynet_context *remote = atomic_load(&REMOTE);
	if (remote == NULL) {
		skynet_free((void *)rmsg->message);
		skynet_free(rmsg);
		return;
	}
	skynet_context_send(remote, rmsg, sizeof(*rmsg), source, PTYPE_SYSTEM, session);
}

int skynet_harbor_message_isremote(uint32_t handle) {
	unsigned int h = handle & ~HANDLE_MASK;
	return h != HARBOR && h != 0;
}

void skynet_harbor_init(int harbor) { HARBOR = (unsigned int)harbor << HANDLE_REMOTE_SHIFT; }

void skynet_harbor_start(struct skynet_context *ctx) {
	/* The harbor service must outlive everything that may still route
	 * through it, but must not keep the node alive by itself. */
	skynet_context_reserve(ctx);
	atomic_store(&REMOTE, ctx);
}

void skynet_harbor_exit(void) {
	struct skynet_context *ctx = atomic_exchange(&REMOTE, NULL);
	if (ctx)
		skynet_context_release(ctx);
}
