/*
 * skynet_main.c -- `skynet <configfile>`: load the config, apply defaults,
 * start the node (skynet_start.c) and return its exit status.
 */
#include "skynet.h"
#include "skynet_config.h"
#include "skynet_env.h"
#include "skynet_imp.h"
#include "skynet_server.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>

int main(int argc, char *argv[]) {
	if (argc < 2) {
		fprintf(stderr, "Need a config file. Please read skynet wiki : "
		                "https://github.com/cloudwu/skynet/wiki/Config\n"
		                "usage: skynet configfilename\n");
		return 1;
	}
	skynet_globalinit();
	skynet_env_init();
	signal(SIGPIPE, SIG_IGN);
	/* Services grow the heap ~100 kB at a time; let glibc extend it in
	 * 1 MiB steps (larger steps inflate resident memory at boot)
	 * instead of an mprotect/brk call every few pages. */
	mallopt(M_TOP_PAD, 1 << 20);

	if (skynet_config_load(argv[1]))
		return 1;

	struct skynet_config config;
	if (skynet_config_int("thread", 8, &config.thread) || skynet_config_int("harbor", 1, &config.harbor))
		return 1;
	if (config.thread < 1 || config.thread > 1024) {
		fprintf(stderr, "Invalid thread %d , should be in [1,1024]\n", config.thread);
		return 1;
	}
	if (config.harbor < 0 || config.harbor > 255) {
		fprintf(stderr, "Invalid harbor %d , should be in [0,255]\n", config.harbor);
		return 1;
	}
	/* One malloc arena per four workers.  A worker's own arena grows by an
	 * mprotect per request (glibc ignores M_TOP_PAD there), which was 12%
	 * of starting a service; the main arena grows 1 MiB at a time.  Small
	 * blocks go through glibc's per-thread caches either way. */
	mallopt(M_ARENA_MAX, config.thread / 4 > 1 ? config.thread / 4 : 1);
	config.module_path = skynet_config_string("cpath", "./cservice/?.so");
	config.bootstrap = skynet_config_string("bootstrap", "snlua bootstrap");
	config.daemon = skynet_config_string("daemon", NULL);
	config.logger = skynet_config_string("logger", NULL);
	config.logservice = skynet_config_string("logservice", "logger");
	config.profile = skynet_config_bool("profile", 1);

	return skynet_start(&config);
}
