/*
 * libFuzzer target for CMS EnvelopedData (src/crypto/cms.h): the CiphertextForRecipient KMS returns
 * through the untrusted host (BER, indefinite lengths, constructed chunks). Parsed views must stay
 * inside the input.
 *   seed corpus: fuzz/corpus/cms/ (fuzz/make-corpus), plus the shared vectors' kms_cms inputs
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "crypto/cms.h"
#include "eml/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const uint8_t *v, size_t n, const uint8_t *data, size_t size)
{
	return v == NULL || n == 0 || (v >= data && v + n <= data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	eml_cms_parts p;
	if (eml_cms_parse(data, size, &p) != EML_OK)
		return 0;
	if (!inside(p.enc_key, p.enc_key_len, data, size) || !inside(p.iv, 16, data, size) ||
	    !inside(p.rid_ski, p.rid_ski_len, data, size))
		abort();
	eml_cms_parts_free(&p);
	return 0;
}
