/*
 * libFuzzer target for the request and response plaintext codecs (src/wire/msg.h): what the
 * enclave decodes after opening a client's request (model id, topology key, named input tensors),
 * and what the client decodes after opening a response (outputs, receipt). The first byte picks
 * the codec; a decoded message must re-encode to exactly the input (the codecs are canonical).
 *   seed corpus: fuzz/corpus/plaintext/ (fuzz/make-corpus)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cursor.h"
#include "eml/error.h"
#include "wire/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	eml_buf b;
	eml_buf_init(&b, 0);
	if ((data[0] & 1) == 0) {
		eml_request_pt m;
		if (eml_request_pt_decode(p, n, &m) == EML_OK) {
			for (uint16_t i = 0; i < m.n_inputs; i++)
				if (m.inputs[i].data_len > 0 &&
				    m.inputs[i].data + m.inputs[i].data_len > p + n)
					abort();
			if (eml_request_pt_encode(&b, &m) != EML_OK || b.len != n ||
			    (n && memcmp(b.p, p, n) != 0))
				abort();
			eml_request_pt_cleanup(&m);
		}
	} else {
		eml_response_pt m;
		if (eml_response_pt_decode(p, n, &m) == EML_OK) {
			for (uint16_t i = 0; i < m.n_outputs; i++)
				if (m.outputs[i].data_len > 0 &&
				    m.outputs[i].data + m.outputs[i].data_len > p + n)
					abort();
			if (eml_response_pt_encode(&b, &m) != EML_OK || b.len != n ||
			    (n && memcmp(b.p, p, n) != 0))
				abort();
			eml_response_pt_cleanup(&m);
		}
	}
	eml_buf_cleanup(&b);
	return 0;
}
