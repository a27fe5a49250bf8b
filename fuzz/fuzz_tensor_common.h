/*
 * Shared check for fuzz_npy and fuzz_pb: a parsed tensor must re-serialize in both formats and
 * parse back to the same dtype, shape and bytes (the codecs are exact); anything else must fail
 * cleanly. Included by exactly one translation unit per target (static functions only).
 */
#ifndef EML_FUZZ_TENSOR_COMMON_H
#define EML_FUZZ_TENSOR_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "tensor/tensor_io.h"

static void fuzz_tensor_same(const eml_tensor_file *a, const eml_tensor_file *b)
{
	if (a->dtype != b->dtype || a->rank != b->rank || a->bytes != b->bytes)
		abort();
	for (uint32_t i = 0; i < a->rank; i++)
		if (a->dims[i] != b->dims[i])
			abort();
	if (a->bytes && memcmp(a->data, b->data, a->bytes) != 0)
		abort();
}

static void fuzz_tensor_roundtrip(const eml_tensor_file *t)
{
	eml_tensor_file back;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (eml_tensor_to_npy(t, &buf, &len) == EML_OK) {
		if (eml_tensor_parse_npy(buf, len, &back) != EML_OK)
			abort();
		fuzz_tensor_same(t, &back);
		eml_tensor_file_cleanup(&back);
		eml_free(buf);
	}
	buf = NULL;
	if (eml_tensor_to_pb(t, &buf, &len) == EML_OK) {
		if (eml_tensor_parse_pb(buf, len, &back) != EML_OK)
			abort();
		fuzz_tensor_same(t, &back);
		eml_tensor_file_cleanup(&back);
		eml_free(buf);
	}
}

#endif
