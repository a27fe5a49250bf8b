/*
 * libFuzzer target for sealed topology keys (src/kms/sealed.h, docs/KMS.md): the enclave parses
 * them from a client request or the store before asking KMS for the data key. A parsed input is
 * also opened with a fixed data key; nothing the fuzzer writes can authenticate under it.
 *   seed corpus: fuzz/corpus/sealed/ (fuzz/make-corpus, sealed under an all-zero key)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/mem.h"
#include "eml/error.h"
#include "kms/sealed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = {1};
	eml_sealed s;
	if (eml_sealed_parse(data, size, &s) != EML_OK)
		return 0;
	if ((s.kms_blob_len > 0 && s.kms_blob + s.kms_blob_len > data + size) ||
	    (s.ct_len > 0 && s.ct + s.ct_len > data + size))
		abort();
	uint8_t *tk = NULL;
	size_t tkl;
	if (eml_sealed_open(&s, key, &tk, &tkl) == EML_OK)
		eml_free(tk);
	return 0;
}
