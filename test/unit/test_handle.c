/*
 * test_handle.c -- the handle registry with real contexts (instances of the
 * logger module writing to /dev/null): sequential allocation, growth, names
 * (sorted lookup, first binding wins, dropped on retire), grab after retire.
 * Run from the repository root after `make` (needs cservice/logger.so).
 */
#include "skynet.h"
#include "skynet_handle.h"
#include "skynet_harbor.h"
#include "skynet_module.h"
#include "skynet_mq.h"
#include "skynet_runq.h"
#include "skynet_server.h"
#include "skynet_timer.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

static struct skynet_context *new_service(void) { return skynet_context_new("logger", "/dev/null"); }

int main(void) {
	skynet_globalinit();
	skynet_harbor_init(0);
	skynet_handle_init(0);
	skynet_runq_init();
	skynet_timer_init();
	if (skynet_module_init("./cservice/?.so") != 0)
		return 1;
	struct skynet_context *first = new_service();
	CHECK(first && skynet_context_handle(first) == 1, "the first service gets handle 1");
	uint32_t handles[100];
	int sequential = 1;
	for (int i = 0; i < 100; i++) {
		struct skynet_context *c = new_service();
		handles[i] = c ? skynet_context_handle(c) : 0;
		if (handles[i] != (uint32_t)i + 2)
			sequential = 0;
	}
	CHECK(sequential, "handles are allocated sequentially while the table grows");
	CHECK(skynet_handle_count() == 101, "registry counts 101 live services");

	CHECK(skynet_handle_namehandle(handles[5], "beta") != NULL, "a free local name can be bound");
	CHECK(skynet_handle_namehandle(handles[6], "alpha") != NULL, "a second name binds");
	CHECK(skynet_handle_namehandle(handles[7], "beta") == NULL, "binding a taken name is refused");
	CHECK(skynet_handle_namehandle(handles[5], "gamma") != NULL, "one handle may own several names");
	CHECK(skynet_handle_findname("beta") == handles[5], "lookup finds the first binding");
	CHECK(skynet_handle_findname("alpha") == handles[6], "lookup works across sorted insertions");
	CHECK(skynet_handle_findname("delta") == 0, "unknown name gives 0");
	CHECK(skynet_queryname(NULL, ".gamma") == handles[5], "queryname resolves .name");
	CHECK(skynet_queryname(NULL, ":0000000A") == 10, "queryname parses :hex in any case");

	struct skynet_context *c = skynet_handle_grab(handles[5]);
	CHECK(c != NULL, "grab returns a live context");
	skynet_context_release(c);
	CHECK(skynet_handle_retire(handles[5]) == 1, "retire finds the handle");
	CHECK(skynet_handle_grab(handles[5]) == NULL, "grab after retire gives NULL");
	CHECK(skynet_handle_findname("beta") == 0 && skynet_handle_findname("gamma") == 0,
	      "all names of a retired handle are gone");
	CHECK(skynet_handle_findname("alpha") == handles[6], "other names survive");
	CHECK(skynet_handle_retire(handles[5]) == 0, "retiring twice is harmless");
	struct skynet_context *next = new_service();
	CHECK(next && skynet_context_handle(next) == 102, "a retired id is not reused before wrap-around");
	CHECK(skynet_send(NULL, 1, handles[5], PTYPE_TEXT, 0, "x", 1) == SKYNET_SEND_NO_DEST, "send to a retired handle fails");

	skynet_handle_retireall();
	CHECK(skynet_handle_count() == 0, "retireall empties the registry");
	UNIT_EXIT();
}
