/*
 * libFuzzer target: arbitrary bytes into the ONNX loader (no base folder, so external data is
 * refused without touching the file system). A successful load is also checked and saved, so
 * the fuzzer explores the IR consumers with whatever the loader accepted.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "eml/error.h"
#include "onnx/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	eml_model *m = NULL;
	if (eml_onnx_load_bytes(data, size, NULL, &m) != EML_OK)
		return 0;
	eml_unsupported_op *list = NULL;
	size_t n = 0;
	if (eml_onnx_check(m, &list, &n) == EML_OK)
		eml_onnx_unsupported_free(list, n);
	uint8_t *out = NULL;
	size_t len = 0;
	if (eml_onnx_save(m, &out, &len) == EML_OK)
		eml_free(out);
	eml_model_free(m);
	return 0;
}
