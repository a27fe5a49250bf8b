/*
 * libFuzzer target for the tensor file parsers (.npy and TensorProto .pb): any byte string must
 * either parse into a tensor that re-serializes and parses back identically, or fail cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "tensor/tensor_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	eml_tensor_file t, back;
	if (eml_tensor_parse(data, size, &t) != EML_OK)
		return 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rcs[2] = {eml_tensor_to_npy(&t, &buf, &len), 0};
	if (rcs[0] == EML_OK) {
		if (eml_tensor_parse(buf, len, &back) != EML_OK || back.bytes != t.bytes ||
		    back.rank != t.rank || back.dtype != t.dtype ||
		    (t.bytes && memcmp(back.data, t.data, t.bytes) != 0))
			abort();
		eml_tensor_file_cleanup(&back);
		eml_free(buf);
	}
	rcs[1] = eml_tensor_to_pb(&t, &buf, &len);
	if (rcs[1] == EML_OK) {
		if (eml_tensor_parse_pb(buf, len, &back) != EML_OK || back.bytes != t.bytes ||
		    (t.bytes && memcmp(back.data, t.data, t.bytes) != 0))
			abort();
		eml_tensor_file_cleanup(&back);
		eml_free(buf);
	}
	eml_tensor_file_cleanup(&t);
	return 0;
}
