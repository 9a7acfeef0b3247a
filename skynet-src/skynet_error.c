/*
 * skynet_error.c -- skynet_error(): format one log line and send it as
 * PTYPE_TEXT to the `logger` service.  Never truncates.
 */
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_mq.h"
#include "skynet_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void skynet_error(struct skynet_context *context, const char *msg, ...) {
	uint32_t logger = skynet_logger_handle();
	if (logger == 0) {
		logger = skynet_handle_findname("logger");
		if (logger == 0)
			return;
		skynet_set_logger_handle(logger);
	}
	char tmp[256];
	va_list ap;
	va_start(ap, msg);
	int len = vsnprintf(tmp, sizeof(tmp), msg, ap);
	va_end(ap);
	if (len < 0)
		return;
	size_t size = (size_t)len;
	char *data = skynet_malloc(size + 1);
	if (size < sizeof(tmp)) {
		memcpy(data, tmp, size + 1);
	} else {
		va_start(ap, msg);
		vsnprintf(data, size + 1, msg, ap);
		va_end(ap);
	}
	struct skynet_message smsg;
	smsg.source = context ? skynet_context_handle(context) : 0;
	smsg.session = 0;
	smsg.data = data;
	smsg.sz = size | ((size_t)PTYPE_TEXT << MESSAGE_TYPE_SHIFT);
	if (skynet_context_push(logger, &smsg))
		skynet_free(data);
}
