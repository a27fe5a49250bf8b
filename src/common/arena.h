/*
 * A bump allocator for many small blocks that live and die together (a parsed topology: names,
 * id arrays, nodes, attributes). Blocks are zeroed and 16-byte aligned; chunks of at least the
 * size given to eml_arena_new come from eml_alloc, and eml_arena_free wipes and frees them all
 * at once (eml_free). No per-block free. Not thread-safe.
 */
#ifndef EML_COMMON_ARENA_H
#define EML_COMMON_ARENA_H

#include <stddef.h>

typedef struct eml_arena eml_arena;

/* NULL on allocation failure. */
eml_arena *eml_arena_new(size_t chunk);
/* n * size zeroed bytes (at least 1); NULL on overflow or allocation failure. */
void *eml_arena_calloc(eml_arena *a, size_t n, size_t size);
/* NULL is a no-op. */
void eml_arena_free(eml_arena *a);

#endif
