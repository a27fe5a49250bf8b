#include "onnx/pbc_alloc.h"

#include "common/mem.h"

static void *pbc_alloc(void *ctx, size_t n)
{
	(void)ctx;
	return eml_alloc(n);
}

static void pbc_free(void *ctx, void *p)
{
	(void)ctx;
	eml_free(p);
}

static ProtobufCAllocator eml_pbc = {.alloc = pbc_alloc, .free = pbc_free, .allocator_data = NULL};

ProtobufCAllocator *eml_pbc_allocator(void)
{
	return &eml_pbc;
}
