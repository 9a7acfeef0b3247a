/*
 * skynet_timer.h -- centisecond timers.  Expiry delivers PTYPE_RESPONSE
 * (source 0, the timer's session, no payload) to the service that set it.
 */
#ifndef SKYNET_TIMER_H
#define SKYNET_TIMER_H

#include <stdint.h>

void skynet_timer_init(void);
void skynet_timer_exit(void);
/* Arms a timer for `time` centiseconds (<= 0: deliver now); returns session,
 * or -1 when the destination is gone. */
int skynet_timeout(uint32_t handle, int time, int session);
/* Fires every timer that is due; returns ns until the next tick. */
uint64_t skynet_timer_update(void);
/* Moves the clock by `ticks` centiseconds regardless of wall time (tests). */
void skynet_timer_advance(uint64_t ticks);
uint64_t skynet_timer_now(void);
uint32_t skynet_starttime(void);
int skynet_timer_pending(void);

/* Delivery hook: the default pushes the message to the service's mailbox.
 * Unit tests install their own to observe expiries. */
typedef void (*skynet_timer_deliver_fn)(uint32_t handle, int session);
void skynet_timer_set_deliver(skynet_timer_deliver_fn fn);

#endif
