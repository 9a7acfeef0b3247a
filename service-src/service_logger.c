/*
 * service_logger.c -- the default logger.  One line per PTYPE_TEXT message:
 * `[:<8hex source>] <text>` on stdout, or with a local timestamp
 * `dd/mm/yy HH:MM:SS.cc` in front when logging to a file.  A PTYPE_SYSTEM
 * message (sent on SIGHUP) reopens the file, for log rotation.
 */
#include "skynet.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct logger {
	FILE *handle;
	char *filename;
	int close;
};

void *logger_create(void) {
	struct logger *inst = skynet_malloc(sizeof(*inst));
	memset(inst, 0, sizeof(*inst));
	return inst;
}

void logger_release(struct logger *inst) {
	if (inst->close)
		fclose(inst->handle);
	skynet_free(inst->filename);
	skynet_free(inst);
}

static void write_timestamp(FILE *f) {
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	time_t sec = tv.tv_sec;
	localtime_r(&sec, &tm);
	char buf[32];
	strftime(buf, sizeof(buf), "%d/%m/%y %H:%M:%S", &tm);
	fprintf(f, "%s.%02d ", buf, (int)(tv.tv_usec / 10000));
}

static int logger_cb(struct skynet_context *context, void *ud, int type, int session, uint32_t source,
                     const void *msg, size_t sz) {
	(void)context;
	(void)session;
	struct logger *inst = ud;
	switch (type) {
	case PTYPE_SYSTEM:
		if (inst->filename) {
			FILE *f = freopen(inst->filename, "a", inst->handle);
			if (f)
				inst->handle = f;
		}
		break;
	case PTYPE_TEXT:
		/* one locked unit: print() of services writes to the same stdout
		 * from other threads and must not land inside a log line */
		flockfile(inst->handle);
		if (inst->filename)
			write_timestamp(inst->handle);
		fprintf(inst->handle, "[:%08x] ", source);
		fwrite(msg, sz, 1, inst->handle);
		fputc('\n', inst->handle);
		fflush(inst->handle);
		funlockfile(inst->handle);
		break;
	}
	return 0;
}

int logger_init(struct logger *inst, struct skynet_context *ctx, const char *parm) {
	if (parm && parm[0]) {
		inst->handle = fopen(parm, "a");
		if (inst->handle == NULL)
			return 1;
		inst->filename = skynet_strdup(parm);
		inst->close = 1;
	} else {
		inst->handle = stdout;
	}
	skynet_callback(ctx, inst, logger_cb);
	return 0;
}
