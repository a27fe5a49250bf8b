/*
 * libFuzzer target for the attestation policy parser (src/attest/verify.h, docs/POLICY.md): JSON
 * a user may have been sent by someone else. A relative "root" path is resolved against a folder
 * that does not exist, so the fuzzer cannot make the harness read files it did not mean to.
 *   seed corpus: fuzz/corpus/policy/ (fuzz/make-corpus)
 */
#include <stddef.h>
#include <stdint.h>

#include "attest/verify.h"
#include "eml/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	eml_policy *p = NULL;
	if (eml_policy_parse_json((const char *)data, size, "/nonexistent/eml-fuzz", &p) ==
	    EML_OK) {
		(void)eml_policy_root_is_aws(p);
		eml_policy_free(p);
	}
	return 0;
}
