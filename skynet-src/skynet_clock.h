/*
 * skynet_clock.h -- the one clock (skynet_clock.c).  Included by skynet.h,
 * so services and C modules have it too.
 */
#ifndef SKYNET_CLOCK_H
#define SKYNET_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC): for intervals and deadlines. */
uint64_t skynet_hpc(void);
/* (Re)initialises a condition variable whose timed waits take deadlines
 * on this clock (skynet_hpc_deadline). */
void skynet_hpc_cond_init(pthread_cond_t *cond);
/* The absolute time `ns` from now on this clock, for pthread_cond_timedwait
 * on such a condition variable. */
struct timespec skynet_hpc_deadline(uint64_t ns);

#endif
