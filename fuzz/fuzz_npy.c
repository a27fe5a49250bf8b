/*
 * libFuzzer target for the .npy parser (src/tensor/): a client reads .npy inputs it may have been
 * handed by anyone, and `eml` reads them on the command line. Any byte string must either parse
 * into a tensor that round-trips through both formats, or fail cleanly.
 *   seed corpus: fuzz/corpus/npy/ (fuzz/make-corpus)
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_tensor_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	eml_tensor_file t;
	if (eml_tensor_parse_npy(data, size, &t) != EML_OK)
		return 0;
	fuzz_tensor_roundtrip(&t);
	eml_tensor_file_cleanup(&t);
	return 0;
}
