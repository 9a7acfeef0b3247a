/*
 * skynet_clock.c -- the one clock of the process: skynet_hpc(), monotonic
 * nanoseconds.  Everything that measures an interval or a deadline reads
 * this (it is CLOCK_MONOTONIC, a vDSO read of ~20 ns, so the condition
 * variables set to that clock take deadlines from it too).  It calls
 * nothing else of ours, so any file may use it.
 */
#include "skynet_clock.h"

#include <time.h>

uint64_t skynet_hpc(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void skynet_hpc_cond_init(pthread_cond_t *cond) {
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

struct timespec skynet_hpc_deadline(uint64_t ns) {
	uint64_t at = skynet_hpc() + ns;
	return (struct timespec){(time_t)(at / 1000000000ULL), (long)(at % 1000000000ULL)};
}
