/* skynet_start.h -- node start-up, threads and shutdown. */
#ifndef SKYNET_START_H
#define SKYNET_START_H

#include "skynet_imp.h"

/* Every service is gone: wake every thread so the node can exit. */
void skynet_start_quit(void);

#endif
