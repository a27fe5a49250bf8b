/*
 * libFuzzer target for the TensorProto (.pb) tensor parser (src/tensor/), the format of the ONNX
 * test data sets. Any byte string must either parse into a tensor that round-trips through both
 * formats, or fail cleanly. Also runs the content-sniffing entry point eml_tensor_parse.
 *   seed corpus: fuzz/corpus/pb/ (fuzz/make-corpus)
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_tensor_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	eml_tensor_file t;
	if (eml_tensor_parse_pb(data, size, &t) == EML_OK) {
		fuzz_tensor_roundtrip(&t);
		eml_tensor_file_cleanup(&t);
	}
	if (eml_tensor_parse(data, size, &t) == EML_OK)
		eml_tensor_file_cleanup(&t);
	return 0;
}
