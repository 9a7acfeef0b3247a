/*
 * skynet_poller.h -- which thread polls the socket server: the socket
 * thread, or an idle worker standing in for it while traffic flows
 * (skynet_poller.c says why and the rules).
 */
#ifndef SKYNET_POLLER_H
#define SKYNET_POLLER_H

/* Before any thread starts. */
void skynet_poller_init(void);
/* The socket thread's loop; returns once the socket server has exited. */
void skynet_poller_socket_thread(void);
/* An idle worker, at each round of its polling: -1 if it is not the one
 * polling the sockets now, else how many events its poll handled (they are
 * in the run queue). */
int skynet_poller_idle(void);
/* A worker between two mailboxes: polls if it holds the duty and its last
 * poll is POLL_DUTY_GAP_NS old. */
void skynet_poller_between(void);
/* A worker about to sleep gives the duty back to the socket thread. */
void skynet_poller_park(void);

#endif
