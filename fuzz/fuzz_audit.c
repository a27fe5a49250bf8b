/*
 * libFuzzer target for audit records, audit logs and inference receipts (src/audit/audit.h,
 * docs/AUDIT.md): bytes an auditor or client reads back from the untrusted host's disk or from a
 * response. The first byte picks the parser:
 *   0: one record (decode, then signature check on what decodes);
 *   1: a whole in-memory log (u32be length | record ...) verified against a policy;
 *   2: a receipt (decode; what decodes wraps a RESPONSE record that decodes on its own);
 *   3: a receipt verified against a policy and fixed hashes.
 *   seed corpus: fuzz/corpus/audit/ (fuzz/make-corpus)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "attest/verify.h"
#include "audit/audit.h"
#include "eml/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static eml_policy *pol;
	if (pol == NULL) {
		static const char pj[] =
		    "{\"root\":\"aws-nitro-g1\",\"allow_debug\":true,"
		    "\"pcrs\":[{\"0\":\"00000000000000000000000000000000000000000"
		    "0000000000000000000000000000000000000000000000000000000\"}]}";
		if (eml_policy_parse_json(pj, sizeof(pj) - 1, NULL, &pol) != EML_OK)
			abort();
	}
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] & 3) {
	case 0: {
		eml_audit_record r;
		if (eml_audit_record_decode(p, n, &r) == EML_OK)
			(void)eml_audit_record_check_sig(p, n, &r);
		break;
	}
	case 1: {
		eml_audit_verify_opts o = {.policy = pol};
		eml_audit_report rep;
		/* Forged logs must never verify: no document chains to the AWS root here. */
		if (eml_audit_verify_mem(p, n, &o, &rep) == EML_OK && rep.records > 0)
			abort();
		break;
	}
	case 2: {
		eml_receipt r;
		eml_audit_record a;
		/* A receipt is a signed RESPONSE record plus a document (docs/AUDIT.md §3). */
		if (eml_receipt_decode(p, n, &r) == EML_OK &&
		    (eml_audit_record_decode(r.record, r.record_len, &a) != EML_OK ||
		     a.event != EML_AEV_RESPONSE || a.seq != r.audit_seq))
			abort();
		break;
	}
	case 3: {
		static const uint8_t h[32];
		eml_receipt r;
		if (eml_receipt_verify(p, n, pol, h, h, &r) == EML_OK)
			abort(); /* same: a forged receipt never verifies */
		break;
	}
	}
	return 0;
}
