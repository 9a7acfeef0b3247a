/*
 * skynet_clock.h -- the one clock (skynet_clock.c).  Included by skynet.h,
 * so services and C modules have it too.
 */
#ifndef SKYNET_CLOCK_H
#define SKYNET_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC): for intervals and deadlines. */
uint64_t skynet_hpc(void);

#endif
