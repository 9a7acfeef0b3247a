/*
 * skynet_log.c -- per-service message log: one line per delivered message,
 * written to <logpath>/<8hex handle>.log.
 */
#include "skynet.h"
#include "skynet_env.h"
#include "skynet_log.h"
#include "skynet_timer.h"

#include <string.h>
#include <time.h>

FILE *skynet_log_open(struct skynet_context *ctx, uint32_t handle) {
	const char *logpath = skynet_getenv("logpath");
	if (logpath == NULL)
		return NULL;
	size_t sz = strlen(logpath) + 32;
	char tmp[sz];
	snprintf(tmp, sz, "%s/%08x.log", logpath, handle);
	FILE *f = fopen(tmp, "ab");
	if (f) {
		uint32_t starttime = skynet_starttime();
		uint64_t now = skynet_timer_now();
		time_t ti = starttime + now / 100;
		char tbuf[64];
		ctime_r(&ti, tbuf);
		skynet_error(ctx, "Open log file %s", tmp);
		fprintf(f, "open time: %u %s", (uint32_t)now, tbuf);
		fflush(f);
	} else {
		skynet_error(ctx, "Open log file %s fail", tmp);
	}
	return f;
}

void skynet_log_close(struct skynet_context *ctx, FILE *f, uint32_t handle) {
	skynet_error(ctx, "Close log file :%08x", handle);
	fprintf(f, "close time: %u\n", (uint32_t)skynet_timer_now());
	fclose(f);
}

static void log_hex(FILE *f, const uint8_t *buffer, size_t sz) {
	for (size_t i = 0; i < sz; i++)
		fprintf(f, "%02x", buffer[i]);
}

void skynet_log_output(FILE *f, uint32_t source, int type, int session, void *buffer, size_t sz) {
	uint32_t ti = (uint32_t)skynet_timer_now();
	if (type == PTYPE_SOCKET) {
		/* struct skynet_socket_message { int type; int id; int ud; char *buffer; } */
		struct {
			int type;
			int id;
			int ud;
			char *buffer;
		} *msg = buffer;
		fprintf(f, "[socket] %d %d %d ", msg->type, msg->id, msg->ud);
		if (msg->buffer == NULL) {
			const char *text = (const char *)(msg + 1);
			size_t len = sz > sizeof(*msg) ? sz - sizeof(*msg) : 0;
			fprintf(f, "[%.*s]", (int)strnlen(text, len), text);
		} else {
			log_hex(f, (const uint8_t *)msg->buffer, (size_t)msg->ud);
		}
	} else {
		fprintf(f, ":%08x %d %d %u ", source, type, session, ti);
		log_hex(f, buffer, sz);
	}
	fprintf(f, "\n");
	fflush(f);
}
