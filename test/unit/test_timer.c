/*
 * test_timer.c -- the timer heap: exact expiry tick, FIFO order within a
 * tick, immediate delivery of non-positive delays, and the exact tick and
 * order of many random timers.  The clock is driven by skynet_timer_advance and expiries
 * are captured by a delivery hook, so nothing depends on machine speed.
 */
#include "skynet_clock.h"
#include "skynet_timer.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>

#define MAX_FIRED 20000

static struct {
	uint32_t handle;
	int session;
	uint64_t at;
} fired[MAX_FIRED];
static int nfired;

static void record(uint32_t handle, int session) {
	if (nfired < MAX_FIRED) {
		fired[nfired].handle = handle;
		fired[nfired].session = session;
		fired[nfired].at = skynet_timer_now();
		nfired++;
	}
}

int main(void) {
	skynet_timer_init();
	skynet_timer_set_deliver(record);
	uint64_t t0 = skynet_timer_now();
	CHECK(t0 < 100, "clock starts at the wall clock's centisecond fraction");

	skynet_timeout(5, 0, 11);
	skynet_timeout(5, -3, 12);
	CHECK(nfired == 2 && fired[0].session == 11 && fired[1].session == 12,
	      "delays <= 0 are delivered at once, in order");

	nfired = 0;
	skynet_timeout(1, 10, 1);
	skynet_timeout(2, 3, 2);
	skynet_timeout(3, 10, 3);
	skynet_timer_advance(2);
	CHECK(nfired == 0, "nothing fires before its tick");
	skynet_timer_advance(1);
	CHECK(nfired == 1 && fired[0].handle == 2 && fired[0].at == t0 + 3, "a 3-tick timer fires at tick +3");
	skynet_timer_advance(7);
	CHECK(nfired == 3 && fired[1].session == 1 && fired[2].session == 3,
	      "timers due in the same tick fire in arming order");
	CHECK(skynet_timer_pending() == 0, "no timer left pending");

	/* The clock moves one tick at a time, so each timer is seen at the
	 * tick it fired: it must be its own expiry tick, and the sequence must
	 * follow (expiry, arming order). */
	nfired = 0;
	srand(42);
	int n = 10000;
	static uint64_t due[MAX_FIRED];
	uint64_t base = skynet_timer_now();
	for (int i = 0; i < n; i++) {
		int delay = 1 + rand() % 500;
		due[i] = base + (uint64_t)delay;
		skynet_timeout(9, delay, i);
	}
	for (int t = 0; t < 600; t++)
		skynet_timer_advance(1);
	int on_time = 1, ordered = 1;
	for (int i = 0; i < nfired; i++) {
		int s = fired[i].session;
		if (fired[i].at != due[s])
			on_time = 0;
		if (i > 0) {
			int p = fired[i - 1].session;
			if (due[s] < due[p] || (due[s] == due[p] && s < p))
				ordered = 0;
		}
	}
	CHECK(nfired == n, "10,000 random timers all fire");
	CHECK(on_time, "each random timer fires at its own expiry tick");
	CHECK(ordered, "random timers fire in expiry order, ties in arming order");

	uint64_t before = skynet_timer_now();
	skynet_timer_advance(250);
	CHECK(skynet_timer_now() == before + 250, "now advances by exactly the ticks elapsed");
	uint64_t h1 = skynet_hpc(), h2 = skynet_hpc();
	CHECK(h2 >= h1, "hpc is monotonic");
	skynet_timer_exit();
	UNIT_EXIT();
}
