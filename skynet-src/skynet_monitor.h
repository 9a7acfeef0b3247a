/* skynet_monitor.h -- per-worker watch used to detect endless loops. */
#ifndef SKYNET_MONITOR_H
#define SKYNET_MONITOR_H

#include <stdint.h>

struct skynet_monitor;

struct skynet_monitor *skynet_monitor_new(void);
void skynet_monitor_delete(struct skynet_monitor *);
/* Called around every dispatch: (source, destination), then (0, 0). */
void skynet_monitor_trigger(struct skynet_monitor *, uint32_t source, uint32_t destination);
/* Called every 5 s by the monitor thread. */
void skynet_monitor_check(struct skynet_monitor *);

#endif
