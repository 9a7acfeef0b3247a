/* skynet_daemon.h -- daemon mode with a pid file. */
#ifndef SKYNET_DAEMON_H
#define SKYNET_DAEMON_H

/* 0 on success; on failure prints why on stderr and returns 1. */
int skynet_daemon_init(const char *pidfile);
int skynet_daemon_exit(const char *pidfile);

#endif
