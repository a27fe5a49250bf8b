#include "common/arena.h"

#include <stdalign.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"

#define ARENA_ALIGN 16

typedef struct chunk {
	struct chunk *next;
	size_t used, cap;
	alignas(ARENA_ALIGN) unsigned char data[];
} chunk;

struct eml_arena {
	chunk *head;
	size_t chunk_size;
};

eml_arena *eml_arena_new(size_t chunk_size)
{
	eml_arena *a = eml_calloc(1, sizeof(*a));
	if (a != NULL)
		a->chunk_size = chunk_size < 256 ? 256 : chunk_size;
	return a;
}

void *eml_arena_calloc(eml_arena *a, size_t n, size_t size)
{
	size_t bytes;
	if (eml_mul_size(n, size, &bytes) != EML_OK ||
	    eml_add_size(bytes ? bytes : 1, ARENA_ALIGN - 1, &bytes) != EML_OK)
		return NULL;
	bytes &= ~(size_t)(ARENA_ALIGN - 1);
	chunk *c = a->head;
	if (c == NULL || c->cap - c->used < bytes) {
		size_t cap = bytes > a->chunk_size ? bytes : a->chunk_size, total;
		if (eml_add_size(sizeof(chunk), cap, &total) != EML_OK)
			return NULL;
		c = eml_alloc(total);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += bytes;
	memset(p, 0, bytes);
	return p;
}

void eml_arena_free(eml_arena *a)
{
	if (a == NULL)
		return;
	while (a->head != NULL) {
		chunk *c = a->head;
		a->head = c->next;
		eml_free(c); /* wipes */
	}
	eml_free(a);
}
