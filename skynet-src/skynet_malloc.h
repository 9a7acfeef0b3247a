/*
 * skynet_malloc.h -- the allocator every buffer handed to the framework
 * must come from.  Today these map straight to libc; keeping one name for
 * them means per-service C accounting can be interposed later in one place.
 */
#ifndef SKYNET_MALLOC_H
#define SKYNET_MALLOC_H

#include <stddef.h>
#include <stdlib.h>

#define skynet_malloc malloc
#define skynet_calloc calloc
#define skynet_realloc realloc
#define skynet_free free
#define skynet_memalign memalign
#define skynet_aligned_alloc aligned_alloc
#define skynet_posix_memalign posix_memalign

char *skynet_strdup(const char *str);

#endif
