/*
 * libFuzzer target for KMS answers (src/kms/kms.h, docs/KMS.md): the HTTP response and the JSON
 * the enclave's (and `eml seal`'s) KMS client reads back. In Nitro these bytes come from KMS over
 * TLS through the host's vsock-proxy; from the local service over loopback. The first byte picks
 * the parser, the rest is the answer:
 *   0: HTTP response (status line, headers, body), then the error mapping of its body;
 *   1: CreateKey answer; 2: GenerateDataKey answer;
 *   3: Decrypt answer without Recipient; 4: Decrypt answer with Recipient (CiphertextForRecipient
 *      opened with the fixed fuzzing key of fuzz_kms_key.h);
 *   5: the KMS_CREDS payload the host hands the enclave (kms/creds.h): what decodes re-encodes to
 *      the same bytes and holds only printable ASCII.
 *   seed corpus: fuzz/corpus/kms/ (fuzz/make-corpus), plus the shared vectors' KMS CMS blobs
 *   wrapped as Decrypt answers (run-time seeds)
 */
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "fuzz_kms_key.h"
#include "kms/creds.h"
#include "kms/kms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_KMS_KEY_ID "arn:aws:kms:us-east-1:111122223333:key/fuzz-0001"

static EVP_PKEY *fuzz_key(void)
{
	static EVP_PKEY *k;
	if (k == NULL) {
		BIO *b = BIO_new_mem_buf(eml_fuzz_kms_rsa_pem, -1);
		k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		if (k == NULL)
			abort();
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > EML_KMS_MAX_RESPONSE)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	int mode = data[0] % 6;
	if (mode == 0) {
		int status = -1;
		char *body = NULL;
		if (eml_kms_http_response_parse(p, n, &status, &body) == EML_OK) {
			/* A parsed body is a C string inside the input; the status three digits. */
			if (body == NULL || status < 0 || status > 999 || strlen(body) > n)
				abort();
			if (eml_kms_error_map(status, body) == EML_OK)
				abort(); /* an error answer never maps to success */
		}
		eml_free(body);
		return 0;
	}
	if (mode == 5) {
		eml_kms_creds *c = eml_alloc(sizeof(*c));
		if (c != NULL && eml_kms_creds_decode(p, n, c) == EML_OK) {
			eml_buf b;
			eml_buf_init(&b, 0);
			if (eml_kms_creds_encode(c, &b) != EML_OK || b.len != n ||
			    memcmp(b.p, p, n) != 0)
				abort();
			for (const char *f = c->session_token; *f; f++)
				if (*f < 0x21 || *f > 0x7e)
					abort();
			eml_buf_cleanup(&b);
		}
		eml_free(c);
		return 0;
	}
	/* The JSON parsers take text (the HTTP layer refuses bodies with a NUL). */
	char *txt = eml_alloc(n + 1);
	if (txt == NULL)
		return 0;
	memcpy(txt, p, n);
	txt[n] = '\0';
	uint8_t dk[EML_KMS_DATA_KEY_LEN];
	switch (mode) {
	case 1: {
		char *kid = NULL;
		if (eml_kms_create_key_parse(txt, &kid) == EML_OK &&
		    (kid == NULL || kid[0] == '\0'))
			abort();
		eml_free(kid);
		break;
	}
	case 2: {
		uint8_t *blob = NULL;
		size_t bl = 0;
		int rc = eml_kms_data_key_parse(txt, dk, &blob, &bl);
		if ((rc == EML_OK) != (blob != NULL && bl > 0))
			abort(); /* a blob exactly when the answer is accepted */
		eml_free(blob);
		break;
	}
	case 3:
		(void)eml_kms_decrypt_parse(txt, FUZZ_KMS_KEY_ID, NULL, dk);
		break;
	case 4:
		(void)eml_kms_decrypt_parse(txt, FUZZ_KMS_KEY_ID, fuzz_key(), dk);
		break;
	}
	eml_wipe(dk, sizeof(dk));
	eml_free(txt);
	return 0;
}
