/*
 * unit.h -- the tiny assertion kit of the C unit tests.
 * Every check prints one line, "PASS <name>" or "FAIL <name>: <why>";
 * test/run.sh counts those lines across all test programs.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

static int unit_failures;

#define CHECK(cond, name)                                                          \
	do {                                                                           \
		if (cond) {                                                                \
			printf("PASS %s\n", name);                                             \
		} else {                                                                   \
			printf("FAIL %s: %s (%s:%d)\n", name, #cond, __FILE__, __LINE__);      \
			unit_failures++;                                                       \
		}                                                                          \
		fflush(stdout);                                                            \
	} while (0)

#define UNIT_EXIT() return unit_failures ? 1 : 0

#endif
