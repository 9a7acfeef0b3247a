/*
 * test_metrics_collect.c -- the metrics service's snapshot of one service
 * (service-src/metrics_collect.c, metrics_format.c, linked directly) with
 * a real context (a logger writing to /dev/null): the per-service message
 * counter goes past 2^32 without wrapping, through the core's own
 * increment, `STAT message`, /service.json and the Prometheus text; the
 * task count its scheduler publishes comes out in both too.
 * Run from the repository root after `make` (needs cservice/logger.so).
 */
#include "metrics_collect.h"
#include "metrics_format.h"
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_harbor.h"
#include "skynet_module.h"
#include "skynet_monitor.h"
#include "skynet_runq.h"
#include "skynet_server.h"
#include "skynet_socket.h"
#include "skynet_timer.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

int main(void) {
	skynet_globalinit();
	skynet_harbor_init(0);
	skynet_handle_init(0);
	skynet_runq_init();
	skynet_timer_init();
	skynet_socket_init(); /* a full snapshot counts the sockets */
	if (skynet_module_init("./cservice/?.so") != 0)
		return 1;
	struct skynet_context *ctx = skynet_context_new("logger", "/dev/null");
	if (ctx == NULL)
		return 1;
	uint32_t h = skynet_context_handle(ctx);
	struct skynet_monitor *mon = skynet_monitor_new();

	/* Two messages short of 2^32, then three real dispatches across it. */
	skynet_context_set_message_count(ctx, (1ull << 32) - 2);
	for (int i = 0; i < 3; i++)
		skynet_send(NULL, 0, h, PTYPE_TEXT, 0, "x", 1);
	struct message_queue *q = NULL;
	for (int i = 0; i < 10; i++)
		q = skynet_context_message_dispatch(mon, q, 0);

	struct metrics_service svc;
	CHECK(metrics_collect_service(h, &svc) == 0, "collect: a live service is found");
	CHECK(svc.messages == (1ull << 32) + 1, "collect: the message counter passes 2^32 without wrapping");
	if (svc.messages != (1ull << 32) + 1)
		printf("# messages %llu\n", (unsigned long long)svc.messages);
	const char *stat = skynet_command(ctx, "STAT", "message");
	CHECK(stat && strcmp(stat, "4294967297") == 0, "collect: STAT message says 4294967297 too");

	skynet_context_set_tasks(ctx, 3);
	CHECK(metrics_collect_service(h, &svc) == 0 && svc.tasks == 3, "collect: the task count its scheduler set");
	struct mbuf b;
	mbuf_init(&b);
	metrics_format_service_json(&b, &svc);
	CHECK(b.p && strstr(b.p, "\"tasks\":3,\"messages\":4294967297,"),
	      "format: /service.json carries tasks and the 64-bit message count");
	if (b.p && !strstr(b.p, "\"tasks\":3,\"messages\":4294967297,"))
		printf("# json %s", b.p);
	mbuf_free(&b);

	struct metrics_snapshot snap;
	metrics_snapshot_init(&snap, 5);
	metrics_collect(&snap, 1);
	mbuf_init(&b);
	metrics_format_text(&b, &snap);
	char want[128];
	snprintf(want, sizeof(want), "skynet_service_messages_total{address=\":%08x\",name=\"logger /dev/null\"} 4294967297\n",
	         h);
	CHECK(b.p && strstr(b.p, want), "format: skynet_service_messages_total goes past 2^32");
	snprintf(want, sizeof(want), "skynet_service_tasks{address=\":%08x\",name=\"logger /dev/null\"} 3\n", h);
	CHECK(b.p && strstr(b.p, want), "format: skynet_service_tasks of the top services");
	CHECK(b.p && strstr(b.p, "# TYPE skynet_service_tasks gauge\n"), "format: skynet_service_tasks is a gauge");
	mbuf_free(&b);
	metrics_snapshot_free(&snap);
	skynet_socket_free();
	UNIT_EXIT();
}
