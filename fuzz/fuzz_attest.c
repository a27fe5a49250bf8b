/*
 * libFuzzer target for the attestation document parser (CBOR/COSE_Sign1 + Nitro payload
 * checks), the first thing a client runs on bytes from the untrusted host. Also runs the full
 * verifier against the AWS root when the parse succeeds, so chain and signature code see
 * fuzzer-shaped certificates.
 *
 *   cmake -DEML_FUZZ=ON -DCMAKE_C_COMPILER=clang ... && ./fuzz_attest corpus/
 *   seed corpus: the .cbor files in ../shared/vectors/nitro/
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "attest/doc.h"
#include "attest/nsm.h"
#include "attest/verify.h"
#include "common/mem.h"
#include "eml/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static eml_policy *pol;
	eml_attest_doc d;
	if (pol == NULL) {
		static const char pj[] =
		    "{\"root\":\"aws-nitro-g1\",\"allow_debug\":true,"
		    "\"pcrs\":[{\"0\":\"00000000000000000000000000000000000000000"
		    "0000000000000000000000000000000000000000000000000000000\"}]}";
		if (eml_policy_parse_json(pj, sizeof(pj) - 1, NULL, &pol) != EML_OK)
			__builtin_trap();
	}
	if (eml_attest_doc_parse(data, size, &d) == EML_OK) {
		eml_verify_opts o = {.at_document_time = 1};
		(void)eml_attest_verify(data, size, pol, &o, NULL);
	}
	eml_attest_doc_cleanup(&d);
	/* NSM device responses come from a trusted device, but decode them strictly anyway. */
	uint8_t *doc = NULL;
	size_t len = 0;
	if (eml_nsm_resp_attestation(data, size, &doc, &len) == EML_OK)
		eml_free(doc);
	return 0;
}
